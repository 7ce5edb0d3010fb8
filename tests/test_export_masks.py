"""export-masks: every format round-trips losslessly to the label maps that went in."""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from clips import write_clip

from editor.api.masks import MaskFolderWriter, read_label_png
from editor.pipeline.orchestrator import Pipeline, RunRequest
from editor.pipeline.presets import apply_overrides, load_preset
from editor.video.reader import iter_frames

W, H, T = 96, 64, 10


def _labels(t: int) -> np.ndarray:
    lab = np.zeros((H, W), np.uint8)
    cv2.circle(lab, (20 + 4 * t, 30), 12, 3, -1)
    lab[40:60, 60 - 3 * t:80 - 3 * t] = 7
    if t > 6:
        lab[:] = np.where(lab == 3, 0, lab)  # object 3 leaves
    return lab


@pytest.fixture
def clip_and_masks(tmp_path: Path) -> tuple[Path, Path]:
    clip = write_clip(tmp_path / "clip.mp4", (np.full((H, W, 3), 20 * t, np.uint8) for t in range(T)))
    writer = MaskFolderWriter(tmp_path / "masks", {3: "ball", 7: "brick"}, str(clip))
    for t in range(T):
        writer.write(t, _labels(t))
    writer.close()
    return clip, tmp_path / "masks"


def _export(clip: Path, masks: Path, out_dir: Path, formats: list[str]) -> Path:
    """Run the export-masks preset with ``formats`` over ``clip`` and its masks; ``out_dir``."""
    preset = apply_overrides(load_preset("export-masks"),
                             [f'export-masks.folder="{out_dir}"', f"export-masks.formats={json.dumps(formats)}"])
    Pipeline().run(RunRequest(input=clip, output=out_dir.with_suffix(".mp4"), preset=preset, masks_dir=masks))
    return out_dir


def test_all_formats_round_trip(clip_and_masks: tuple[Path, Path], tmp_path: Path) -> None:
    import pycocotools.mask as cocomask

    clip, masks = clip_and_masks
    out_dir = tmp_path / "export"
    preset = apply_overrides(load_preset("export-masks"), [f'export-masks.folder="{out_dir}"'])
    req = RunRequest(input=clip, output=tmp_path / "out.mp4", preset=preset, masks_dir=masks)
    Pipeline().run(req)
    assert sorted(p.name for p in out_dir.iterdir()) == ["coco.json", "davis", "matte.mp4", "png"]
    assert not list(tmp_path.glob(".export*"))
    coco = json.loads((out_dir / "coco.json").read_text())
    assert {c["id"]: c["name"] for c in coco["categories"]} == {3: "ball", 7: "brick"}
    assert len(coco["images"]) == T
    matte = [f.image[..., 0] > 127 for f in iter_frames(out_dir / "matte.mp4")]
    assert len(matte) == T
    for t in range(T):
        truth = _labels(t)
        assert np.array_equal(read_label_png(out_dir / "davis" / f"{t:05d}.png"), truth)
        for oid, name in ((3, "ball"), (7, "brick")):
            png = cv2.imread(str(out_dir / "png" / f"{oid}-{name}" / f"{t:05d}.png"), cv2.IMREAD_GRAYSCALE)
            assert np.array_equal(png > 0, truth == oid)
        rebuilt = np.zeros((H, W), np.uint8)
        for ann in (a for a in coco["annotations"] if a["image_id"] == t):
            seg = dict(ann["segmentation"], counts=ann["segmentation"]["counts"].encode())
            m = cocomask.decode(seg).astype(bool)
            assert ann["area"] == int(cocomask.area(seg)) and ann["bbox"] == list(cocomask.toBbox(seg))
            rebuilt[m] = ann["category_id"]
        assert np.array_equal(rebuilt, truth)
        assert np.array_equal(matte[t], truth > 0)


def test_selected_objects_only_and_existing_folder(clip_and_masks: tuple[Path, Path], tmp_path: Path) -> None:
    from editor.api.errors import OutputError

    clip, masks = clip_and_masks
    out_dir = tmp_path / "only7"
    preset = apply_overrides(load_preset("export-masks"),
                             [f'export-masks.folder="{out_dir}"', 'export-masks.formats=["davis"]',
                              "export-masks.objects=[\"brick\"]"])
    Pipeline().run(RunRequest(input=clip, output=tmp_path / "o.mp4", preset=preset, masks_dir=masks))
    assert np.array_equal(read_label_png(out_dir / "davis" / "00002.png"),
                          np.where(_labels(2) == 7, 7, 0).astype(np.uint8))
    with pytest.raises(OutputError, match="already exists") as err:
        Pipeline().run(RunRequest(input=clip, output=tmp_path / "o2.mp4", preset=preset, masks_dir=masks))
    assert str(err.value).startswith(f"{out_dir}: ") and ".toml" not in str(err.value)
    assert not (tmp_path / "o2.mp4").exists()


