"""The prompt contract: parsing, validation messages, TOML, round trip."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from editor.api.errors import PromptError
from editor.api.errors import PresetError
from editor.api.prompts import Prompt, load_prompts, parse_prompts
from editor.api.stages import select_objects

GOOD = {"version": 1, "objects": [
    {"id": 1, "name": "bunny", "prompts": [
        {"frame": 0, "points": [[320, 150], [300, 40]], "labels": [1, 0]},
        {"frame": 0, "box": [280, 60, 380, 250]},
        {"frame": 120, "points": [[400, 160]], "labels": [1]}]},
    {"id": 7, "prompts": [{"frame": 5, "points": [[10, 10]]}]}]}


def test_parse_good_file(tmp_path: Path) -> None:
    p = tmp_path / "p.json"
    p.write_text(json.dumps(GOOD))
    ps = load_prompts(p)
    assert ps.ids == [1, 7]
    assert ps.frames() == [0, 5, 120]
    bunny = ps.objects[0]
    assert bunny.first_frame == 0
    assert bunny.prompts[0].positive_points == [(320.0, 150.0)]
    assert bunny.prompts[0].negative_points == [(300.0, 40.0)]
    assert ps.objects[1].prompts[0].labels == (1,)  # labels default to include
    assert set(ps.on_frame(0)) == {1} and len(ps.on_frame(0)[1]) == 2
    assert select_objects(["bunny", 7, "9"], ps.names()) == {1, 7, 9}
    assert select_objects("all", ps.names()) == {1, 7}
    with pytest.raises(PresetError, match="no object named 'cat'"):
        select_objects(["cat"], ps.names())


def test_toml_equivalent(tmp_path: Path) -> None:
    p = tmp_path / "p.toml"
    p.write_text("""version = 1
