"""The web UI as a person uses it (issue #26), in Debian's Chromium driven by Playwright:

- a server started without a video: the page offers a file picker; a file that is not a
  video is refused before any upload; the picker opens carphone (real footage) with upload
  progress, in a session named in the address;
- clicks are drawn where they were made, in the object's colour (measured on screenshots),
  a box too, and clicking a marker takes it back;
- tracked, then reloaded, opened in a second tab and in a fresh browser (the cookie kept, as
  a restarted browser keeps it): the same objects, markers and masks (the frame's pixels);
- playback advances at the video's rate with the masks drawn on every frame shown; the
  object's id and confidence show under the pointer;
- settings: a value the form sends is checked as the CLI checks ``--set`` (the same line);
  the blur strength changed in the form changes the render, measured in the rendered files;
  the result plays in the page (its time advances, its size is the video's);
- the layout at 1280×720 and 3840×2160: the frame takes most of the window, text is readable,
  nothing shifts while a job runs (the browser's own layout-shift record).

Screenshots of each step are written to test-artifacts/ (ui-workflow-*.png)."""
from __future__ import annotations

import io
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from editor.cli.main import main
from editor.ui.security import host_allow_list, new_token
from editor.ui.server import UiConfig, create_app
from editor.video.reader import iter_frames, probe
from live_server import free_port, serving
from test_ui_browser import _wait_job
from test_ui_session_state import SquareClip

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"]
FACE = (85, 65)  # samples/carphone_face.json: the face on frame 0


def _chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: setup.sh installs it")
        pytest.skip("Chromium is not installed (setup.sh installs it)")
    return CHROMIUM


def _shot(page, name: str) -> np.ndarray:  # noqa: ANN001
    ARTIFACTS.mkdir(exist_ok=True)
    data = page.screenshot(path=str(ARTIFACTS / f"ui-workflow-{name}.png"))
    return np.array(Image.open(io.BytesIO(data)).convert("RGB"))


def _to_screen(page, x: float, y: float, size: tuple[int, int]) -> tuple[float, float]:  # noqa: ANN001
    box = page.locator("#frame").bounding_box()
    return box["x"] + x * box["width"] / size[0], box["y"] + y * box["height"] / size[1]


def _frame_loaded(page) -> None:  # noqa: ANN001
    page.wait_for_function("document.getElementById('frame').complete && document.getElementById('frame').naturalWidth > 0"
                           " && !document.getElementById('frame').src.startsWith('blob:')")
    page.wait_for_timeout(300)


def _goto(page, index: int) -> None:  # noqa: ANN001
    page.eval_on_selector("#scrubber", f"(e) => {{ e.value = {index}; e.dispatchEvent(new Event('input')); }}")
    page.wait_for_function(f"document.getElementById('frame-label').textContent.startsWith('frame {index} ')")
    _frame_loaded(page)


def _markers(page) -> list[dict]:  # noqa: ANN001
    page.wait_for_timeout(300)
    return page.eval_on_selector_all("#markers g.marker", """gs => gs.map(g => {
        const r = g.getBoundingClientRect();
        return {kind: g.dataset.kind, object: Number(g.dataset.object), x: r.x + r.width / 2, y: r.y + r.height / 2,
                left: r.left, top: r.top, right: r.right, bottom: r.bottom};
    })""")


def _labels(page, index: int) -> np.ndarray:  # noqa: ANN001
    """The label map the server holds for frame ``index`` (as the page fetches it)."""
    data = page.evaluate(f"""async () => {{
        const r = await fetch(`${{base()}}/labels/{index}.png`);
        return Array.from(new Uint8Array(await r.arrayBuffer()));
    }}""")
    return np.array(Image.open(io.BytesIO(bytes(data))))


def _frame_pixels(page) -> np.ndarray:  # noqa: ANN001
    return np.array(Image.open(io.BytesIO(page.locator("#frame").screenshot())).convert("RGB")).astype(float)


