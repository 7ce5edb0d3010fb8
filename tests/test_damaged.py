"""Damage is visible, not silent: frames decoded with errors (FFmpeg's corrupt flag), frames
whose packets the decoder rejects (they repeat the frame before) and the frames predicted
from them up to the next clean keyframe are ``damaged``: listed in ``confidence.json`` and
the CLI's review line, tracked without learning from them (the object is held where its
motion says); a stream that cannot go on is one line naming the frame.

f25 (tests/data/cases, from /work/shared/cases): 8 KiB of zeros in the keyframe of frame 60;
made here: damaged keyframes in MP4, MKV and MPEG-TS, B-frames before them, and damage to the
end of a file."""
from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from clips import write_clip
from editor.api.errors import InputError
from editor.cli.main import main
from editor.video.reader import iter_frames, probe

CASES = Path(__file__).parent / "data" / "cases"
CLASSIC = ("--segmenter", "classic", "--tracker", "classic")


def _energy(image: np.ndarray) -> float:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)
    return float(np.mean(cv2.Laplacian(grey, cv2.CV_64F) ** 2))


def test_f25_damaged_frames_are_named_and_the_object_still_blurred(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """…in the CLI's review line and confidence.json, and alike by the web UI's frame
    endpoint (its random access, frames asked in a scrubbing order)."""
    src, masks, out = CASES / "f25_badsector.mp4", tmp_path / "masks", tmp_path / "out.mp4"
    frames = list(iter_frames(src))
    assert len(frames) == probe(src).frame_count == 120
    assert [f.index for f in frames if f.damaged] == list(range(60, 120))
    assert main(["track", str(src), "--prompts", str(CASES / "f25_prompts.json"), "-o", str(masks), *CLASSIC]) == 0
    err = capsys.readouterr().err
    assert "60 damaged frames to review (decoded with errors): 60–119" in err
    doc = json.loads((masks / "confidence.json").read_text())
    assert doc["damaged"] == list(range(60, 120))
    assert _ui_damaged(src, tmp_path) == doc["damaged"]
    assert main(["-q", "run", str(src), "-o", str(out), "--preset", "blur", "--masks", str(masks)]) == 0
    checked = 0
    for a, b in zip(frames, iter_frames(out)):
        red = a.image[..., 0].astype(int) - a.image[..., 1] > 60  # the object's visible pixels
        if red.sum() < 3000:
            continue
        ys, xs = np.nonzero(red)
        box = (slice(ys.min() + 8, ys.max() - 7), slice(xs.min() + 8, xs.max() - 7))
        assert _energy(b.image[box]) <= 0.1 * _energy(a.image[box]), a.index
        checked += a.damaged
    assert checked > 40


def _ui_damaged(src: Path, tmp_path: Path) -> list[int]:
    """The frames the web UI's frame endpoint marks damaged (``X-Damaged: 1``), every frame
    asked once in a shuffled order (seeks back and forth, as scrubbing does)."""
    from starlette.testclient import TestClient

    from editor.pipeline.plugin_manager import PluginManager
    from editor.ui.server import UiConfig, create_app

    origin, token = "http://127.0.0.1:8765", "t"
    app = create_app(UiConfig(src, work_root=tmp_path / "ui", token=token), PluginManager())
    with TestClient(app, base_url=origin, headers={"Origin": origin, "X-Trackedit-Token": token}) as client:
        sid = client.post("/api/sessions", json={}).json()["id"]
        order = np.random.default_rng(0).permutation(probe(src).frame_count)
        marks = {}
        for i in order.tolist():
            r = client.get(f"/api/sessions/{sid}/frames/{i}.jpg?width=64")
            assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
            marks[i] = r.headers["X-Damaged"]
    assert set(marks.values()) <= {"0", "1"}
    return sorted(i for i, m in marks.items() if m == "1")


def _clip(path: Path, frames: int = 50) -> Path:
    """H.264 with B-frames, a keyframe every 20 frames: a red square moving over noise."""
    background = np.random.default_rng(1).integers(0, 255, (144, 192, 3), np.uint8)

    def image(i: int) -> np.ndarray:
        out = background.copy()
        out[40:90, 10 + i: 60 + i] = (220, 30, 30)
        return out
    return write_clip(path, (image(i) for i in range(frames)),
                      options={"g": "20", "keyint_min": "20", "sc_threshold": "0"})


def _damage(src: Path, dst: Path, packets: slice, *, zeros: float = 0.5) -> Path:
    """``dst``: ``src`` with the middle of the chosen packets (in file order) overwritten by
    zeros (a share ``zeros`` of each), or by noise when ``zeros`` is 0."""
    with av.open(str(src)) as c:
        chosen = [(p.pos, p.size) for p in c.demux(c.streams.video[0]) if p.size][packets]
    data = bytearray(src.read_bytes())
    rng = np.random.default_rng(0)
    for pos, size in chosen:
        if zeros:
            start, n = pos + size // 4, int(size * zeros)
            data[start:start + n] = bytes(n)
        else:
            data[pos + 8:pos + size] = rng.integers(0, 255, size - 8, np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


def _bad_keyframe(tmp_path: Path, suffix: str, zeros: float) -> Path:
    """:func:`_clip` in ``suffix``'s container with its second keyframe damaged (:func:`_damage`)."""
    src = _clip(tmp_path / f"src{suffix}")
    with av.open(str(src)) as c:
        order = [p.is_keyframe for p in c.demux(c.streams.video[0]) if p.size]
    second_key = [i for i, key in enumerate(order) if key][1]
    return _damage(src, tmp_path / f"bad{suffix}", slice(second_key, second_key + 1), zeros=zeros)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".ts"])
