"""The web UI in a real browser (Debian's Chromium driven by Playwright): open the tokenised
URL like a person would, pick the bunny with two clicks, track both ways, correct one frame,
render with blur and download; the saved prompts replay through the CLI to the same masks.
The UI's masks are compared with reference masks of the bunny (tests/data/bunny_reference/,
checked by eye): IoU ≥ 0.8 on every checked frame; the confidence strip is drawn and "next
weak frame" (N) jumps to a weak frame. A screenshot of the page after tracking is written to
test-artifacts/, and for a frame below the bar a screenshot and an overlay (yellow: the UI's
mask, cyan: the reference). Without the token the
browser gets one line saying what to open; the tokenised URL also works when clicked on a
page of another site."""
from __future__ import annotations

import io
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from editor.cli.main import main
from editor.api.masks import read_label_png
from editor.ui.security import host_allow_list, new_token
from editor.ui.server import UiConfig, create_app
from editor.video.reader import probe
from live_server import free_port, serving

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
REFERENCE = Path(__file__).resolve().parent / "data" / "bunny_reference"
CHECKED = (40, 60, 80, 100, 120, 131)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def server(footage: Path, tmp_path_factory):  # noqa: ANN001, ANN201
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: setup.sh installs it")
        pytest.skip("Chromium is not installed (setup.sh installs it)")
    port = free_port()
    token = new_token()
    app = create_app(UiConfig(footage / "bigbuckbunny.mp4", work_root=tmp_path_factory.mktemp("ui"), token=token,
                              allowed_hosts=host_allow_list("127.0.0.1", port)))
    with serving(app, port) as base:
        yield f"{base}/?token={token}"  # what `trackedit ui` prints


def _wait_job(page, kind: str, timeout_s: float = 120) -> None:  # noqa: ANN001
    try:
        page.wait_for_function(f"document.getElementById('job-status').textContent.startsWith('{kind} done')",
                               timeout=timeout_s * 1000)
    except Exception:
        status = page.inner_text("#job-status")
        error = page.inner_text("#error") if page.locator("#error").is_visible() else ""
        raise AssertionError(f"{kind} job did not finish: status {status!r}, error {error!r}") from None


def _click_video(page, x: float, y: float, button: str = "left") -> None:  # noqa: ANN001
    box = page.locator("#frame").bounding_box()
    page.mouse.click(box["x"] + x * box["width"] / 1280, box["y"] + y * box["height"] / 720, button=button)
    page.wait_for_timeout(300)


def _goto_frame(page, index: int) -> None:  # noqa: ANN001
    page.eval_on_selector("#scrubber", f"(e) => {{ e.value = {index}; e.dispatchEvent(new Event('input')); }}")
    page.wait_for_function(f"document.getElementById('frame-label').textContent.startsWith('frame {index} ')")


def _compare_with_reference(page, masks_zip: Path) -> dict[int, float]:  # noqa: ANN001
    """IoU of the UI's bunny mask with the reference on each checked frame; frames below 0.8
    get a screenshot of the page there and an overlay in test-artifacts/."""
    import cv2

    z = zipfile.ZipFile(masks_zip)
    assert "confidence.json" in z.namelist()  # the confidence travels with the masks
    low = {}
    for f in CHECKED:
        ui = np.array(Image.open(io.BytesIO(z.read(f"{f:05d}.png")))) == 1
        ref = read_label_png(REFERENCE / f"{f:05d}.png") > 0
        iou = float((ui & ref).sum() / max(1, (ui | ref).sum()))
        if iou < 0.8:
            low[f] = round(iou, 3)
            _goto_frame(page, f)
            page.wait_for_timeout(500)
            page.screenshot(path=str(ARTIFACTS / f"ui-bunny-{f:05d}-iou-{iou:.2f}.png"))
            overlay = np.zeros((*ui.shape, 3), np.uint8)
            overlay[ui] = (0, 255, 255)
            overlay[ref] = overlay[ref] // 2 + np.array([127, 127, 0], np.uint8)
            cv2.imwrite(str(ARTIFACTS / f"ui-bunny-{f:05d}-vs-reference.png"), overlay)
    return low


def test_token_flow_in_chromium(server: str) -> None:
    """No token: one line saying what to open, and no API. The printed URL clicked on a page of
    another site (a chat, a notebook) still opens the UI, at the clean address."""
    from playwright.sync_api import sync_playwright

    clean = server.split("?")[0]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        response = page.goto(clean)
        assert response is not None and response.status == 401
        assert page.inner_text("body").strip() == ("Open the URL that trackedit ui printed (it ends in ?token=…) "
                                                    "to use this page.")
        assert page.goto(clean + "api/info").status == 401
        assert page.goto(clean + "?token=wrong").status == 403 and "not this server's" in page.inner_text("body")
        assert page.context.cookies() == []
        page.context.route("http://elsewhere.test/**", lambda route: route.fulfill(
            content_type="text/html", body=f'<a id="open" href="{server}">trackedit</a>'))
        page.goto("http://elsewhere.test/")
        page.click("#open")
        page.wait_for_url(clean)
        page.wait_for_function("document.getElementById('frame').naturalWidth > 0")
        assert page.locator("#error").is_hidden()
        browser.close()


