"""Inputs people have: stdin (``-``) and FIFOs (f27: MPEG-TS as it comes down a pipe), URLs
(``http://`` from a server on 127.0.0.1, ``file://``), image sequences (a ``%05d`` pattern, a
folder of numbered PNG or JPEG, ``--fps``), GIF and animated WebP in, GIF out with a palette."""
from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from editor.cli.main import main
from editor.video.inputs import input_file
from editor.video.reader import iter_frames, probe
from editor.video.writer import EncodeOptions, VideoWriter

CASES = Path(__file__).parent / "data" / "cases"
CLASSIC = ("--segmenter", "classic", "--tracker", "classic")
BOX = '{"version":1,"objects":[{"id":1,"name":"a","prompts":[{"frame":0,"box":[10,10,60,60]}]}]}'


def _same_as_f27(out: Path) -> None:
    src = probe(CASES / "f27_pipe.ts")
    got = probe(out)
    assert (got.frame_count, got.size) == (src.frame_count, src.size) and got.audio


def test_f27_from_stdin(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    with (CASES / "f27_pipe.ts").open("rb") as stdin:
        r = subprocess.run([sys.executable, "-m", "editor", "-q", "run", "-", "-o", str(out), "--preset", "blur",
                            "--prompts", str(CASES / "f27_prompts.json"), *CLASSIC],
                           stdin=stdin, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    _same_as_f27(out)


def test_f27_from_a_fifo(tmp_path: Path) -> None:
    fifo, out = tmp_path / "pipe.ts", tmp_path / "out.mp4"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes((CASES / "f27_pipe.ts").read_bytes()), daemon=True)
    writer.start()
    assert main(["-q", "run", str(fifo), "-o", str(out), "--preset", "blur", "--prompts",
                 str(CASES / "f27_prompts.json"), *CLASSIC]) == 0
    writer.join(10)
    _same_as_f27(out)


def test_stdin_with_nothing_piped_is_one_line(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "editor", "run", "-", "-o", str(tmp_path / "o.mp4"), "--preset", "blur",
                        "--prompts", str(CASES / "f27_prompts.json")], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "empty" in r.stderr


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _http(folder: Path) -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(10)


def test_urls(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "out.mp4"
    with _http(CASES) as base:
        assert main(["-q", "run", f"{base}/f27_pipe.ts", "-o", str(out), "--preset", "blur", "--prompts",
                     str(CASES / "f27_prompts.json"), *CLASSIC]) == 0
        _same_as_f27(out)
        capsys.readouterr()
        assert main(["run", f"{base}/missing.mp4", "-o", str(tmp_path / "x.mp4"), "--preset", "blur",
                     "--prompts", str(CASES / "f27_prompts.json")]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "404" in err[0] and "http://127.0.0.1" in err[0]
    spaced = tmp_path / "a clip.ts"
    spaced.write_bytes((CASES / "f27_pipe.ts").read_bytes())
    with input_file("file://" + str(spaced).replace(" ", "%20")) as path:
        assert path == spaced


def _frames(n: int = 12) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.integers(0, 255, (48, 64, 3), np.uint8) for _ in range(n)]


@pytest.mark.parametrize("kind", ["pattern", "folder", "jpeg-folder"])
def test_image_sequences(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    images = _frames()
    suffix = ".jpg" if kind == "jpeg-folder" else ".png"
    for i, image in enumerate(images):
        cv2.imwrite(str(folder / f"frame_{i + 1:05d}{suffix}"), image[..., ::-1])
    spec = str(folder / "frame_%05d.png") if kind == "pattern" else str(folder)
    prompts = tmp_path / "p.json"
    prompts.write_text(BOX.replace("[10,10,60,60]", "[10,10,40,40]"))
    out = tmp_path / "out.mkv"
    assert main(["-q", "run", spec, "--fps", "12.5", "-o", str(out), "--preset", "blur", "--prompts", str(prompts),
                 *CLASSIC]) == 0
    info = probe(out)
    assert (info.frame_count, info.size, info.average_rate) == (12, (64, 48), Fraction(25, 2))
    assert info.pix_fmt in ("yuv420p", "yuvj420p")  # pictures into H.264: 4:2:0, what players play
    with input_file(spec, fps=10) as path:  # the frames as decoded, bit for bit
        got = [f.image for f in iter_frames(path)]
        assert probe(path).average_rate == 10
    wanted = images if kind != "jpeg-folder" else [f.image for f in iter_frames(folder / "frame_00001.jpg")]
    assert len(got) == 12 and np.array_equal(got[0], wanted[0])
    # a masks folder names the sequence it was made from, not the scratch file it became (a newcomer)
    masks = tmp_path / "masks"
    assert main(["-q", "track", spec, "-o", str(masks), "--prompts", str(prompts), *CLASSIC]) == 0
    assert json.loads((masks / "objects.json").read_text())["source"] == spec


def test_a_gap_in_the_numbers_is_one_line(tmp_path: Path) -> None:
    for i in (1, 2, 4):
        cv2.imwrite(str(tmp_path / f"f{i:03d}.png"), _frames(1)[0])
    with pytest.raises(Exception, match="miss number 3"):
        with input_file(tmp_path):
            pass


def _gif(path: Path) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=2",
                    *(["-loop", "0"] if path.suffix == ".webp" else []), str(path)], check=True)
    return path


def test_gif_in_and_out(tmp_path: Path) -> None:
    src = _gif(tmp_path / "in.gif")
    prompts = tmp_path / "p.json"
    prompts.write_text(BOX)
    mp4, gif = tmp_path / "out.mp4", tmp_path / "out.gif"
    for out in (mp4, gif):
        assert main(["-q", "run", str(src), "-o", str(out), "--preset", "blur", "--prompts", str(prompts),
                     *CLASSIC]) == 0
    assert probe(mp4).pix_fmt == "yuv420p" and probe(mp4).frame_count == 20  # what players play
    with av.open(str(gif)) as c:
        assert c.streams.video[0].codec_context.name == "gif"
    a, b = list(iter_frames(src)), list(iter_frames(gif))
    assert len(b) == 20 and [f.time for f in b] == [f.time for f in a]
    # far from the blurred box, pixels keep their colours within a level (a palette of each frame's own)
    assert all(np.abs(x.image[90:].astype(int) - y.image[90:]).mean() < 1.5 for x, y in zip(a, b))
    plain = tmp_path / "plain.gif"  # nothing edited: every colour exactly
    with VideoWriter(plain, probe(src), EncodeOptions.resolve()) as w:
        for frame in a:
            w.write(frame)
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, iter_frames(plain)))


