"""``export-masks``: write the tracked masks while the video is rendered.

Formats (option ``formats``, any combination):

* ``davis`` — ``FOLDER/davis/00000.png…``: indexed PNG per frame, DAVIS palette, pixel =
  object id, plus ``objects.json`` (the same layout ``trackedit track`` writes) and, when the
  masks come from tracking, ``confidence.json`` (:mod:`editor.tracking.confidence`);
* ``png`` — ``FOLDER/png/<id>[-<name>]/00000.png…``: one binary (0/255) PNG per object
  per frame (the name made a safe file name, :func:`editor.api.names.safe_name`);
* ``coco`` — ``FOLDER/coco.json``: COCO-style instances with RLE segmentations that
  ``pycocotools.mask.decode`` reads (image id = frame index, category id = object id);
* ``matte`` — ``FOLDER/matte.mp4``: black-and-white matte video (white = selected
  objects) with the source's timing, H.264 lossless luma;
* ``exr`` — ``FOLDER/exr/00000.exr…``: one OpenEXR file per frame (scan lines, ZIP
  compression) with one HALF channel per object, named after it (:func:`channel_names`),
  1.0 on the object and 0.0 elsewhere — what Nuke, Blender, Fusion and Resolve read as
  matte channels (OpenEXR file layout: openexr.com, "OpenEXR File Layout"; written with the
  ``OpenEXR`` package of the Academy Software Foundation, the ``exr`` extra);
* ``prores`` — ``FOLDER/prores/<id>[-<name>].mov``: one Apple ProRes 4444 clip per object
  (FFmpeg's ``prores_ks``, profile 4444, ``yuva444p10le``) with the matte both in alpha and
  in luma (white, 255 as RGB, on the object; black elsewhere), at the source's timing (the
  same pts and time base) — a track matte for Premiere Pro and After Effects (alpha or luma)
  and an External Matte for DaVinci Resolve;
* ``cryptomatte`` — ``FOLDER/cryptomatte/00000.exr…``: one OpenEXR file per frame with a
  Cryptomatte of type ``CryptoObject`` (IDs from the objects' names, ranked ID/coverage
  layers, the manifest in the header: :mod:`editor.imaging.cryptomatte`), which Nuke's,
  Blender's and Fusion's Cryptomatte tools pick objects from by name or click.

``FOLDER`` is the ``folder`` option, by default ``<output stem>.masks`` beside the output
video. Everything is written into a temporary folder next to ``FOLDER`` and renamed when the
run succeeds; an existing ``FOLDER`` is then swapped out in one step. An existing, non-empty
``FOLDER`` is replaced only with the run's ``--overwrite`` (the default folder, or a named one
that holds only an earlier export) or ``overwrite = true`` (any folder): :func:`check_folder`.
Frames pass through unchanged, at any depth (``deep=True``).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from editor import hookimpl
from editor.imaging import cryptomatte, rle
from editor.api.errors import OutputError, PresetError
from editor.api.files import AtomicOutput
from editor.api.masks import MaskFolderWriter, present_ids
from editor.api.names import safe_name
from editor.api.stages import FrameItem, Stage, StageContext, StageOptions, StageSpec
from editor.tracking.confidence import ConfidenceCollector
from editor.video.writer import EncodeOptions, VideoWriter

Format = Literal["davis", "png", "coco", "matte", "exr", "prores", "cryptomatte"]

#: The Cryptomatte type written (the name most tools look for first).
CRYPTOMATTE_TYPE = "CryptoObject"

#: ProRes 4444 with alpha: FFmpeg's ``prores_ks`` profile 4 (``4444``), 10-bit 4:4:4 + alpha.
PRORES = EncodeOptions(codec="prores_ks", pix_fmt="yuva444p10le", crf=None, preset=None,
                       options={"profile": "4444"}, audio=False, subtitles=False, other_streams=False,
                       extra_video=False)


def object_labels(names: dict[int, str], ids: list[int]) -> dict[int, str]:
    """One distinct label per object id: its name, ``object-<id>`` when it has none,
    ``<name>-<id>`` when two objects share a name."""
    base = {i: names.get(i, "") or f"object-{i}" for i in ids}
    counts: dict[str, int] = {}
    for n in base.values():
        counts[n] = counts.get(n, 0) + 1
    return {i: n if counts[n] == 1 else f"{n}-{i}" for i, n in base.items()}


def channel_names(names: dict[int, str], ids: list[int]) -> dict[int, str]:
    """EXR channel name of each object id: its label (:func:`object_labels`) with ``.``
    (OpenEXR's layer separator) replaced by ``_``."""
    return object_labels({i: n.replace(".", "_") for i, n in names.items()}, ids)


def openexr():  # noqa: ANN201 - the module
    """The ``OpenEXR`` module; a one-line :class:`PresetError` when it is not installed."""
    try:
        import OpenEXR
    except ImportError as exc:  # pragma: no cover - the `exr` extra
        raise PresetError("export-masks: the exr and cryptomatte formats need the OpenEXR package "
                          "(pip install 'trackedit[exr]')") from exc
    return OpenEXR


def write_exr(path: Path, channels: dict[str, np.ndarray], attributes: dict[str, str] | None = None) -> None:
    """One single-part scan-line OpenEXR file with ZIP compression: ``channels`` maps a
    channel name to an H×W plane, float16 (a HALF channel) or float32 (FLOAT);
    ``attributes``: string attributes added to the header."""
    OpenEXR = openexr()
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage, **(attributes or {})}
    with OpenEXR.File(header, {n: np.ascontiguousarray(c) for n, c in channels.items()}) as f:
        f.write(str(path))


