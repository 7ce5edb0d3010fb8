"""Hostile inputs (issue #23): each is refused with one line, exit status 1, nothing written
outside the output folder and bounded peak memory, measured in the child process itself."""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from clips import write_clip

from editor.api.names import printable, safe_name

#: Runs ``trackedit ARGS`` and reports the child's own peak RSS on stderr's last line.
_WRAP = ("import resource, sys\n"
         "from editor.cli.main import main\n"
         "rc = main(sys.argv[1:])\n"
         "sys.stderr.write('\\nPEAK_RSS_KB %d\\n' % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
         "sys.exit(rc)\n")
#: What a refused input may cost beyond a successful run on a tiny clip (the interpreter and
#: every import: a few hundred MB, more with CUDA builds): the attacks cost gigabytes.
EXTRA_RSS_MB = 150
CLASSIC = ["--segmenter", "classic", "--tracker", "classic"]


def trackedit(*args: str, cwd: Path | None = None, timeout: float = 120) -> tuple[int, list[str], float]:
    """(exit status, stderr lines without the RSS report, peak RSS in MB)."""
    r = subprocess.run([sys.executable, "-c", _WRAP, *args], capture_output=True, text=True, timeout=timeout,
                       cwd=cwd)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("PEAK_RSS_KB "), r.stderr
    return r.returncode, lines[:-1], int(lines[-1].split()[1]) / 1024


@functools.lru_cache(maxsize=1)
def peak_rss_bound() -> float:
    """Peak RSS (MB) allowed for a refused input: a tiny successful run's plus EXTRA_RSS_MB."""
    with tempfile.TemporaryDirectory() as tmp:
        clip = _clip(Path(tmp) / "clip.mp4")
        prompts = _prompts(Path(tmp) / "p.json", [{"id": 1, "prompts": [{"frame": 0, "box": [5, 5, 50, 50]}]}])
        rc, lines, peak = trackedit("-q", "run", str(clip), "-o", str(Path(tmp) / "o.mp4"), "--preset", "blur",
                                    "--prompts", str(prompts), *CLASSIC)
    assert rc == 0, lines
    return peak + EXTRA_RSS_MB


@functools.lru_cache(maxsize=1)
def torch_rss_bound() -> float:
    """Peak RSS (MB) allowed for a refused input of a model backend, which imports torch: the
    bound above plus what importing torch costs."""
    code = "import resource, torch; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    with_torch = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                    check=True).stdout.split()[-1]) / 1024
    return peak_rss_bound() + with_torch


def refused(*args: str, expect: str, cwd: Path | None = None, torch: bool = False) -> str:
    """Run ``trackedit ARGS``; assert one error line containing ``expect``, exit status 1,
    bounded peak RSS (``torch``: a model backend's imports allowed for); return the line."""
    rc, lines, peak = trackedit(*args, cwd=cwd)
    assert rc == 1, lines
    assert len(lines) == 1 and lines[0].startswith("trackedit: error: "), lines
    assert expect in lines[0], lines
    assert "internal error" not in lines[0]
    bound = torch_rss_bound() if torch else peak_rss_bound()
    assert peak < bound, (peak, bound, lines)
    return lines[0]


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")}


def _clip(path: Path, size: tuple[int, int] = (96, 64), frames: int = 8) -> Path:
    def images():  # noqa: ANN202
        for i in range(frames):
            img = np.full((size[1], size[0], 3), 30, np.uint8)
            img[10:40, 10 + 3 * i:34 + 3 * i] = (220, 60, 40)
            yield img
    return write_clip(path, images())