def _davis_frames(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "davis").glob("*.png"))


def test_overwrite_replaces_the_runs_own_masks_folder(clip_and_masks: tuple[Path, Path], tmp_path: Path) -> None:
    """``--overwrite`` redoes a run whose default ``<stem>.masks`` exists (it is the run's own),
    swapping the new folder in whole; without it the error names the folder and the flag."""
    from editor.api.errors import OutputError

    clip, masks = clip_and_masks
    preset = apply_overrides(load_preset("export-masks"), ['export-masks.formats=["davis"]'])
    out = tmp_path / "out.mp4"
    Pipeline().run(RunRequest(input=clip, output=out, preset=preset, masks_dir=masks))
    folder = tmp_path / "out.masks"
    (folder / "davis" / "99999.png").write_bytes(b"left from before")  # must not survive a redo
    out.unlink()  # the video alone gone: the masks folder still stops a run without --overwrite
    with pytest.raises(OutputError) as err:
        Pipeline().run(RunRequest(input=clip, output=out, preset=preset, masks_dir=masks))
    assert str(err.value) == f"{folder}: the masks folder already exists (use --overwrite to replace it)"
    summary = Pipeline().run(RunRequest(input=clip, output=out, preset=preset, masks_dir=masks, overwrite=True))
    assert summary.side_outputs == (folder,)
    assert _davis_frames(folder) == [f"{t:05d}.png" for t in range(T)]
    assert np.array_equal(read_label_png(folder / "davis" / "00004.png"), _labels(4))
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_named_folder_with_other_files_needs_the_stage_overwrite(clip_and_masks: tuple[Path, Path],
                                                                   tmp_path: Path) -> None:
    """A folder named with ``export-masks.folder`` is replaced by ``--overwrite`` when it holds
    only an earlier export; one holding anything else only with ``export-masks.overwrite=true``."""
    from editor.api.errors import OutputError

    clip, masks = clip_and_masks
    named = tmp_path / "mattes"
    preset = apply_overrides(load_preset("export-masks"),
                             [f'export-masks.folder="{named}"', 'export-masks.formats=["davis"]'])
    out = tmp_path / "out.mp4"
    Pipeline().run(RunRequest(input=clip, output=out, preset=preset, masks_dir=masks))
    Pipeline().run(RunRequest(input=clip, output=out, preset=preset, masks_dir=masks, overwrite=True))
    assert len(_davis_frames(named)) == T
    (named / "notes.txt").write_text("the user's own")
    with pytest.raises(OutputError) as err:
        Pipeline().run(RunRequest(input=clip, output=out, preset=preset, masks_dir=masks, overwrite=True))
    assert str(err.value) == (f"{named}: the masks folder already exists and holds other files than exported "
                              "masks (export-masks.overwrite=true replaces it)")
    assert (named / "notes.txt").read_text() == "the user's own"
    Pipeline().run(RunRequest(input=clip, output=out, preset=apply_overrides(preset, ["export-masks.overwrite=true"]),
                              masks_dir=masks, overwrite=True))
    assert sorted(p.name for p in named.iterdir()) == ["davis"] and len(_davis_frames(named)) == T


@pytest.mark.parametrize("exchange", [True, False])
def test_a_committed_folder_replaces_the_old_one_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        exchange: bool) -> None:
    """:class:`AtomicOutput` with ``directory=True`` over an existing folder: the new folder is
    at the name, the old one gone, no temporary left — by one exchange, or (a system without
    ``renameat2``) by moving the old one aside first."""
    from editor.api import files
    from editor.api.files import AtomicOutput

    if not exchange:
        monkeypatch.setattr(files, "_exchange", lambda a, b: False)
    final = tmp_path / "x.masks"
    (final / "sub").mkdir(parents=True)
    (final / "sub" / "old.txt").write_text("old")
    out = AtomicOutput(final, directory=True)
    (out.path / "new.txt").write_text("new")
    assert (final / "sub" / "old.txt").read_text() == "old"  # untouched until the commit
    out.commit()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["new.txt", "x.masks"]