class ExportMasksOptions(StageOptions):
    folder: Path | None = Field(None, description="folder to create; default: beside the output video, named "
                                                  "after it (out.mp4 → out.masks)")
    formats: list[Format] = Field(default_factory=lambda: ["davis"])
    overwrite: bool = False


def default_folder(output: Path | None) -> Path:
    """The export folder when none is given: ``<output stem>.masks`` beside the output video
    (``out.mp4`` → ``out.masks``; an image sequence ``out/frame_%05d.png``, which owns its
    folder, → ``out.masks``), so that the masks land where the video does, not in the current
    folder. Raises :class:`PresetError` when the run has no output path."""
    if output is None:
        raise PresetError("export-masks: give export-masks.folder (this run writes no video to put it beside)")
    output = Path(output).absolute()
    if "%" in output.name:  # an image sequence (out/frame_%05d.png) owns its whole folder: beside it
        return output.parent.with_name(f"{output.parent.name}.masks")
    return output.with_name(f"{output.stem}.masks")


#: What export-masks writes into its folder (the formats' entries): a folder holding nothing
#: else is an earlier export, which the run's ``--overwrite`` replaces.
ENTRIES = frozenset({"davis", "png", "coco.json", "matte.mp4", "exr", "prores", "cryptomatte"})


def check_folder(folder: Path, options: ExportMasksOptions, context: StageContext) -> None:
    """Refuse to replace an existing, non-empty ``folder`` unless allowed: ``overwrite``
    (``export-masks.overwrite=true``) replaces anything; the run's ``--overwrite``
    (``context.overwrite``) replaces the default folder (``<output stem>.masks``, the run's
    own) and an explicitly named folder that holds only what export-masks writes
    (:data:`ENTRIES`: an earlier export). Raises :class:`OutputError` naming the folder."""
    if not folder.exists() or options.overwrite or (folder.is_dir() and not any(folder.iterdir())):
        return
    ours = options.folder is None or (folder.is_dir() and all(p.name in ENTRIES for p in folder.iterdir()))
    if not ours:
        raise OutputError("the masks folder already exists and holds other files than exported masks "
                          "(export-masks.overwrite=true replaces it)", folder)
    if not context.overwrite:
        raise OutputError("the masks folder already exists (use --overwrite to replace it)", folder)