[[objects]]
id = 1
name = "bunny"
[[objects.prompts]]
frame = 3
points = [[10, 20]]
labels = [1]
""")
    ps = load_prompts(p)
    assert ps.objects[0].prompts[0] == Prompt(3, ((10.0, 20.0),), (1,))


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d.update(extra=1), "unknown key(s) 'extra'"),
    (lambda d: d["objects"][0].update(colour="red"), "objects[0]: unknown key(s) 'colour'"),
    (lambda d: d["objects"][0]["prompts"][0].update(pointz=[]), "object 1 ('bunny'), prompt 0: unknown key(s) 'pointz'"),
    (lambda d: d["objects"][0]["prompts"][0].update(labels=[1]), "labels must be a list of 2 values"),
    (lambda d: d["objects"][0]["prompts"][0].update(labels=[1, 2]), "labels[1] must be 1 (include) or 0"),
    (lambda d: d["objects"][0]["prompts"][1].update(box=[380, 60, 280, 250]), "x0 < x1"),
    (lambda d: d["objects"][0]["prompts"][0].pop("frame"), "prompt 0: missing 'frame'"),
    (lambda d: d["objects"][0]["prompts"][0].update(frame=-1), "frame must be a non-negative integer"),
    (lambda d: d["objects"][1].update(id=1), "duplicate id 1"),
    (lambda d: d["objects"][1].update(id=300), "id must be an integer 1..255"),
    (lambda d: d.update(version=2), "unsupported version 2"),
    (lambda d: d.update(objects=[]), "'objects' must be a non-empty list"),
    (lambda d: d["objects"][0]["prompts"][2].update(mask="nope.png"), "mask file"),
    (lambda d: d["objects"][0]["prompts"][0].update(points=[[1, "a"]]), "points[0] must be [x, y] numbers"),
])
def test_validation_messages_name_the_place(tmp_path: Path, mutate, expected: str) -> None:
    data = json.loads(json.dumps(GOOD))
    mutate(data)
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(data))
    with pytest.raises(PromptError) as err:
        load_prompts(p)
    message = str(err.value)
    assert expected in message
    assert str(p) in message and "\n" not in message


def test_validate_against_video(tmp_path: Path) -> None:
    ps = parse_prompts(GOOD, tmp_path / "p.json")
    ps.validate_for_video(640, 480, 200)
    with pytest.raises(PromptError, match=r"frame 120 is past the end \(the video has 100 frames\)"):
        ps.validate_for_video(640, 480, 100)
    with pytest.raises(PromptError, match=r"object 1 \('bunny'\), prompt 0: points\[0\] \(320, 150\) is outside"):
        ps.validate_for_video(300, 480, 200)
    with pytest.raises(PromptError, match="box .* goes outside"):
        ps.validate_for_video(350, 480, 200)


def test_not_json_and_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "p.json"
    p.write_text("{not json")
    with pytest.raises(PromptError, match="not valid JSON"):
        load_prompts(p)
    with pytest.raises(PromptError, match="no such prompts file"):
        load_prompts(tmp_path / "missing.json")


def test_mask_prompt_and_round_trip(tmp_path: Path) -> None:
    (tmp_path / "masks").mkdir()
    m = np.zeros((48, 64), np.uint8)
    m[10:20, 30:40] = 255
    Image.fromarray(m).save(tmp_path / "masks" / "obj.png")
    data = {"version": 1, "objects": [{"id": 2, "name": "thing", "prompts": [
        {"frame": 4, "mask": "masks/obj.png"}, {"frame": 9, "points": [[5, 6]], "labels": [1]}]}]}
    src = tmp_path / "p.json"
    src.write_text(json.dumps(data))
    ps = load_prompts(src)
    assert ps.objects[0].prompts[0].mask == tmp_path / "masks" / "obj.png"
    ps.validate_for_video(64, 48, 10)
    with pytest.raises(PromptError, match="mask .* is 64x48, the video is 65x48"):
        ps.validate_for_video(65, 48, 10)
    out = ps.save(tmp_path / "again.json")
    assert json.loads(out.read_text()) == data
    assert load_prompts(out) == ps.__class__(ps.objects, out)


def test_embedded_masks_travel_inside_the_prompts_file(tmp_path: Path) -> None:
    """``PromptSet.embedded`` carries mask files inside the prompts (``data:image/png;base64``):
    the file replays after the masks are gone (the web UI's download), to the same pixels,
    also for a palette label map holding several objects; broken data is a one-line error."""
    labels = np.zeros((48, 64), np.uint8)
    labels[10:20, 30:40], labels[30:40, 5:15] = 3, 7
    img = Image.fromarray(labels)
    img.putpalette([0, 0, 0, 255, 0, 0] * 128)  # an L image with a palette becomes indexed (P)
    assert img.mode == "P"
    img.save(tmp_path / "labels.png")
    data = {"version": 1, "objects": [{"id": 3, "name": "a", "prompts": [
        {"frame": 2, "points": [[35, 15]], "labels": [1], "mask": "labels.png"}]}]}
    (tmp_path / "p.json").write_text(json.dumps(data))
    ps = load_prompts(tmp_path / "p.json")
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    out = ps.embedded().save(moved / "p.json")
    (tmp_path / "labels.png").unlink()  # the mask file is gone
    saved = json.loads(out.read_text())["objects"][0]["prompts"][0]
    assert saved["mask"].startswith("data:image/png;base64,") and saved["points"] == [[35, 15]]
    again = load_prompts(out)
    (p,) = again.objects[0].prompts
    assert p.mask is None and p.has_mask and np.array_equal(p.mask_image(3), labels == 3)
    again.validate_for_video(64, 48, 5)
    with pytest.raises(PromptError, match=r"mask \(embedded\) is 64x48, the video is 64x50"):
        again.validate_for_video(64, 50, 5)
    assert load_prompts(again.save(moved / "q.json")) == again.__class__(again.objects, moved / "q.json")
    import base64

    png = (moved / "q.json").read_text().split("base64,")[1].split('"')[0]
    half = base64.b64encode(base64.b64decode(png)[:60]).decode()
    for bad, why in (("data:image/png;base64,@@@", "not valid base64"),
                     ("data:image/png;base64,aGVsbG8=", "not a PNG image"),
                     ("data:image/jpeg;base64," + png, "must be data:image/png;base64"),
                     ("data:image/png;base64," + half, "prompt 0: mask: the embedded PNG is not a readable image")):
        (moved / "bad.json").write_text(json.dumps({"objects": [{"id": 1, "prompts": [{"frame": 0, "mask": bad}]}]}))
        with pytest.raises(PromptError, match=why) as err:
            load_prompts(moved / "bad.json")
        assert "\n" not in str(err.value) and "bad.json" in str(err.value)


def test_a_one_bit_mask_reads_back_as_it_was_written() -> None:
    """A detector's mask (``encode_mask_png``: a 1-bit PNG) reads back bit for bit as a
    writable bool array (read straight from its bits, not through 8 bits), and a truncated
    one is the one-line error of any unreadable mask."""
    from editor.api.masks import encode_mask_png
    from editor.api.prompts import load_mask_file

    rng = np.random.default_rng(3)
    mask = rng.random((37, 53)) > 0.6
    mask[0, 0], mask[-1, -1] = True, False
    data = encode_mask_png(mask)
    back = load_mask_file(data, 1)
    assert back.dtype == bool and back.shape == mask.shape and np.array_equal(back, mask)
    back[0, 0] = False  # the caller's own array
    with pytest.raises(PromptError, match="an embedded mask is not a readable image"):
        load_mask_file(data[: len(data) // 2], 1)