@pytest.mark.parametrize("zeros", [0.5, 0.12])
def test_a_damaged_keyframe_marks_its_group(tmp_path: Path, suffix: str, zeros: float) -> None:
    bad = _bad_keyframe(tmp_path, suffix, zeros)
    frames = list(iter_frames(bad))
    assert len(frames) == probe(bad).frame_count == 50
    assert all(a.time < b.time for a, b in zip(frames, frames[1:]))
    damaged = [f.index for f in frames if f.damaged]
    # from the keyframe (or the B-frames shown before it, which refer to it) to the next keyframe
    assert damaged and damaged[0] in (18, 19, 20) and damaged[-1] == 39
    assert damaged == list(range(damaged[0], 40))
    assert not any(f.damaged for f in frames[:18])


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".ts"])
@pytest.mark.parametrize("zeros", [0.5, 0.12])
def test_random_access_marks_damage_as_decoding_through(tmp_path: Path, suffix: str, zeros: float) -> None:
    """One rule (``reader.Damage``) for both readers: frames fetched by index in a shuffled
    order (the UI's and the Python API's random access: seeks onto and past the damaged
    keyframe, packets the decoder rejects, MPEG-TS seeking by bytes) are damaged exactly
    where decoding the file through marks them, and clean frames have the same pixels."""
    from editor.video.random_access import FrameSource

    bad = _bad_keyframe(tmp_path, suffix, zeros)
    through = list(iter_frames(bad))
    with FrameSource(bad, cache_size=4) as source:
        assert len(source) == len(through) == 50
        fetched = {i: source[i] for i in np.random.default_rng(1).permutation(50).tolist()}
    damaged = [f.index for f in through if f.damaged]
    assert sorted(i for i, f in fetched.items() if f.damaged) == damaged
    assert damaged
    for f in through:
        assert fetched[f.index].pts == f.pts
        if not f.damaged:
            assert np.array_equal(fetched[f.index].image, f.image), f.index


def test_a_stream_that_cannot_go_on_names_the_frame(tmp_path: Path) -> None:
    src = _clip(tmp_path / "src.mp4", frames=100)
    bad = _damage(src, tmp_path / "bad.mp4", slice(20, None), zeros=0)
    with pytest.raises(InputError) as err:
        list(iter_frames(bad))
    message = str(err.value)
    assert "cannot continue decoding after frame" in message and "bad.mp4" in message
    assert len(message.splitlines()) == 1