def _prompts(path: Path, objects: list[dict]) -> Path:
    path.write_text(json.dumps({"version": 1, "objects": objects}))
    return path


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width`` × ``height`` with almost no data (a bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


# -- names are never paths ------------------------------------------------------------------
HOSTILE_NAMES = ["/../../../../escaped", "..", ".", "a/b\\c", "x\x1b[31mred\x07", "con", " -rf ", "\0nul",
                 "名前" * 80, "name:with*odd?chars|<>"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_safe_name_is_one_harmless_component(name: str) -> None:
    safe = safe_name(name)
    assert safe and safe not in (".", "..") and not safe.startswith((".", "-"))
    assert not set(safe) & set('/\\:*?"<>|') and all(ord(c) >= 32 and not 127 <= ord(c) < 160 for c in safe)
    assert len(safe) <= 60 and safe.lower() != "con"


def test_long_names_differing_at_the_end_stay_different() -> None:
    a, b = "x" * 100 + "a", "x" * 100 + "b"
    assert safe_name(a) != safe_name(b)
    assert safe_name("bunny") == "bunny" and safe_name("face-1") == "face-1"


def test_printable_escapes_terminal_sequences() -> None:
    assert printable("a\x1b[2Jb\rc\n") == "a\\x1b[2Jb\\x0dc\\x0a"


def test_every_writer_keeps_hostile_names_inside_its_output(tmp_path: Path) -> None:
    """export-masks in every format, ``track``'s masks folder, the UI's downloads: objects
    with hostile names (as a prompts file, a detector's labels or a rename give them) write
    nothing outside the output, and the names survive as text where they are text."""
    import io
    import zipfile

    from starlette.testclient import TestClient

    from editor.ui.server import UiConfig, create_app

    work = tmp_path / "work"
    work.mkdir()
    clip = _clip(work / "clip.mp4")
    objects = [{"id": i + 1, "name": n, "prompts": [{"frame": 0, "box": [5 + i, 5, 60, 50], "shape": "box"}]}
               for i, n in enumerate(HOSTILE_NAMES)]
    prompts = _prompts(work / "p.json", objects)
    before = files_under(tmp_path)
    export, masks = work / "export", work / "masks"
    rc, lines, _ = trackedit("-q", "run", str(clip), "-o", str(work / "out.mp4"), "--preset", "export-masks",
                             "--prompts", str(prompts), "--set", f'export-masks.folder="{export}"', *CLASSIC, cwd=work)
    assert rc == 0, lines
    rc, lines, _ = trackedit("-q", "track", str(clip), "-o", str(masks), "--prompts", str(prompts), *CLASSIC, cwd=work)
    assert rc == 0, lines
    new = files_under(tmp_path) - before
    assert all(p.is_relative_to(export) or p.is_relative_to(masks) or p == work / "out.mp4" for p in new), \
        sorted(new)
    davis = json.loads((export / "davis" / "objects.json").read_text())
    assert [o["name"] for o in davis["objects"]] == HOSTILE_NAMES
    coco = json.loads((export / "coco.json").read_text())
    assert sorted(c["name"] for c in coco["categories"]) == sorted(HOSTILE_NAMES)

    app = create_app(UiConfig(clip, work_root=tmp_path / "ui", token="t"))
    with TestClient(app, base_url="http://127.0.0.1:8765", headers={"Origin": "http://127.0.0.1:8765",
                                                                     "X-Trackedit-Token": "t"}) as c:
        sid = c.post("/api/sessions", json={}).json()["id"]
        for i, name in enumerate(HOSTILE_NAMES[:5]):
            oid = c.post(f"/api/sessions/{sid}/objects", json={"name": "plain"}).json()["id"]
            assert c.patch(f"/api/sessions/{sid}/objects/{oid}", json={"name": name}).status_code == 200
            c.post(f"/api/sessions/{sid}/prompts", json={"frame": 0, "object": oid, "box": [5 + i, 5, 60, 50]})
        saved = c.get(f"/api/sessions/{sid}/download/prompts.json")
        assert [o["name"] for o in saved.json()["objects"]] == HOSTILE_NAMES[:5]
        assert saved.headers["content-disposition"] == 'attachment; filename="prompts.json"'
        with zipfile.ZipFile(io.BytesIO(c.get(f"/api/sessions/{sid}/download/masks.zip").content)) as z:
            assert all("/" not in n and ".." not in n for n in z.namelist())
    new = files_under(tmp_path) - before
    assert all(p.is_relative_to(export) or p.is_relative_to(masks) or p == work / "out.mp4" for p in new)


def test_export_masks_png_folders_never_leave_the_output_folder(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    clip = _clip(work / "clip.mp4")
    objects = [{"id": i + 1, "name": n, "prompts": [{"frame": 0, "box": [5 + i, 5, 60, 50], "shape": "box"}]}
               for i, n in enumerate(HOSTILE_NAMES)]
    prompts = _prompts(work / "p.json", objects)
    before = files_under(tmp_path)
    out_masks = work / "export"
    rc, lines, _ = trackedit("-q", "run", str(clip), "-o", str(work / "out.mp4"), "--preset", "export-masks",
                             "--prompts", str(prompts), "--set", f'export-masks.folder="{out_masks}"',
                             "--set", 'export-masks.formats=["png"]', *CLASSIC, cwd=work)
    assert rc == 0, lines
    new = files_under(tmp_path) - before
    assert all(p.is_relative_to(out_masks) or p == work / "out.mp4" for p in new), sorted(new)
    folders = sorted(p.name for p in (out_masks / "png").iterdir())
    assert len(folders) == len(HOSTILE_NAMES)  # one folder per object: no two collide
    assert all(f == f"{i}-{safe_name(n)}" for f, (i, n) in
               zip(sorted(folders, key=lambda f: int(f.split("-")[0])), enumerate(HOSTILE_NAMES, 1)))


# -- frame size ------------------------------------------------------------------------------
def test_frames_over_the_pixel_limit_are_refused_from_the_header(tmp_path: Path) -> None:
    clip = _clip(tmp_path / "big.mp4", size=(96, 64))
    prompts = _prompts(tmp_path / "p.json", [{"id": 1, "prompts": [{"frame": 0, "box": [5, 5, 50, 50]}]}])
    line = refused("--max-pixels", "5000", "run", str(clip), "-o", str(tmp_path / "o.mp4"), "--preset", "blur",
                   "--prompts", str(prompts), *CLASSIC, expect="96x64 = 0.0 million pixels, over the limit")
    assert str(clip) in line and "--max-pixels" in line
    assert not (tmp_path / "o.mp4").exists()
    env_rc, lines, _ = trackedit("run", str(clip), "-o", str(tmp_path / "o.mp4"), "--preset", "blur",
                                 "--prompts", str(prompts), *CLASSIC)
    assert env_rc == 0, lines  # the default limit (8K x 8K) takes it


def test_frames_larger_than_the_header_says_are_refused_when_decoded(tmp_path: Path) -> None:
    """Headers can lie: an H.264 stream whose first pictures (and so its header) are 64x64 and
    whose later ones are 96x64 is refused at the first larger frame, not after decoding on."""
    import av

    first = write_clip(tmp_path / "a.h264", [np.full((64, 64, 3), 40 * i, np.uint8) for i in range(3)])
    later = write_clip(tmp_path / "b.h264", [np.full((64, 96, 3), 40 * i, np.uint8) for i in range(3)])
    clip = tmp_path / "liar.h264"
    clip.write_bytes(first.read_bytes() + later.read_bytes())
    with av.open(str(clip)) as c:
        assert (c.streams.video[0].codec_context.width, c.streams.video[0].codec_context.height) == (64, 64)
    prompts = _prompts(tmp_path / "p.json", [{"id": 1, "prompts": [{"frame": 0, "box": [2, 2, 30, 30]}]}])
    line = refused("--max-pixels", "5000", "run", str(clip), "-o", str(tmp_path / "o.mp4"), "--preset", "blur",
                   "--prompts", str(prompts), *CLASSIC, expect="96x64 = 0.0 million pixels, over the limit of 0.0")
    assert str(clip) in line
    assert not (tmp_path / "o.mp4").exists() and not list(tmp_path.glob(".o.*"))


def test_mask_png_bomb_is_one_line_naming_the_mask(tmp_path: Path) -> None:
    clip = _clip(tmp_path / "clip.mp4")
    for size in (13000, 60000):
        bomb = _png_header_only(tmp_path / f"bomb{size}.png", size, size)
        prompts = _prompts(tmp_path / "p.json", [{"id": 1, "prompts": [{"frame": 0, "mask": bomb.name}]}])
        line = refused("run", str(clip), "-o", str(tmp_path / "o.mp4"), "--preset", "blur", "--prompts",
                       str(prompts), *CLASSIC, expect="million pixels")
        assert bomb.name in line


def test_an_embedded_mask_bomb_is_one_line(tmp_path: Path) -> None:
    import base64

    clip = _clip(tmp_path / "clip.mp4")
    png = _png_header_only(tmp_path / "bomb.png", 60000, 60000).read_bytes()
    uri = "data:image/png;base64," + base64.b64encode(png).decode()
    prompts = _prompts(tmp_path / "p.json", [{"id": 1, "prompts": [{"frame": 0, "mask": uri}]}])
    refused("run", str(clip), "-o", str(tmp_path / "o.mp4"), "--preset", "blur", "--prompts", str(prompts),
            *CLASSIC, expect="object 1, prompt 0: mask: the embedded PNG is too large: image too large to read "
                             "safely (over 67.1 million pixels)")


def test_picture_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    clip = _clip(tmp_path / "clip.mp4")
    prompts = _prompts(tmp_path / "p.json", [{"id": 1, "prompts": [{"frame": 0, "box": [5, 5, 50, 50]}]}])
    bomb = _png_header_only(tmp_path / "bg.png", 30000, 30000)
    line = refused("run", str(clip), "-o", str(tmp_path / "o.mp4"), "--preset", "background", "--set",
                   "background.mode=image", "--set", f'background.path="{bomb}"', "--prompts", str(prompts),
                   *CLASSIC, expect="million pixels")
    assert str(bomb) in line


# -- prompts ---------------------------------------------------------------------------------
def test_prompt_with_100k_points_is_refused_at_once(tmp_path: Path) -> None:
    clip = _clip(tmp_path / "clip.mp4")
    points = [[10 + i % 50, 10 + i % 40] for i in range(100_000)]
    prompts = _prompts(tmp_path / "p.json", [{"id": 1, "prompts": [{"frame": 0, "points": points}]}])
    refused("run", str(clip), "-o", str(tmp_path / "o.mp4"), "--preset", "blur", "--prompts", str(prompts),
            *CLASSIC, expect="too many points: 100000 points in one prompt (the limit is 1000)")


@pytest.mark.parametrize("text, expect", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"version": 1, "objects": [{"id": ' + "7" * 5000 + "}]}", "5000 digits"),
])
def test_deep_or_huge_json_is_one_line(tmp_path: Path, text: str, expect: str) -> None:
    clip = _clip(tmp_path / "clip.mp4")
    prompts = tmp_path / "p.json"
    prompts.write_text(text)
    refused("run", str(clip), "-o", str(tmp_path / "o.mp4"), "--preset", "blur", "--prompts", str(prompts),
            *CLASSIC, expect=expect)
    preset = tmp_path / "deep.toml"
    preset.write_text("v = " + text if text.startswith("[") else "v = " + "7" * 5000)
    refused("run", str(clip), "-o", str(tmp_path / "o.mp4"), "--preset", str(preset), "--prompts",
            str(tmp_path / "none.json"), *CLASSIC, expect="not valid TOML")


# -- special files ---------------------------------------------------------------------------
@pytest.fixture
def specials(tmp_path: Path) -> dict[str, Path]:
    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.png"
    folder.mkdir()
    return {"FIFO": fifo, "device": Path("/dev/zero"), "directory": folder}


@pytest.mark.parametrize("where", ["input", "prompts", "mask", "preset", "image", "background-image",
                                   "background-video"])
def test_special_files_are_refused_never_a_hang(tmp_path: Path, specials: dict[str, Path], where: str) -> None:
    clip = _clip(tmp_path / "clip.mp4")
    good = _prompts(tmp_path / "p.json", [{"id": 1, "prompts": [{"frame": 0, "box": [5, 5, 50, 50]}]}])
    for kind, special in specials.items():
        args = {"input": str(clip), "prompts": str(good), "preset": "blur", "sets": []}
        if where == "input":
            if kind == "FIFO":  # a pipe is an input (issue 24: read once, as it comes): tested with a writer
                continue
            args["input"] = str(special)
        elif where == "prompts":
            args["prompts"] = str(special)
        elif where == "mask":
            args["prompts"] = str(_prompts(tmp_path / "m.json", [{"id": 1, "prompts": [
                {"frame": 0, "mask": str(special)}]}]))
        elif where == "preset":
            args["preset"] = str(special.with_suffix(".toml")) if kind != "device" else str(special)
            if kind == "FIFO":
                os.mkfifo(args["preset"])
            elif kind == "directory":
                Path(args["preset"]).mkdir(exist_ok=True)
        elif where == "image":
            stage = tmp_path / "image.toml"
            stage.write_text(f'stages = ["image"]\n[image]\npath = "{special}"\n')
            args["preset"] = str(stage)
        else:
            mode = where.split("-")[1]
            args["preset"] = "background"
            args["sets"] = ["--set", f"background.mode={mode}", "--set", f'background.path="{special}"']
        expect = {"FIFO": "is a FIFO", "device": "is a device", "directory": "is a directory"}[kind]
        if where == "input" and kind == "directory":
            expect = "holds no numbered images"  # a folder of frames is an input (issue 24)
        refused("run", args["input"], "-o", str(tmp_path / "o.mp4"), "--preset", args["preset"], *args["sets"],
                "--prompts", args["prompts"], *CLASSIC, expect=expect)
        assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("option", ["--sam-checkpoint", "--xmem-checkpoint", "-o"])
def test_special_files_as_checkpoints_or_output_are_refused(tmp_path: Path, specials: dict[str, Path],
                                                            option: str) -> None:
    clip = _clip(tmp_path / "clip.mp4")
    prompts = _prompts(tmp_path / "p.json", [{"id": 1, "prompts": [{"frame": 0, "box": [5, 5, 50, 50]}]}])
    backends = {"--sam-checkpoint": ["--segmenter", "sam", "--tracker", "classic"],
                "--xmem-checkpoint": ["--segmenter", "classic", "--tracker", "xmem"], "-o": CLASSIC}[option]
    for kind, special in specials.items():
        if option != "-o" and kind != "FIFO":
            continue  # one is_file() check refuses all three; each run imports torch (seconds)
        out = [] if option == "-o" else ["-o", str(tmp_path / "o.mp4")]
        expect = {"--sam-checkpoint": "not a file", "--xmem-checkpoint": "not a file",
                  "-o": "already exists" if kind != "directory" else "is a directory"}[option]
        refused("run", str(clip), *out, option, str(special), "--preset", "blur", "--prompts", str(prompts),
                *backends, expect=expect, torch=option != "-o")
    assert not (tmp_path / "o.mp4").exists()


def test_a_fifo_in_a_masks_folder_is_refused_never_a_hang(tmp_path: Path) -> None:
    clip = _clip(tmp_path / "clip.mp4")
    masks = tmp_path / "masks"
    masks.mkdir()
    os.mkfifo(masks / "objects.json")
    line = refused("run", str(clip), "-o", str(tmp_path / "o.mp4"), "--preset", "blur", "--masks", str(masks),
                   expect="is a FIFO (named pipe), not a regular objects.json")
    assert str(masks) in line
    manifest = tmp_path / "list.jsonl"
    manifest.write_text(json.dumps({"input": clip.name, "masks": "masks"}) + "\n")
    rc, lines, _ = trackedit("batch", str(manifest), "-o", str(tmp_path / "out"), "--preset", "blur",
                             "--workers", "1", "--report", str(tmp_path / "r.jsonl"), timeout=120)
    assert rc == 1, lines
    row = json.loads((tmp_path / "r.jsonl").read_text())
    assert row["status"] == "failed" and "is a FIFO" in row["error"], row


def test_control_characters_in_a_path_are_escaped(tmp_path: Path) -> None:
    evil = tmp_path / "clip\x1b[2J\x1b]0;owned\x07.mp4"
    prompts = _prompts(tmp_path / "p.json", [{"id": 1, "prompts": [{"frame": 0, "box": [5, 5, 50, 50]}]}])
    line = refused("run", str(evil), "-o", str(tmp_path / "o.mp4"), "--preset", "blur", "--prompts", str(prompts),
                   expect="no such")
    assert "\x1b" not in line and "\x07" not in line and "\\x1b[2J" in line


# -- batch confinement -----------------------------------------------------------------------
def test_batch_manifest_outputs_stay_inside_outdir(tmp_path: Path) -> None:
    from editor.batch.discovery import discover, make_jobs
    from editor.batch.jobs import JobOptions

    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    clip = _clip(work / "clip.mp4")
    prompts = _prompts(work / "p.json", [{"id": 1, "prompts": [{"frame": 0, "box": [5, 5, 50, 50]}]}])
    elsewhere = tmp_path / "elsewhere.mp4"
    manifest = work / "list.jsonl"
    manifest.write_text("\n".join(json.dumps({"input": clip.name, "prompts": prompts.name, "output": out})
                                  for out in ("../../x.mp4", str(elsewhere), "sub/../../y.mp4")) + "\n")
    outdir = work / "out"
    before = files_under(tmp_path)
    report = work / "report.jsonl"
    rc, lines, peak = trackedit("batch", str(manifest), "-o", str(outdir), "--preset", "blur", "--report",
                                str(report), *CLASSIC)
    assert rc == 1 and peak < peak_rss_bound()
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert [r["status"] for r in rows] == ["failed"] * 3
    for no, row in enumerate(rows, 1):
        assert row["error"].startswith(f"{manifest}:{no}: output ") and "outside the output folder" in row["error"]
    new = files_under(tmp_path) - before
    assert all(p.is_relative_to(work) for p in new), sorted(new)
    assert not elsewhere.exists() and not (tmp_path / "a" / "x.mp4").exists()
    # with --allow-outside-outdir the rows are jobs like any other
    jobs = make_jobs(discover([manifest], outdir), JobOptions("blur"), outdir=outdir, allow_outside=True)
    assert [j.problem for j in jobs] == [None] * 3


# -- outputs the system refuses ----------------------------------------------------------------
@pytest.mark.parametrize("command", ["run", "track", "export-masks"])
def test_a_read_only_output_folder_is_one_line(tmp_path: Path, command: str) -> None:
    """/sys refuses new files even to root (a chmod'ed folder does not stop root)."""
    if not Path("/sys/kernel").is_dir():
        pytest.skip("needs Linux's /sys as a folder nobody can create files in")
    clip = _clip(tmp_path / "clip.mp4")
    prompts = _prompts(tmp_path / "p.json", [{"id": 1, "prompts": [{"frame": 0, "box": [5, 5, 50, 50]}]}])
    args = {"run": ["run", str(clip), "-o", "/sys/out.mp4", "--preset", "blur"],
            "track": ["track", str(clip), "-o", "/sys/masks"],
            "export-masks": ["run", str(clip), "-o", str(tmp_path / "o.mp4"), "--preset", "export-masks", "--set",
                             'export-masks.folder="/sys/masks"']}[command]
    line = refused(*args, "--prompts", str(prompts), *CLASSIC, expect="/sys")
    assert "ermi" in line or "not permitted" in line  # Permission denied / Operation not permitted


# -- model downloads -----------------------------------------------------------------------------
def test_plain_http_downloads_need_a_known_hash(tmp_path: Path) -> None:
    """Nothing is fetched from a plain-http address on the network without a published,
    recorded or pinned SHA-256 (192.0.2.1 is a documentation address: never contacted)."""
    from editor.models.download import download
    from editor.models.registry import ModelError, ModelSpec

    spec = ModelSpec("tofu", "tofu.pth", "http://192.0.2.1/tofu.pth", None, None, "xmem")
    with pytest.raises(ModelError, match="is plain http and tofu.pth has no published or recorded SHA-256"):
        download(spec, tmp_path, attempts=1, timeout=0.5)
    with pytest.raises(ModelError, match="64 hexadecimal digits"):
        download(spec, tmp_path, attempts=1, timeout=0.5, sha256="abc")
    with pytest.raises(ModelError, match="cannot reach|interrupted|failed"):  # pinned: it goes ahead
        download(spec, tmp_path, attempts=1, timeout=0.5, sha256="0" * 64)
    assert not (tmp_path / "tofu.pth").exists()


# -- after SIGKILL -----------------------------------------------------------------------------
def test_any_command_removes_the_scratch_folders_of_killed_runs(tmp_path: Path) -> None:
    import tempfile

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a process id that no longer runs
    left = Path(tempfile.gettempdir()) / f"trackedit-{dead.pid}-work-test"
    (left / "cache").mkdir(parents=True)
    rc, lines, _ = trackedit("presets")
    assert rc == 0, lines
    assert not left.exists()


def test_the_python_api_refuses_too_many_points_before_segmenting(tmp_path: Path) -> None:
    from editor.api.errors import PromptError
    from editor.backends.classic import FlowTracker, GrabCutSegmenter
    from editor.tracking.engine import TrackingSession

    clip = _clip(tmp_path / "clip.mp4")
    with TrackingSession(clip, GrabCutSegmenter(), FlowTracker()) as s:
        with pytest.raises(PromptError, match=r"too many: 5000 points in one prompt \(the limit is 1000\)"):
            s.add_prompt(0, 1, points=[(10.0, 10.0)] * 5000)
        assert s.objects() == []


def test_max_pixels_reaches_batch_workers(tmp_path: Path) -> None:
    clip = _clip(tmp_path / "clip.mp4")
    prompts_dir = tmp_path / "prompts"
    prompts_dir.mkdir()
    _prompts(prompts_dir / "clip.json", [{"id": 1, "prompts": [{"frame": 0, "box": [5, 5, 50, 50]}]}])
    report = tmp_path / "r.jsonl"
    rc, lines, _ = trackedit("--max-pixels", "5000", "batch", str(clip), "-o", str(tmp_path / "out"), "--preset",
                             "blur", "--prompts-dir", str(prompts_dir), "--workers", "1", "--report", str(report),
                             *CLASSIC)
    assert rc == 1, lines
    row = json.loads(report.read_text())
    assert row["status"] == "failed" and "96x64 = 0.0 million pixels, over the limit" in row["error"], row
    assert not (tmp_path / "out" / "clip.mp4").exists()


def test_a_batch_job_carries_the_frame_limit_to_a_worker_with_its_own_environment(tmp_path: Path,
                                                                                   monkeypatch) -> None:
    """A Ray node does not inherit the driver's environment: the limit travels in the job."""
    from editor.api import limits
    from editor.backends.assembly import BackendChoice
    from editor.batch.jobs import BatchJob, JobOptions, run_job

    monkeypatch.delenv(limits.MAX_PIXELS_ENV, raising=False)
    clip = _clip(tmp_path / "clip.mp4")
    prompts = _prompts(tmp_path / "clip.json", [{"id": 1, "prompts": [{"frame": 0, "box": [5, 5, 50, 50]}]}])
    with limits.restored():
        limits._current = None  # a fresh worker: nothing configured, no environment variable
        options = JobOptions("blur", backends=BackendChoice(segmenter="classic", tracker="classic"),
                             max_pixels=5000)
        result = run_job(BatchJob(clip.resolve(), (tmp_path / "out.mp4").resolve(), options, prompts.resolve()))
        assert result.status == "failed" and "96x64 = 0.0 million pixels, over the limit" in result.error
        assert not (tmp_path / "out.mp4").exists()
        assert limits.current().max_pixels == limits.DEFAULT_MAX_PIXELS  # the job's limit did not stay
        allowed = dataclasses.replace(options, max_pixels=96 * 64)
        assert run_job(BatchJob(clip.resolve(), (tmp_path / "ok.mp4").resolve(), allowed, prompts.resolve())).status \
            == "done"
