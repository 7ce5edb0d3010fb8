"""Two things taken from SAM 2's web demo and Track-Anything (docs/ui-comparison.md), in
Chromium on carphone:

- each object's lane under the timeline (SAM 2's tracklet swimlanes): a solid line on the
  frames where the object has a mask — read back from the canvas's pixels and compared with
  the server's tracked states — growing while tracking runs (paused half-way it shows
  exactly what was tracked so far), dots on its prompted frames; a click on a lane goes to
  that frame and selects that object;
- per-object show/hide (Track-Anything's mask selection): a hidden object's mask is not
  drawn on the frame (the pixels are the video's own there), its markers go, the others
  stay; shown again, it is drawn as before; H toggles the selected object.

Screenshots in test-artifacts/ui-workflow-lanes-*.png."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from editor.ui.security import host_allow_list, new_token
from editor.ui.server import UiConfig, create_app
from editor.video.reader import iter_frames
from live_server import free_port, serving
from test_ui_workflow import ARGS, FACE, _chromium, _frame_loaded, _frame_pixels, _goto, _labels, _markers, _shot, \
    _to_screen

pytestmark = pytest.mark.slow
MASKED = {"prompt", "interpolated", "tracked", "found", "held"}
SIZE = (176, 144)
LANE = """(id) => {  // per frame: whether the object's lane is solid there (canvas pixels, above the lane's centre)
    const cv = document.getElementById('lanes'), ctx = cv.getContext('2d');
    const row = state.objects.findIndex((o) => o.id === id), rh = laneHeight(), n = state.frames, w = cv.width;
    const out = [];
    for (let f = 0; f < n; f++) {
        const x0 = Math.floor(f * w / n), x1 = Math.floor((f + 1) * w / n);
        out.push(ctx.getImageData(Math.floor((x0 + Math.max(x0 + 1, x1)) / 2), row * rh + 2, 1, 1).data[3] > 0);
    }
    return out;
}"""


def _truth(session, oid: int) -> list[bool]:  # noqa: ANN001
    return [session.states(f).get(oid) in MASKED for f in range(session.frame_count)]


def _same_lane(page, session, oid: int) -> None:  # noqa: ANN001
    """Wait until the lane of ``oid`` shows what the server holds (the playhead's and the
    prompted frames' columns left out: drawn over)."""
    skip = {page.evaluate("state.frame"), *page.evaluate(f"state.objects.find(o => o.id === {oid}).prompt_frames")}
    want = [v for f, v in enumerate(_truth(session, oid)) if f not in skip]
    page.wait_for_function(f"""([want, skip]) => ({LANE})({oid}).filter((v, f) => !skip.includes(f))
        .every((v, k) => v === want[k])""", arg=[want, sorted(skip)], timeout=10_000)


def test_lanes_and_hiding_in_chromium(footage: Path) -> None:
    from playwright.sync_api import sync_playwright

    chromium = _chromium()
    video = footage / "carphone_pristine.mp4"
    frames = [f.image for f in iter_frames(video)]
    port, token = free_port(), new_token()
    app = create_app(UiConfig(video, work_root=None, token=token, allowed_hosts=host_allow_list("127.0.0.1", port)))
    with serving(app, port) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/?token={token}")
        _frame_loaded(page)
        session = next(iter(app.state.ui.sessions.values())).session
        # object 1: a click on the face; object 2: a box on the window, both on frame 60
        _goto(page, 60)
        page.mouse.click(*_to_screen(page, *FACE, SIZE))
        page.wait_for_function("document.querySelectorAll('#markers g.marker').length === 1")
        page.click("#add-object")
        page.wait_for_function("state.objects.length === 2")
        page.mouse.move(*_to_screen(page, 128, 4, SIZE))
        page.mouse.down()
        page.mouse.move(*_to_screen(page, 150, 25, SIZE), steps=4)
        page.mouse.move(*_to_screen(page, 172, 48, SIZE), steps=4)
        page.mouse.up()
        page.wait_for_function("document.querySelectorAll('#markers g.marker').length === 2")
        _frame_loaded(page)
        labels = _labels(page, 60)
        window = labels == 2
        assert window.sum() > 300 and (labels == 1).sum() > 300
        both = _frame_pixels(page)
        raw = np.array(Image.fromarray(frames[60]).resize(both.shape[1::-1], Image.BILINEAR), float)
        big = np.array(Image.fromarray(window.astype(np.uint8) * 255).resize(both.shape[1::-1]), bool)
        face = np.array(Image.fromarray((labels == 1).astype(np.uint8) * 255).resize(both.shape[1::-1]), bool)
        assert np.abs(both[big] - raw[big]).mean() > 15  # the window's mask is drawn
        # hide object 2: its mask and its box go, object 1 stays
        page.locator("#objects li").nth(1).locator("button.eye").click()
        page.wait_for_function("document.querySelectorAll('#markers g.marker').length === 1")
        _frame_loaded(page)
        assert [m["object"] for m in _markers(page)] == [1]
        hidden = _frame_pixels(page)
        assert np.abs(hidden[big] - raw[big]).mean() < 6, np.abs(hidden[big] - raw[big]).mean()  # the video's own
        assert np.abs(hidden[face] - both[face]).mean() < 2  # the face still drawn as before
        assert "off" in page.get_attribute("#objects li:nth-child(2) button.eye", "class")
        _shot(page, "lanes-1-hidden")
        # H on the selected object (2) shows it again: drawn as before
        page.locator("#frame-label").click()  # the keys go to the page, not a field
        page.keyboard.press("h")
        page.wait_for_function("document.querySelectorAll('#markers g.marker').length === 2")
        _frame_loaded(page)
        assert np.abs(_frame_pixels(page) - both).mean() < 1
        # the lanes grow while tracking runs: paused half-way, they show what was tracked so far
        assert page.evaluate(f"({LANE})(1)").count(True) <= 2  # nothing tracked yet: the prompted frame
        page.click("#track-both")
        page.wait_for_function(f"document.getElementById('job-status').textContent.startsWith('track running')"
                               f" && ({LANE})(1).filter(Boolean).length >= 6", timeout=60_000)
        page.click("#pause")
        page.wait_for_function("document.getElementById('job-status').textContent.startsWith('track paused')")
        so_far = _truth(session, 1)
        assert 6 <= sum(so_far) < len(so_far), sum(so_far)
        _same_lane(page, session, 1)
        _same_lane(page, session, 2)
        _shot(page, "lanes-2-paused")
        # tracked on to the end both ways: every frame with a mask is on the lane
        _goto(page, 60)
        page.click("#track-both")
        page.wait_for_function("document.getElementById('job-status').textContent.startsWith('track done')",
                               timeout=120_000)
        assert sum(_truth(session, 1)) > 100
        _same_lane(page, session, 1)
        _same_lane(page, session, 2)
        lane = page.evaluate(f"({LANE})(1)")
        assert lane[5] and lane[110]  # before and after the prompted frame
        _shot(page, "lanes-3-tracked")
        # a click on object 2's lane at frame 100: that frame, that object selected
        page.evaluate("state.selected = 1; renderObjects()")
        box = page.locator("#lanes").bounding_box()
        rh = page.evaluate("laneHeight()")
        page.mouse.click(box["x"] + (100.5 / 120) * box["width"], box["y"] + 1.5 * rh)
        page.wait_for_function("state.frame === 100 && state.selected === 2")
        _frame_loaded(page)
        assert not errors, errors
        browser.close()