class ExportMasksStage(Stage):
    def __init__(self, options: ExportMasksOptions, context: StageContext) -> None:
        self.options = options
        self.context = context
        self.ids = context.resolve_objects(options.objects)
        self.names = {i: n for i, n in context.object_names.items() if i in self.ids}
        folder = options.folder or default_folder(context.output)
        self.folder = folder
        check_folder(folder, options, context)
        if not folder.parent.exists():
            raise PresetError(f"export-masks: folder {folder.parent} does not exist")
        if {"exr", "cryptomatte"} & set(options.formats):
            openexr()  # before the run (and any temporary folder), not at its first frame
        self._out = AtomicOutput(folder, directory=True)
        self.tmp = self._out.path
        formats = set(options.formats)
        self.davis = MaskFolderWriter(self.tmp / "davis", self.names, context.video.path) if "davis" in formats else None
        self.confidence = ConfidenceCollector()
        self.png = "png" in formats
        self.coco = (self.tmp / ".coco-annotations.jsonl").open("w") if "coco" in formats else None
        self.matte: VideoWriter | None = None
        if "matte" in formats:
            video = context.video
            # a bare video: no audio, subtitles, data streams, chapters or tags of the source
            self.matte = VideoWriter(self.tmp / "matte.mp4", video,
                                     EncodeOptions(crf=0, preset="veryfast", audio=False, subtitles=False,
                                                   other_streams=False))
        self.exr = self.tmp / "exr" if "exr" in formats else None
        if self.exr is not None:
            self.exr.mkdir()
            self.channels = channel_names(self.names, sorted(self.ids))
        self.crypto = self.tmp / "cryptomatte" if "cryptomatte" in formats else None
        if self.crypto is not None:
            self.crypto.mkdir()
            self.crypto_names = object_labels(self.names, sorted(self.ids))
            self.crypto_header = cryptomatte.header(CRYPTOMATTE_TYPE, self.crypto_names)
        self.prores: dict[int, VideoWriter] = {}
        if "prores" in formats:
            (self.tmp / "prores").mkdir()
            for oid in sorted(self.ids):
                name = self.names.get(oid, "")
                path = self.tmp / "prores" / (f"{oid}-{safe_name(name)}.mov" if name else f"{oid}.mov")
                self.prores[oid] = VideoWriter(path, context.video, PRORES)
        self.frames = 0
        self._ann_id = 0

    def process(self, item: FrameItem) -> FrameItem:
        labels = item.labels
        present = [i for i in present_ids(labels) if i in self.ids]
        selected = np.where(np.isin(labels, present), labels, 0).astype(np.uint8)
        if self.davis is not None:
            self.davis.write(item.index, selected)
            self.confidence.add(item.index, {i: c for i, c in item.confidence.items() if i in self.ids})
        if self.png:
            for oid in self.ids:
                name = self.names.get(oid, "")
                d = self.tmp / "png" / (f"{oid}-{safe_name(name)}" if name else str(oid))
                d.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(d / f"{item.index:05d}.png"), ((labels == oid) * 255).astype(np.uint8))
        if self.coco is not None:
            for oid in present:
                m = labels == oid
                self._ann_id += 1
                self.coco.write(json.dumps({"id": self._ann_id, "image_id": item.index, "category_id": oid,
                                            "segmentation": rle.encode(m), "area": rle.area(m),
                                            "bbox": rle.bbox(m), "iscrowd": 0}) + "\n")
        if self.matte is not None:
            matte = np.where(selected > 0, 255, 0).astype(np.uint8)
            # the matte's own pixels: no alpha, and no decoded source planes to pass through
            self.matte.write(dataclasses.replace(item.frame, image=np.repeat(matte[..., None], 3, axis=2),
                                                 alpha=None, planes=None))
        if self.exr is not None:
            write_exr(self.exr / f"{item.index:05d}.exr",
                      {self.channels[oid]: (labels == oid).astype(np.float16) for oid in sorted(self.ids)})
        if self.crypto is not None:
            write_exr(self.crypto / f"{item.index:05d}.exr",
                      cryptomatte.channels(labels, self.crypto_names, CRYPTOMATTE_TYPE), self.crypto_header)
        for oid, writer in self.prores.items():
            matte = np.where(labels == oid, 255, 0).astype(np.uint8)
            writer.write(dataclasses.replace(item.frame, image=np.repeat(matte[..., None], 3, axis=2),
                                             alpha=matte, planes=None))
        self.frames = item.index + 1
        return item

    def finish(self) -> list[Path]:
        if self.davis is not None:
            self.davis.close()
            self.confidence.write(self.davis.folder, self.names)  # confidence.json, when tracked
        if self.matte is not None:
            self.matte.close()
            self.matte = None
        for writer in self.prores.values():
            writer.close()
        self.prores = {}
        if self.coco is not None:
            self.coco.close()
            self.coco = None
            self._write_coco()
        self._out.commit()
        return [self.folder]

    def _write_coco(self) -> None:
        video = self.context.video
        lines = (self.tmp / ".coco-annotations.jsonl").read_text().splitlines()
        doc = {"info": {"description": f"trackedit masks of {video.path}"},
               "images": [{"id": i, "width": video.width, "height": video.height, "file_name": f"{i:05d}.png"}
                          for i in range(self.frames)],
               "categories": [{"id": i, "name": self.names.get(i, "") or f"object {i}"}
                              for i in sorted(self.ids)],
               "annotations": [json.loads(line) for line in lines]}
        (self.tmp / "coco.json").write_text(json.dumps(doc))
        (self.tmp / ".coco-annotations.jsonl").unlink()

    def close(self) -> None:
        if self.matte is not None:
            self.matte.abort()
        for writer in self.prores.values():
            writer.abort()
        if self.coco is not None:
            self.coco.close()
        self._out.discard()


@hookimpl
def editor_register_stages(register):  # noqa: ANN001
    register(StageSpec("export-masks", ExportMasksOptions, ExportMasksStage,
                       "write masks as DAVIS PNGs, per-object PNGs, COCO RLE JSON, a matte video, "
                       "OpenEXR matte channels, ProRes 4444 matte clips and/or Cryptomatte EXRs",
                       deep=True,
                       side_outputs=lambda options, output: [options.folder or default_folder(output)]))
