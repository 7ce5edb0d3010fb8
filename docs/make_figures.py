"""Make the documentation's pictures from the bundled samples (never by hand):

* ``docs/images/before-after.jpg`` — frames 40, 80 and 120 of ``samples/bigbuckbunny.mp4``
  above the same frames after ``trackedit run --preset blur --prompts samples/bunny.json``
  (classical backends, tracked both ways);
* ``docs/images/strip.png`` — the README's picture: one frame of each bundled sample above
  the same frame after trackedit: the bunny blurred (one click, ``samples/bunny.json``),
  the face of ``carphone_pristine.mp4`` found by ``--detect faces`` and pixelated, the van
  and the cyclist of ``bikes.mp4`` (``samples/bikes.json``: one click, one box) tracked and
  shown by the ``overlay`` preset (classical backends);
* ``docs/images/ui.jpg`` — the web UI (``trackedit ui``, Chromium through Playwright) after
  one click on the bunny at frame 40 and "Track both ways".

    python docs/make_figures.py            # both (about a minute or two on 2 cores)
    python docs/make_figures.py --no-ui    # the before/after pictures only
    python docs/make_figures.py --only strip.png

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


def _edit(video: Path, preset: str, out: Path, prompts: Path | None = None, detect: bool = False) -> Path:
    """Run the pipeline on a sample as ``trackedit run`` would (classical backends, CPU)."""
    from editor.api.prompts import load_prompts
    from editor.backends.assembly import BackendChoice
    from editor.detection.options import DetectOptions
    from editor.pipeline.orchestrator import Pipeline, RunRequest
    from editor.pipeline.presets import load_preset

    Pipeline().run(RunRequest(input=video, output=out, preset=load_preset(preset),
                              prompts=load_prompts(prompts) if prompts else None,
                              detect=DetectOptions(detectors=("faces",)) if detect else None,
                              bidirectional=True, backends=BackendChoice("classic", "classic", device="cpu")))
    return out


def _tiles(video: Path, frames: tuple[int, ...], width: int | None = None,
           height: int | None = None) -> list[np.ndarray]:
    """Frames of a video (RGB), each scaled to ``width`` pixels wide or ``height`` high."""
    from editor.video.random_access import FrameSource

    with FrameSource(video) as source:
        tiles = [source[i].image for i in frames]
    h, w = tiles[0].shape[:2]
    size = (width, round(h * width / w)) if width else (round(w * height / h), height)
    return [cv2.resize(t, size, interpolation=cv2.INTER_AREA) for t in tiles]


def _gap(height: int, width: int) -> np.ndarray:
    return np.full((height, width, 3), 255, np.uint8)


def before_after(out: Path) -> Path:
    """Blur the bunny with the pipeline and write the two-row strip to ``out``."""
    with tempfile.TemporaryDirectory() as tmp:
        edited = _edit(VIDEO, "blur", Path(tmp) / "blurred.mp4", prompts=PROMPTS)
        rows = [np.hstack(_tiles(path, FRAMES, WIDTH)) for path in (VIDEO, edited)]
    strip = np.vstack([rows[0], _gap(6, rows[0].shape[1]), rows[1]])
    cv2.imwrite(str(out), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    return out


#: The README's picture, one column each: (sample, frame, preset, prompts, detect faces, caption).
STRIP = (
    ("bigbuckbunny.mp4", 80, "blur", "bunny.json", False, "blur: one click"),
    ("carphone_pristine.mp4", 60, "pixelate", None, True, "pixelate: --detect faces"),
    ("bikes.mp4", 120, "overlay", "bikes.json", False, "overlay: a click and a box"),
)
STRIP_HEIGHT = 216  # each frame in the README's strip


def front_strip(out: Path) -> Path:
    """Run each edit of :data:`STRIP` and write the README's picture to ``out`` (PNG): the
    frames as they are above, edited below, a caption over each column."""
    samples = REPO / "samples"
    columns = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, frame, preset, prompts, detect, caption in STRIP:
            video = samples / name
            edited = _edit(video, preset, Path(tmp) / f"{preset}.mp4",
                           prompts=samples / prompts if prompts else None, detect=detect)
            pair = [_tiles(path, (frame,), height=STRIP_HEIGHT)[0] for path in (video, edited)]
            width = pair[0].shape[1]
            label = _gap(28, width)
            cv2.putText(label, caption, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (20, 20, 20), 1, cv2.LINE_AA)
            columns.append(np.vstack([label, pair[0], _gap(6, width), pair[1]]))
    height = columns[0].shape[0]
    parts = []
    for column in columns:
        parts += [column, _gap(height, 6)]
    cv2.imwrite(str(out), cv2.cvtColor(np.hstack(parts[:-1]), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
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


#: Every picture, by its file name in docs/images/.
FIGURES = {"before-after.jpg": before_after, "strip.png": front_strip, "ui.jpg": ui_screenshot}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-ui", action="store_true", help="skip the web UI screenshot")
    parser.add_argument("--only", choices=sorted(FIGURES), help="make this picture only")
    args = parser.parse_args()
    IMAGES.mkdir(exist_ok=True)
    for name, make in FIGURES.items():
        if (args.only or name) == name and not (args.no_ui and name == "ui.jpg"):
            print(make(IMAGES / name))


if __name__ == "__main__":
    main()
