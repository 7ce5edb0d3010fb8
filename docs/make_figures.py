"""Make the documentation's pictures from the bundled samples (never by hand):

* ``docs/images/before-after.jpg`` — frames 40, 80 and 120 of ``samples/bigbuckbunny.mp4``
  above the same frames after ``trackedit run --preset blur --prompts samples/bunny.json``
  (classical backends, tracked both ways);
* ``docs/images/ui.jpg`` — the web UI (``trackedit ui``, Chromium through Playwright) after
  one click on the bunny at frame 40 and "Track both ways".

    python docs/make_figures.py            # both (about a minute or two on 2 cores)
    python docs/make_figures.py --no-ui    # the before/after strip only

Needs the samples (``samples/make_samples.py``) and, for the UI picture, Chromium and the
``playwright`` package (the test extra).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO / "docs" / "images"
VIDEO = REPO / "samples" / "bigbuckbunny.mp4"
PROMPTS = REPO / "samples" / "bunny.json"
FRAMES = (40, 80, 120)
WIDTH = 426  # each frame in the strip


def before_after(out: Path) -> Path:
    """Blur the bunny with the pipeline and write the two-row strip to ``out``."""
    from editor.api.prompts import load_prompts
    from editor.backends.assembly import BackendChoice
    from editor.pipeline.orchestrator import Pipeline, RunRequest
    from editor.pipeline.presets import load_preset
    from editor.video.random_access import FrameSource

    with tempfile.TemporaryDirectory() as tmp:
        edited = Path(tmp) / "blurred.mp4"
        Pipeline().run(RunRequest(input=VIDEO, output=edited, preset=load_preset("blur"),
                                  prompts=load_prompts(PROMPTS), bidirectional=True,
                                  backends=BackendChoice("classic", "classic", device="cpu")))
        rows = []
        for path in (VIDEO, edited):
            with FrameSource(path) as source:
                tiles = [source[i].image for i in FRAMES]
            height = round(tiles[0].shape[0] * WIDTH / tiles[0].shape[1])
            rows.append(np.hstack([cv2.resize(t, (WIDTH, height), interpolation=cv2.INTER_AREA) for t in tiles]))
    strip = np.vstack([rows[0], np.full((6, rows[0].shape[1], 3), 255, np.uint8), rows[1]])
    cv2.imwrite(str(out), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    return out


def ui_screenshot(out: Path, port: int = 8797) -> Path:
    """Start ``trackedit ui`` on the sample, click the bunny, track, and screenshot the page."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("make_figures: Chromium is not installed (setup.sh installs it)")
    trackedit = Path(sys.executable).with_name("trackedit")
    server = subprocess.Popen([str(trackedit), "ui", str(VIDEO), "--port", str(port), "--no-token",
                               "--segmenter", "classic", "--tracker", "classic", "--device", "cpu"])
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url, timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1500, "height": 950})
            page.goto(url)
            page.wait_for_function("document.getElementById('frame').naturalWidth > 0")
            page.eval_on_selector("#scrubber", "(e) => { e.value = 40; e.dispatchEvent(new Event('input')); }")
            page.wait_for_function("document.getElementById('frame-label').textContent.startsWith('frame 40 ')")
            box = page.locator("#frame").bounding_box()
            page.mouse.click(box["x"] + 480 * box["width"] / 1280, box["y"] + 380 * box["height"] / 720)
            page.wait_for_timeout(500)
            page.click("#track-both")
            page.wait_for_function("document.getElementById('job-status').textContent.startsWith('track done')",
                                   timeout=300_000)
            page.wait_for_timeout(500)
            page.screenshot(path=str(out), type="jpeg", quality=80)
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-ui", action="store_true", help="skip the web UI screenshot")
    args = parser.parse_args()
    IMAGES.mkdir(exist_ok=True)
    print(before_after(IMAGES / "before-after.jpg"))
    if not args.no_ui:
        print(ui_screenshot(IMAGES / "ui.jpg"))


if __name__ == "__main__":
    main()