def test_animated_webp_in(tmp_path: Path) -> None:
    src = _gif(tmp_path / "in.webp")
    with input_file(src) as path:
        frames = list(iter_frames(path))
    assert len(frames) == 20 and abs(frames[-1].time - 1.9) < 0.02
    reference = list(iter_frames(_gif(tmp_path / "ref.gif")))
    assert np.abs(frames[5].image.astype(int) - reference[5].image).mean() < 8


def _srgb(linear: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 (sRGB) encoding of linear light, clipped to [0, 1]."""
    x = np.clip(linear.astype(np.float64), 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)


def _exr_frames(folder: Path, n: int = 8, first: int = 1001) -> list[np.ndarray]:
    """``shot.1001.exr``…: float32 scene-linear RGB written by FFmpeg's EXR encoder (PyAV):
    smooth ramps running past 1.0 (highlights), different on every frame. Returns the
    linear RGB H×W×3 of each frame."""
    folder.mkdir()
    h, w = 48, 64
    ramp_x = np.linspace(0.0, 1.2, w, dtype=np.float32)[None, :].repeat(h, 0)
    ramp_y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None].repeat(w, 1)
    out, images = av.open(str(folder / "shot.%04d.exr"), "w", format="image2",
                          options={"start_number": str(first)}), []
    with out:
        stream = out.add_stream("exr", rate=24)
        stream.width, stream.height, stream.pix_fmt = w, h, "gbrpf32le"
        for i in range(n):
            image = np.dstack([ramp_x, ramp_y * (1 - i / (2 * n)), np.full((h, w), 0.02 * (i + 1), np.float32)])
            images.append(image)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="gbrpf32le")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    assert sorted(p.name for p in folder.iterdir())[0] == f"shot.{first}.exr"
    return images


@pytest.mark.parametrize("kind", ["folder", "pattern"])
def test_exr_sequence(tmp_path: Path, kind: str) -> None:
    """Numbered OpenEXR frames (scene-linear float) in, with ``--fps``: every frame, at that
    rate, in order; levels are the sRGB encoding of the linear values (FFmpeg's EXR decoder,
    ``apply_trc``), highlights above 1.0 clipped, at 16 bits; a run writes them edited."""
    linear = _exr_frames(tmp_path / "shot")
    spec = str(tmp_path / "shot") if kind == "folder" else str(tmp_path / "shot" / "shot.%04d.exr")
    with input_file(spec, fps=Fraction(24000, 1001)) as path:
        info = probe(path)
        assert (info.frame_count, info.size, info.average_rate) == (8, (64, 48), Fraction(24000, 1001))
        frames = list(iter_frames(path, deep=True))
    assert len(frames) == 8
    times = np.array([f.time for f in frames])
    assert np.abs(times - np.arange(8) * 1001 / 24000).max() < 1e-6  # exactly a frame period apart
    assert all(a.pts < b.pts for a, b in zip(frames, frames[1:]))
    for f, want in zip(frames, linear):
        assert f.image.dtype == np.uint16
        error = np.abs(f.image.astype(np.float64) - _srgb(want) * 65535)
        assert error.max() <= 40, (f.index, error.max())  # within 0.06 % everywhere, channels in order
        assert f.image[:, -8:, 0].min() >= 65535 - 40  # linear 1.1–1.2: clipped to white
    prompts = tmp_path / "p.json"
    prompts.write_text(BOX.replace("[10,10,60,60]", "[4,4,20,20]"))
    out = tmp_path / "out.mp4"
    assert main(["-q", "run", spec, "--fps", "24", "-o", str(out), "--preset", "blur", "--prompts", str(prompts),
                 *CLASSIC]) == 0
    got = probe(out)
    assert (got.frame_count, got.size, got.average_rate) == (8, (64, 48), Fraction(24))
    for f, want in zip(iter_frames(out), linear):
        outside = np.abs(f.image[28:, 28:].astype(np.float64) - _srgb(want[28:, 28:]) * 255)
        assert outside.mean() <= 1.5, (f.index, outside.mean())  # the levels reach the output


@contextmanager
def _rtsp_server(clip: Path) -> Iterator[str]:
    """A minimal RTSP server on 127.0.0.1 for ``clip``'s video (RFC 2326 over UDP, one
    client): DESCRIBE answers the SDP of FFmpeg's RTP muxer, SETUP takes the client's ports,
    PLAY starts ``ffmpeg -re`` sending the RTP packets there in real time. Yields the URL."""
    import re
    import socket

    sdp = subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-an", "-c", "copy", "-t", "0", "-f", "rtp",
                          "-sdp_file", "/dev/stdout", "rtp://127.0.0.1:9"], capture_output=True, text=True).stdout
    sdp = sdp[sdp.index("v=0"):]
    server = socket.create_server(("127.0.0.1", 0))
    senders: list[subprocess.Popen] = []

    def serve() -> None:
        conn, _ = server.accept()
        buffer, ports = b"", ("0", "0")
        with conn, contextlib.suppress(ConnectionResetError):  # the client may just go
            while data := conn.recv(4096):
                buffer += data
                while b"\r\n\r\n" in buffer:
                    head, buffer = buffer.split(b"\r\n\r\n", 1)
                    request = head.decode()
                    method, url = request.split()[:2]
                    cseq = re.search(r"CSeq: *(\d+)", request)[1]
                    reply, body = f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n", ""
                    if method == "DESCRIBE":
                        body = sdp
                        reply += f"Content-Base: {url}/\r\nContent-Type: application/sdp\r\nContent-Length: {len(body)}\r\n"
                    elif method == "SETUP":
                        ports = re.search(r"client_port=(\d+)-(\d+)", request).groups()
                        reply += f"Transport: RTP/AVP;unicast;client_port={ports[0]}-{ports[1]}\r\nSession: 1\r\n"
                    elif method == "PLAY":
                        reply += "Session: 1\r\n"
                        senders.append(subprocess.Popen(["ffmpeg", "-v", "error", "-re", "-i", str(clip), "-an", "-c",
                                                         "copy", "-f", "rtp",
                                                         f"rtp://127.0.0.1:{ports[0]}?rtcpport={ports[1]}"]))
                    conn.sendall((reply + "\r\n" + body).encode())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"rtsp://127.0.0.1:{server.getsockname()[1]}/live"
    finally:
        server.close()
        for sender in senders:
            sender.wait(30)


def test_rtsp_is_recorded_in_one_pass_until_it_ends(tmp_path: Path) -> None:
    """``rtsp://`` (f27's video served live from 127.0.0.1): recorded once, until the stream
    ends — the first keyframe too, which comes before RTP's timing is known — and edited
    like any input: every frame, the same size, a frame period apart. The server takes one
    connection only: a second read of the stream would find nobody there."""
    out = tmp_path / "out.mp4"
    with _rtsp_server(CASES / "f27_pipe.ts") as url:
        assert main(["-q", "run", url, "-o", str(out), "--preset", "blur", "--prompts",
                     str(CASES / "f27_prompts.json"), *CLASSIC]) == 0
    src, got = probe(CASES / "f27_pipe.ts"), probe(out)
    assert (got.frame_count, got.size) == (src.frame_count, src.size) == (120, (640, 360))
    times = np.array([f.time for f in iter_frames(out)])
    assert np.abs(np.diff(times) - 1 / 30).max() < 0.002


def test_rtsp_without_a_server_is_one_line(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    import socket

    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    assert main(["run", f"rtsp://127.0.0.1:{port}/none", "-o", str(tmp_path / "o.mp4"), "--preset", "blur",
                 "--prompts", str(CASES / "f27_prompts.json"), *CLASSIC]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot open the stream" in err[0] and f"rtsp://127.0.0.1:{port}/none" in err[0]
    assert not (tmp_path / "o.mp4").exists()