def test_exr_channels_per_object(clip_and_masks: tuple[Path, Path], tmp_path: Path) -> None:
    OpenEXR = pytest.importorskip("OpenEXR", reason="the exr format needs the OpenEXR package (exr extra)")
    clip, masks = clip_and_masks
    out_dir = _export(clip, masks, tmp_path / "exr-export", ["exr"])
    files = sorted((out_dir / "exr").iterdir())
    assert [f.name for f in files] == [f"{t:05d}.exr" for t in range(T)]
    for t, path in enumerate(files):
        with OpenEXR.File(str(path), separate_channels=True) as f:
            channels = f.channels()
            assert sorted(channels) == ["ball", "brick"]
            assert f.header()["dataWindow"][1].tolist() == [W - 1, H - 1]
            for oid, name in ((3, "ball"), (7, "brick")):
                pixels = channels[name].pixels
                assert pixels.dtype == np.float16 and pixels.shape == (H, W)
                assert np.array_equal(pixels, (_labels(t) == oid).astype(np.float16))


def test_exr_channel_names() -> None:
    from trackedit_plugins.export_masks import channel_names

    assert channel_names({1: "left.eye", 2: "", 3: "a", 4: "a"}, [1, 2, 3, 4]) == \
        {1: "left_eye", 2: "object-2", 3: "a-3", 4: "a-4"}