@pytest.fixture(scope="module")
def empty_server(tmp_path_factory):  # noqa: ANN001, ANN201
    """`trackedit ui` without a video."""
    _chromium()
    port, token = free_port(), new_token()
    root = tmp_path_factory.mktemp("ui")
    app = create_app(UiConfig(None, work_root=root, token=token, allowed_hosts=host_allow_list("127.0.0.1", port)))
    with serving(app, port) as base:
        yield f"{base}/?token={token}", app.state.ui


def test_open_click_reload_play(empty_server, footage: Path, tmp_path: Path) -> None:  # noqa: ANN001
    from playwright.sync_api import sync_playwright

    url, ui_state = empty_server
    video = footage / "carphone_pristine.mp4"
    size = (176, 144)
    frames = [f.image for f in iter_frames(video)]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 720})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        page.wait_for_selector("#open-panel:not([hidden])")
        _shot(page, "1-open")
        # not a video: refused in the page, nothing uploaded
        notes = tmp_path / "notes.txt"
        notes.write_text("not a video")
        page.set_input_files("#file-empty", str(notes))
        page.wait_for_selector("#error:not([hidden])")
        assert page.inner_text("#error").startswith("notes.txt: not a video file type")
        assert not ui_state.uploads
        # the file picker opens the video: upload with progress, then a session in the address
        page.evaluate("""() => { window.uploadSeen = []; new MutationObserver(() => window.uploadSeen.push(
            document.getElementById('upload-label').textContent)).observe(document.getElementById('upload-label'),
            {childList: true, characterData: true, subtree: true}); }""")
        page.set_input_files("#file-empty", str(video))
        _frame_loaded(page)
        assert "Uploading carphone_pristine.mp4" in " ".join(page.evaluate("window.uploadSeen"))
        assert page.inner_text("#video-name") == "carphone_pristine.mp4"
        assert "#s=" in page.url and page.locator("#error").is_hidden()
        sid = page.url.split("#s=")[1]
        assert list(ui_state.sessions) == [sid]
        assert page.inner_text("#frame-label").startswith("frame 0 / 119")
        # an include click on the face, an exclude click on the window: drawn where clicked
        fx, fy = _to_screen(page, *FACE, size)
        page.mouse.click(fx, fy)
        ex, ey = _to_screen(page, 160, 20, size)
        page.mouse.click(ex, ey, button="right")
        page.wait_for_function("document.querySelectorAll('#markers g.marker').length === 2")
        marks = _markers(page)
        assert [m["kind"] for m in marks] == ["include", "exclude"]
        assert abs(marks[0]["x"] - fx) < 2 and abs(marks[0]["y"] - fy) < 2
        assert abs(marks[1]["x"] - ex) < 2 and abs(marks[1]["y"] - ey) < 2
        shot = _shot(page, "2-markers")
        colour = np.array(page.evaluate("state.objects[0].color"), float)
        # the include marker is filled with the object's colour (a pixel between its white cross and ring)
        assert np.abs(shot[round(fy) - 3, round(fx) + 3] - colour).max() < 40, shot[round(fy) - 3, round(fx) + 3]
        # a box for a second object, drawn where dragged; clicking a marker takes it back
        page.click("#add-object")
        bx0, by0 = _to_screen(page, 20, 90, size)
        bx1, by1 = _to_screen(page, 60, 130, size)
        page.mouse.move(bx0, by0)
        page.mouse.down()
        page.mouse.move((bx0 + bx1) / 2, (by0 + by1) / 2, steps=4)
        page.mouse.move(bx1, by1, steps=4)
        page.mouse.up()
        page.wait_for_function("document.querySelectorAll('#markers g.marker').length === 3")
        [box] = [m for m in _markers(page) if m["kind"] == "box"]
        assert box["object"] == 2 and abs(box["left"] - bx0) < 3 and abs(box["bottom"] - by1) < 3
        _shot(page, "3-box")
        page.mouse.click(box["x"], box["y"])  # the box taken back
        page.wait_for_function("document.querySelectorAll('#markers g.marker').length === 2")
        page.mouse.click(ex, ey)  # the exclude click taken back
        page.wait_for_function("document.querySelectorAll('#markers g.marker').length === 1")
        page.locator("#objects li", has_text="").nth(1).locator("button", has_text="✕").click()  # object 2 deleted
        page.wait_for_function("state.objects.length === 1")
        s = ui_state.sessions[sid].session
        assert [(o.id, len(o.prompts)) for o in s.prompt_set().objects] == [(1, 1)]
        # track, then the same state after a reload, in a second tab and in a fresh browser
        page.evaluate("""() => { window.eta = []; new MutationObserver(() => window.eta.push(
            [performance.now(), document.getElementById('job-eta').textContent])).observe(
            document.getElementById('job-eta'), {childList: true, characterData: true, subtree: true}); }""")
        clicked = page.evaluate("performance.now()")
        page.click("#track-both")
        _wait_job(page, "track")
        eta = page.evaluate("window.eta")
        assert eta[0][0] - clicked < 1000  # something from the first second
        assert any(re.search(r"about \d+ s left", text) for _, text in eta), eta  # then the time left
        _goto(page, 60)
        before = _frame_pixels(page)
        labels = _labels(page, 60)
        assert (labels == 1).sum() > 500  # the face is tracked to frame 60
        _shot(page, "4-tracked")
        page.reload()
        page.wait_for_function("state.ready && state.objects.length === 1")
        assert page.url.endswith(f"#s={sid}") and page.input_value("#objects li input") == "object 1"
        assert [m["kind"] for m in _markers(page)] == ["include"]  # frame 0: the click
        _goto(page, 60)
        assert np.abs(_frame_pixels(page) - before).mean() < 1  # the same masks, drawn the same
        assert np.array_equal(_labels(page, 60), labels)
        _shot(page, "5-reloaded")
        second = context.new_page()
        second.goto(url.split("?")[0] + f"#s={sid}")
        second.wait_for_function("state.ready && state.objects.length === 1 && state.confidence !== null")
        assert second.input_value("#objects li input") == "object 1"
        second.close()
        cookies = context.storage_state()
        fresh = browser.new_context(viewport={"width": 1280, "height": 720}, storage_state=cookies)
        again = fresh.new_page()
        again.goto(url.split("?")[0] + f"#s={sid}")
        again.wait_for_function("state.ready && state.objects.length === 1")
        _goto(again, 60)
        assert np.abs(_frame_pixels(again) - before).mean() < 1
        fresh.close()
        assert list(ui_state.sessions) == [sid]  # no tab's goodbye closed a session with work
        # playback at the video's rate, with the masks drawn on every frame shown
        _goto(page, 0)
        page.evaluate("""() => { window.shown = []; new MutationObserver(() => window.shown.push(
            [performance.now(), state.frame, document.getElementById('frame').src])).observe(
            document.getElementById('frame'), {attributes: true, attributeFilter: ['src']}); }""")
        requested: list[str] = []
        page.on("request", lambda r: requested.append(r.url) if "/frames/" in r.url else None)
        page.keyboard.press("Space")
        page.wait_for_timeout(2500)
        page.keyboard.press("Space")
        shown = page.evaluate("window.shown.filter(s => s[2].startsWith('blob:'))")
        assert len(shown) >= 10, shown
        indices = [s[1] for s in shown]
        assert indices == sorted(indices) and indices[-1] > indices[0]
        rate = (indices[-1] - indices[0]) / ((shown[-1][0] - shown[0][0]) / 1000)
        assert 0.8 * 29.97 < rate < 1.25 * 29.97, rate  # frames late are skipped: the video's rate
        assert len(requested) >= len(shown)  # every frame shown came from the frames endpoint (with masks)
        _frame_loaded(page)
        at = page.evaluate("state.frame")
        assert at > 30
        # a loop range: I at 10, O at 20, played: every frame shown is in the range, and it wraps
        _goto(page, 10)
        page.keyboard.press("i")
        _goto(page, 20)
        page.keyboard.press("o")
        assert page.is_checked("#loop")
        page.evaluate("window.shown = []")
        page.keyboard.press("Space")
        page.wait_for_timeout(1500)
        page.keyboard.press("Space")
        looped = [s[1] for s in page.evaluate("window.shown.filter(s => s[2].startsWith('blob:'))")]
        assert looped and all(10 <= f <= 20 for f in looped), looped
        assert any(b < a for a, b in zip(looped, looped[1:])), looped  # went round
        page.keyboard.press("l")
        _goto(page, at)
        shown_pixels = _frame_pixels(page)
        mask = _labels(page, at) == 1
        small = np.array(Image.fromarray(frames[at]).resize(shown_pixels.shape[1::-1], Image.BILINEAR), float)
        big_mask = np.array(Image.fromarray(mask.astype(np.uint8) * 255).resize(shown_pixels.shape[1::-1]), bool)
        inside = np.abs(shown_pixels[big_mask] - small[big_mask]).mean()
        outside = np.abs(shown_pixels[~big_mask] - small[~big_mask]).mean()
        assert inside > 3 * outside and inside > 15, (inside, outside)  # the mask tinted, the rest the video
        _shot(page, "6-played")
        # the object under the pointer: its name, id and confidence
        ys, xs = np.nonzero(mask)
        cx, cy = _to_screen(page, float(np.median(xs)), float(np.median(ys)), size)
        page.mouse.move(cx - 3, cy - 3)
        page.mouse.move(cx, cy)
        page.wait_for_selector("#hover:not([hidden])")
        tip = page.inner_text("#hover")
        conf = page.evaluate(f"state.confidence.objects[0].confidence[{at}]")
        assert tip == f"object 1 · id 1 · confidence {conf:.2f}", tip
        _shot(page, "7-hover")
        # a second video from the recent videos: a new session, the first one kept
        assert page.locator("#recent option").all_inner_texts()[1].startswith("carphone_pristine.mp4 · ")
        page.select_option("#recent", index=1)
        page.wait_for_function(f"!location.hash.endsWith('{sid}') && state.ready && state.objects.length === 0")
        _frame_loaded(page)
        assert len(ui_state.sessions) == 2 and sid in ui_state.sessions
        assert not errors, errors
        # leaving while a click is still on its way to the server warns
        page.route("**/prompts", lambda route: None)  # the request never answers
        page.mouse.click(fx, fy)
        page.wait_for_function("state.pending > 0")
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.type), d.accept()))
        keeper = context.new_page()  # Playwright delivers the dialog while it waits on a page
        page.close(run_before_unload=True)
        for _ in range(50):
            if dialogs:
                break
            keeper.wait_for_timeout(100)
        assert dialogs == ["beforeunload"]
        browser.close()


