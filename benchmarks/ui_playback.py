"""How fast the web UI's server serves frames with their masks for playback:
``python -m benchmarks.ui_playback [--height 720] [--frames 60] [--widths 960 1920] [--json PATH]``.

The page plays a video by asking for each frame due (``GET …/frames/N.jpg?width=W``: the
frame decoded, the masks drawn as the overlay stage draws them, scaled to the display
width, JPEG) and skips the frames it is late for, so the video keeps its rate and the
frames shown per second are what the server can serve. This runs that request sequence
in-process (Starlette's test client: no network) on the bunny clip after one click and
tracking both ways, and prints per display width the wall and CPU milliseconds per frame and
the frames per second that makes, beside the video's 25. CPU time (all threads of the
process) is the figure that holds on a busy machine.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from .inputs import BUNNY_CLICK, make_clip

TOKEN = "bench"
ORIGIN = "http://127.0.0.1:8765"


def measure(height: int, frames: int, widths: list[int]) -> list[dict[str, object]]:
    from starlette.testclient import TestClient

    from editor.ui.server import UiConfig, create_app

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        clip, _ = make_clip(Path(tmp), height, frames)
        app = create_app(UiConfig(clip, work_root=Path(tmp) / "ui", token=TOKEN))
        with TestClient(app, base_url=ORIGIN, headers={"Origin": ORIGIN, "X-Trackedit-Token": TOKEN}) as c:
            s = c.post("/api/sessions", json={}).json()
            base = f"/api/sessions/{s['id']}"
            scale = s["width"] / 1280
            c.post(f"{base}/objects", json={"name": "bunny"})
            c.post(f"{base}/prompts", json={"frame": BUNNY_CLICK[2], "object": 1,
                                            "points": [[BUNNY_CLICK[0] * scale, BUNNY_CLICK[1] * scale]]})
            c.post(f"{base}/track", json={"direction": "both"})
            while c.get(f"{base}/job").json()["state"] == "running":
                time.sleep(0.1)
            for width in widths:
                c.get(f"{base}/frames/0.jpg?width={width}")  # warm: the decoder opened
                wall0, cpu0 = time.perf_counter(), time.process_time()
                size = 0
                for i in range(frames):
                    r = c.get(f"{base}/frames/{i}.jpg?width={width}")
                    assert r.status_code == 200, r.text
                    size += len(r.content)
                wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
                rows.append({"clip": f"bunny {height}p", "display_width": width, "frames": frames,
                             "wall_ms_per_frame": 1000 * wall / frames, "cpu_ms_per_frame": 1000 * cpu / frames,
                             "fps_served": frames / wall, "video_fps": 25, "kib_per_frame": size / frames / 1024})
    return rows


def table(rows: list[dict[str, object]]) -> str:
    lines = ["| clip | display width | frames | wall ms/frame | CPU ms/frame | frames/s served | video fps | KiB/frame |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['clip']} | {r['display_width']} | {r['frames']} | {r['wall_ms_per_frame']:.1f} | "
                     f"{r['cpu_ms_per_frame']:.1f} | {r['fps_served']:.1f} | {r['video_fps']} | "
                     f"{r['kib_per_frame']:.0f} |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ui_playback")
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--widths", type=int, nargs="+", default=[960, 1920])
    ap.add_argument("--json", type=str, default=None, help="also write the rows here")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    rows = measure(args.height, args.frames, args.widths)
    print(table(rows))
    doc = {"rows": rows}
    print(json.dumps(doc))
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