def test_full_loop_in_chromium(server: str, footage: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 950}, accept_downloads=True)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server)  # the tokenised URL: the cookie, then the clean address
        assert page.url == server.split("?")[0]
        [cookie] = page.context.cookies()
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["value"] == server.split("=")[1]
        page.wait_for_function("document.getElementById('frame').naturalWidth > 0")
        assert "Classical backends" in page.inner_text("#banner")
        _goto_frame(page, 40)
        _click_video(page, 480, 380)  # two include clicks on the bunny
        _click_video(page, 470, 500)
        page.click("#track-both")
        _wait_job(page, "track")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "ui-after-tracking.png"))
        # the confidence strip: loaded for the one object, and N goes to a weak frame if any
        page.wait_for_function("state.confidence && state.confidence.objects.length === 1", timeout=30_000)
        weak = page.evaluate("state.confidence.weak")
        assert page.locator("#confidence").is_visible()
        page.keyboard.press("n")
        if weak:
            page.wait_for_function(f"{weak}.includes(state.frame)")
        _goto_frame(page, 100)  # correct one frame, resume forward from it
        _click_video(page, 430, 420)
        page.keyboard.press("Control+z")  # undo the correction and redo it from the keyboard
        page.keyboard.press("Control+Shift+z")
        page.wait_for_timeout(500)
        page.click("#track-forward")
        _wait_job(page, "track")
        page.select_option("#preset", "blur")
        _goto_frame(page, 100)
        page.check("#preview")  # the preset previewed on the current frame
        page.wait_for_function("document.getElementById('frame').src.includes('/preview/100.jpg?preset=blur')"
                               " && document.getElementById('frame').complete"
                               " && document.getElementById('frame').naturalWidth > 0", timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "ui-preview-blur.png"))
        page.uncheck("#preview")
        page.click("#render")
        _wait_job(page, "render")
        with page.expect_download() as dl:
            page.click("#download-video")
        video = tmp_path / "render.mp4"
        dl.value.save_as(video)
        with page.expect_download() as dl:
            page.click("#download-prompts")
        prompts = tmp_path / "prompts.json"
        dl.value.save_as(prompts)
        with page.expect_download() as dl:
            page.click("#download-masks")
        masks_zip = tmp_path / "masks.zip"
        dl.value.save_as(masks_zip)
        assert not errors and page.locator("#error").is_hidden()
        low = _compare_with_reference(page, masks_zip)
        browser.close()
    assert low == {}, f"IoU below 0.8 against the reference (screenshots in test-artifacts/): {low}"
    assert probe(video).frame_count == 132
    assert main(["-q", "track", str(footage / "bigbuckbunny.mp4"), "--prompts", str(prompts),
                 "-o", str(tmp_path / "cli")]) == 0
    z = zipfile.ZipFile(masks_zip)
    same = 0
    for t in range(132):
        ui = np.array(Image.open(io.BytesIO(z.read(f"{t:05d}.png"))))
        cli = read_label_png(tmp_path / "cli" / f"{t:05d}.png")
        assert (ui > 0).any(), t  # the bunny is masked on every frame
        same += int(np.array_equal(ui, cli))
    assert same == 132


def test_closing_the_tab_closes_its_session(tmp_path: Path) -> None:
    """The page says goodbye on ``pagehide``: the server closes the tab's session and removes
    its folder (issue #23: each page load used to hold its frames until the server stopped)."""
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (setup.sh installs it)")
    import time

    from playwright.sync_api import sync_playwright

    from clips import write_clip

    clip = write_clip(tmp_path / "clip.mp4", [np.full((64, 96, 3), 20 * i, np.uint8) for i in range(8)])
    port, token = free_port(), new_token()
    app = create_app(UiConfig(clip, work_root=tmp_path / "ui", token=token,
                              allowed_hosts=host_allow_list("127.0.0.1", port)))
    state = app.state.ui
    with serving(app, port) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.goto(f"{base}/?token={token}")
        page.wait_for_function("document.getElementById('frame').naturalWidth > 0")
        assert len(state.sessions) == 1
        folder = state.root / next(iter(state.sessions))
        assert folder.is_dir()
        page.close(run_before_unload=True)
        deadline = time.monotonic() + 15
        while state.sessions and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not state.sessions and not folder.exists()  # before the server stops (which closes all)
        browser.close()