def test_prores_matte_per_object(tmp_path: Path) -> None:
    import av

    # a variable frame rate source in a 1/90000 time base: the clips keep its pts
    src = tmp_path / "vfr.mp4"
    pts = [0, 3000, 9000, 10500, 18000, 21000, 30000, 33000, 36000, 45000]
    with av.open(str(src), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.time_base = Fraction(1, 90000)
        stream.codec_context.time_base = Fraction(1, 90000)
        for t, p in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(np.full((H, W, 3), 20 * t, np.uint8), format="rgb24")
            frame.pts, frame.time_base = p, Fraction(1, 90000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    writer = MaskFolderWriter(tmp_path / "masks", {3: "ball/../x", 7: "brick"}, str(src))
    for t in range(T):
        writer.write(t, _labels(t))
    writer.close()
    out_dir = _export(src, tmp_path / "masks", tmp_path / "prores-export", ["prores"])
    source = list(iter_frames(src))
    assert sorted(p.name for p in (out_dir / "prores").iterdir()) == ["3-ball_.._x.mov", "7-brick.mov"]
    for oid, name in ((3, "3-ball_.._x.mov"), (7, "7-brick.mov")):
        with av.open(str(out_dir / "prores" / name)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "prores" and stream.codec_context.profile == "4444"
            assert stream.codec_context.codec_tag == "ap4h"  # ProRes 4444 in QuickTime
            assert stream.codec_context.format.name.startswith("yuva444p")  # decoded with its alpha
        frames = list(iter_frames(out_dir / "prores" / name))
        assert len(frames) == T
        assert [f.time for f in frames] == pytest.approx([f.time for f in source], abs=1e-6)
        assert [f.pts * f.time_base for f in frames] == [f.pts * f.time_base for f in source]
        for t, frame in enumerate(frames):
            truth = np.where(_labels(t) == oid, 255, 0)
            assert frame.alpha is not None
            alpha = frame.alpha.astype(int) * 255 // np.iinfo(frame.alpha.dtype).max
            luma = frame.image.astype(int).mean(axis=2) * 255 / np.iinfo(frame.image.dtype).max
            assert np.abs(alpha - truth).max() <= 2, (oid, t)
            assert np.abs(luma - truth).max() <= 4, (oid, t)


def test_cryptomatte_hash_matches_the_specification() -> None:
    from editor.imaging import cryptomatte

    # MurmurHash3 x86 32-bit reference values, and the specification's manifest example
    assert [cryptomatte.murmurhash3_32(b) for b in (b"", b"hello", b"Hello, world!")] == \
        [0, 0x248BFA47, 0xC0363E43]
    assert json.loads(cryptomatte.manifest({1: "bunny", 2: "default"})) == {"bunny": "13851a76",
                                                                            "default": "42c9679f"}
    # the exponent is clamped to 1…254: never zero/denormal, NaN or infinity
    for name in (f"object-{i}" for i in range(2000)):
        assert np.isfinite(cryptomatte.id_float(name)) and 0 < (cryptomatte.id_bits(name) >> 23) & 0xFF < 255


def test_cryptomatte_decodes_to_the_masks(clip_and_masks: tuple[Path, Path], tmp_path: Path) -> None:
    import struct

    OpenEXR = pytest.importorskip("OpenEXR", reason="the cryptomatte format needs the OpenEXR package (exr extra)")
    clip, masks = clip_and_masks
    out_dir = _export(clip, masks, tmp_path / "crypto-export", ["cryptomatte"])
    files = sorted((out_dir / "cryptomatte").iterdir())
    assert len(files) == T
    for t, path in enumerate(files):
        with OpenEXR.File(str(path), separate_channels=True) as f:
            header, channels = f.header(), f.channels()
            keys = {k.split("/")[1] for k in header if k.startswith("cryptomatte/")}
            assert len(keys) == 1
            meta = {k.split("/")[2]: v for k, v in header.items() if k.startswith("cryptomatte/")}
            assert meta["name"] == "CryptoObject" and meta["hash"] == "MurmurHash3_32"
            assert meta["conversion"] == "uint32_to_float32"
            manifest = json.loads(meta["manifest"])
            assert sorted(manifest) == ["ball", "brick"]
            layers = sorted({n.split(".")[0] for n in channels if n.startswith("CryptoObject0")})
            assert layers == ["CryptoObject00", "CryptoObject01", "CryptoObject02"]
            assert all(channels[f"{layer}.{c}"].pixels.dtype == np.float32 for layer in layers for c in "RGBA")
            # a decoder's matte: the coverage of every rank whose ID is the manifest's
            for oid, name in ((3, "ball"), (7, "brick")):
                wanted = struct.unpack(">f", bytes.fromhex(manifest[name]))[0]
                matte = np.zeros((H, W), np.float32)
                for layer in layers:
                    for id_c, cov_c in (("R", "G"), ("B", "A")):
                        ids = channels[f"{layer}.{id_c}"].pixels
                        matte += np.where(ids == np.float32(wanted), channels[f"{layer}.{cov_c}"].pixels, 0)
                assert np.array_equal(matte, (_labels(t) == oid).astype(np.float32)), (t, name)
            assert (channels["CryptoObject00.R"].pixels[_labels(t) == 0] == 0).all()


@pytest.mark.parametrize("output", ["out.mp4", "frames/f_%03d.png"])
def test_the_default_folder_lies_beside_the_output(clip_and_masks: tuple[Path, Path], tmp_path: Path,
                                                   output: str, capsys, monkeypatch) -> None:  # noqa: ANN001
    """No ``folder``: ``out.mp4`` → ``out.masks`` beside it (not ``./masks-export`` in the
    current folder, which every batch job shared), an image sequence, which owns its folder,
    → ``frames.masks`` beside that folder; the run names it (newcomer reports)."""
    from editor.cli.main import main

    clip, masks = clip_and_masks
    work = tmp_path / "work"
    (work / "frames").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)  # the current folder is not where the masks go
    out = work / output
    assert main(["run", str(clip), "-o", str(out), "--preset", "export-masks", "--masks", str(masks)]) == 0
    expected = work / ("out.masks" if output.endswith(".mp4") else "frames.masks")
    assert f"trackedit: wrote {expected}" in capsys.readouterr().err
    assert sorted(p.name for p in expected.iterdir()) == ["coco.json", "davis", "matte.mp4", "png"]
    assert len(list((expected / "davis").glob("*.png"))) == T
    assert not (tmp_path / "masks-export").exists()


def test_mattes_carry_the_sources_timecode(tmp_path: Path) -> None:
    """A MOV with a timecode track (01:00:00:00): the matte and the ProRes clips carry it too,
    so an editor that places clips by timecode lines them up with the video (a new user's
    ProRes mattes had none while the edited video kept it)."""
    import av

    src = tmp_path / "tc.mov"
    with av.open(str(src), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.metadata["timecode"] = "01:00:00:00"
        for t in range(T):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.full((H, W, 3), 20 * t, np.uint8), format="rgb24")))
        out.mux(stream.encode())
    writer = MaskFolderWriter(tmp_path / "masks", {3: "ball", 7: "brick"}, str(src))
    for t in range(T):
        writer.write(t, _labels(t))
    writer.close()
    out_dir = _export(src, tmp_path / "masks", tmp_path / "export", ["matte", "prores"])
    for clip in (out_dir / "matte.mp4", out_dir / "prores" / "3-ball.mov", out_dir / "prores" / "7-brick.mov"):
        with av.open(str(clip)) as container:
            tracks = {(s.type, s.metadata.get("timecode")) for s in container.streams}
            assert ("video", "01:00:00:00") in tracks and ("data", "01:00:00:00") in tracks, (clip.name, tracks)
            assert len(list(container.decode(video=0))) == T