SQUARE = SquareClip(w=320, h=180, n=12, side=60, x0=60, y0=60, step=5)


def test_settings_render_result_and_layout(tmp_path: Path, footage: Path, capsys) -> None:  # noqa: ANN001
    from playwright.sync_api import sync_playwright

    clip = SQUARE.write(tmp_path / "square.mp4")
    port, token = free_port(), new_token()
    app = create_app(UiConfig(clip, work_root=tmp_path / "ui", token=token, max_upload_bytes=300_000,
                              allowed_hosts=host_allow_list("127.0.0.1", port)))
    with serving(app, port) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 720}, accept_downloads=True)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/?token={token}")
        _frame_loaded(page)
        # the frame takes most of the window; text readable; no layout shift while working
        page.evaluate("""() => { window.shifts = 0; new PerformanceObserver((list) => { for (const e of list.getEntries())
            if (!e.hadRecentInput) window.shifts += e.value; }).observe({type: 'layout-shift', buffered: false}); }""")
        area = page.locator("#stage-area").bounding_box()
        assert area["width"] * area["height"] > 0.6 * 1280 * 720, area
        stage = page.locator("#stage").bounding_box()
        assert stage["width"] >= area["width"] - 2 or stage["height"] >= area["height"] - 2  # fills one way
        assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= 14
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth && "
                             "document.documentElement.scrollHeight <= innerHeight")
        assert page.locator(".shortcuts").is_visible() and "play / pause" in page.inner_text(".shortcuts")
        page.mouse.move(*_to_screen(page, 62, 62, (320, 180)))
        page.mouse.down()
        page.mouse.move(*_to_screen(page, 100, 100, (320, 180)), steps=3)
        page.mouse.move(*_to_screen(page, 118, 118, (320, 180)), steps=3)
        page.mouse.up()
        page.wait_for_function("document.querySelectorAll('#markers g.marker').length === 1")
        page.click("#track-forward")
        # progress within a second of starting, with the time elapsed
        page.wait_for_function("/\\d+\\.\\d s/.test(document.getElementById('job-eta').textContent)", timeout=1000)
        _wait_job(page, "track")
        # the form says what a field means in the page, and the shape is the redaction's
        assert "0 = automatic" in page.inner_text("#help-blur\\.sigma")
        assert page.inner_text("label[for='opt-blur.shape']") == "Redaction shape"
        # a value is checked as it is typed, by the CLI's rules (the CLI refuses it too), and
        # said in the page's words next to the field; Render waits; the preview keeps its frame
        page.check("#preview")
        page.wait_for_function("document.getElementById('frame').src.includes('/preview/')"
                               " && document.getElementById('frame').complete"
                               " && document.getElementById('busy').hidden", timeout=60_000)
        good = page.get_attribute("#frame", "src")
        assert main(["run", str(clip), "--preset", "blur", "--masks", str(tmp_path), "-o", str(tmp_path / "x.mp4"),
                     "--set", "blur.sigma=-5"]) == 1
        assert "blur.sigma=-5: sigma: Input should be greater than or equal to 0" in capsys.readouterr().err
        page.fill("#opt-blur\\.sigma", "-5")
        page.wait_for_function("document.getElementById('help-blur.sigma').textContent === 'Sigma must be ≥ 0'")
        assert "invalid" in page.get_attribute("#opt-blur\\.sigma", "class")
        assert page.is_disabled("#render")
        page.wait_for_function("!document.getElementById('busy').hidden && "
                               "document.getElementById('busy').textContent === 'no preview: Sigma must be ≥ 0'")
        assert page.get_attribute("#frame", "src") == good
        assert page.evaluate("document.getElementById('frame').naturalWidth") > 0  # a frame, not a broken image
        assert page.locator("#error").is_hidden()
        _shot(page, "8-setting-refused")
        page.uncheck("#preview")
        page.fill("#opt-blur\\.sigma", "0")
        page.wait_for_function("!document.getElementById('render').disabled")
        assert "invalid" not in (page.get_attribute("#opt-blur\\.sigma", "class") or "")
        assert "0 = automatic" in page.inner_text("#help-blur\\.sigma")
        renders = {}
        for sigma in (1, 40):
            page.fill("#opt-blur\\.sigma", str(sigma))
            page.fill("#crf", "8")
            page.click("#render")
            page.wait_for_function("/^render running|^render done/.test(document.getElementById('job-status').textContent)",
                                   timeout=1000)
            _wait_job(page, "render")
            page.wait_for_selector("#result-panel:not([hidden])")
            # the result plays in the page
            page.wait_for_function("document.getElementById('result').currentTime > 0.15", timeout=20_000)
            assert page.evaluate("[document.getElementById('result').videoWidth, "
                                 "document.getElementById('result').videoHeight]") == [320, 180]
            # the counter shows the result's time while it plays, not the edited frame
            page.wait_for_function("/^result \\d+\\.\\d\\d \\/ \\d+\\.\\d\\d s$/"
                                   ".test(document.getElementById('frame-label').textContent)")
            _shot(page, f"9-result-sigma-{sigma}")
            assert page.locator("#result-panel a").count() == 0  # one set of downloads: the sidebar's
            with page.expect_download() as dl:
                page.click("#download-video")
            renders[sigma] = tmp_path / f"sigma{sigma}.mp4"
            dl.value.save_as(renders[sigma])
            page.click("#close-result")
            assert page.inner_text("#frame-label").startswith("frame ")
        # a preview says what it does from its first moments (remove reads its window of frames)
        page.evaluate("""() => { window.busy = []; new MutationObserver(() => window.busy.push(
            document.getElementById('busy').textContent)).observe(document.getElementById('busy'),
            {childList: true, characterData: true, subtree: true}); }""")
        page.select_option("#preset", "remove")
        assert page.input_value("#opt-remove\\.window") == "10"
        page.fill("#opt-remove\\.window", "4")
        page.check("#preview")
        page.wait_for_function("document.getElementById('frame').src.includes('set=remove.window%3D4')"
                               " && document.getElementById('frame').complete"
                               " && document.getElementById('busy').hidden", timeout=60_000)
        busy = page.evaluate("window.busy")
        assert busy and busy[0] == f"preview of frame {page.evaluate('state.frame')}: starting", busy
        _shot(page, "9-preview-remove")
        page.uncheck("#preview")
        page.select_option("#preset", "blur")
        assert page.evaluate("window.shifts") == 0  # nothing moved while tracking, rendering, previewing
        assert not errors, errors
        # a file over the server's upload limit is refused in the page, before any upload
        page.set_input_files("#file", str(footage / "carphone_pristine.mp4"))
        page.wait_for_selector("#error:not([hidden])")
        assert page.inner_text("#error") == "carphone_pristine.mp4: too large (576 KiB; the limit is 293 KiB)"
        assert not app.state.ui.uploads
        # a video dropped on the page opens in a new session
        first = page.evaluate("state.sid")
        payload = list(clip.read_bytes())
        page.evaluate("""(bytes) => {
            const dt = new DataTransfer();
            dt.items.add(new File([new Uint8Array(bytes)], 'dropped.mp4', {type: 'video/mp4'}));
            window.dropped = dt;
            window.dispatchEvent(new DragEvent('dragenter', {dataTransfer: dt, bubbles: true}));
        }""", payload)
        assert page.locator("#drop").is_visible()
        _shot(page, "10-drop")
        page.evaluate("window.dispatchEvent(new DragEvent('drop', {dataTransfer: window.dropped, bubbles: true}))")
        page.wait_for_function(f"state.ready && state.sid !== '{first}'")
        assert page.inner_text("#video-name") == "dropped.mp4" and page.locator("#drop").is_hidden()
        assert len(app.state.ui.uploads) == 1 and first in app.state.ui.sessions
        # 4K: the same page, larger text, the frame still most of the window
        page.set_viewport_size({"width": 3840, "height": 2160})
        page.wait_for_timeout(500)
        assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= 22
        area = page.locator("#stage-area").bounding_box()
        assert area["width"] * area["height"] > 0.6 * 3840 * 2160
        _shot(page, "11-4k")
        browser.close()
    for path in renders.values():
        assert probe(path).frame_count == 12
    source, weak, strong = (SQUARE.detail(v, True) for v in (clip, renders[1], renders[40]))
    assert strong < 0.3 * weak and weak < source, (source, weak, strong)
    assert abs(SQUARE.detail(renders[1], False) - SQUARE.detail(renders[40], False)) < 1
