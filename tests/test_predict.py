"""`facepoints predict`: a folder with good and bad files, a single bad file, --demo, given boxes,
equal names from different folders, usage errors, and the JSON schema."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from facepoints.cli import main
from facepoints.models import create_model, save_model

RECORD_KEYS = {"file", "width", "height", "faces", "annotated", "error"}
FACE_KEYS = {"box", "score", "landmarks", "points", "confidence", "landmark_score", "scheme"}
ANALYSIS_KEYS = {"pose", "openness", "smile"}  # what the points say about the face


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    torch.manual_seed(0)
    m = create_model("resnet", input_size=64, width=16, depth=[1, 1, 1, 1])
    path = tmp_path_factory.mktemp("model") / "m.safetensors"
    save_model(m, path, {"margin": 0.2})
    return str(path)


@pytest.fixture(scope="module")
def photos(cuhk_root):
    from facepoints.data import read_dataset

    recs = read_dataset("cuhk5", "test", cuhk_root)
    return recs.subset(np.linspace(0, len(recs) - 1, 5).round().astype(int))


def run(capsys, *args):
    code = main(["predict", "--no-progress", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_folder_with_bad_files(tmp_path, capsys, model, photos):
    src = tmp_path / "photos"
    src.mkdir()
    for p in photos.images:
        shutil.copy(p, src / p.name)
    (src / "broken.jpg").write_bytes(photos.images[0].read_bytes()[:2000])
    (src / "notes.jpg").write_text("not an image\n")
    (src / "readme.txt").write_text("ignored: not an image suffix\n")
    out = tmp_path / "out"
    code, stdout, err = run(capsys, src, "--model", model, "--out", out, "--min-face", 40)

    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 2
    assert "broken.jpg" in lines[0] and "notes.jpg" in lines[1]
    recs = read_jsonl(out / "predictions.jsonl")
    assert len(recs) == 7 and all(set(r) == RECORD_KEYS for r in recs)
    good = [r for r in recs if r["error"] is None]
    assert sorted(r["file"].split("/")[-1] for r in good) == sorted(p.name for p in photos.images)
    for r in good:
        assert (r["width"], r["height"]) == (250, 250) or r["width"] > 0
        assert (out / r["annotated"].split("/")[-1]).is_file()
        for f in r["faces"]:
            assert set(f) == FACE_KEYS | ANALYSIS_KEYS and len(f["landmarks"]) == 5
            assert f["openness"] is None and set(f["pose"]) >= {"yaw", "pitch", "roll"}
    bad = [r for r in recs if r["error"]]
    assert {r["file"].split("/")[-1] for r in bad} == {"broken.jpg", "notes.jpg"}
    assert all(r["faces"] == [] and r["annotated"] is None for r in bad)
    assert "5 images" in stdout and "2 errors" in stdout
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_single_bad_file_is_one_line(tmp_path, capsys, model):
    bad = tmp_path / "x.jpg"
    bad.write_text("hello")
    code, _, err = run(capsys, bad, "--model", model, "--out", tmp_path / "out")
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "x.jpg" in lines[0] and "not an image" in lines[0]
    code, _, err = run(capsys, tmp_path / "missing.png", "--model", model, "--out", tmp_path)
    assert code != 0 and len(err.strip().splitlines()) == 1 and "missing.png" in err
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, tmp_path / "empty", "--model", model, "--out", tmp_path / "o")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "no images" in err


def test_demo_writes_an_annotated_image(tmp_path, capsys, model):
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "--demo", "--model", model, "--out", out, "--no-refine")
    assert code == 0, err
    assert (out / "demo.jpg").is_file()
    rec = json.loads((out / "predictions.json").read_text())
    assert set(rec) == RECORD_KEYS and rec["file"].startswith("demo:") and rec["error"] is None
    assert "1 image" in stdout


def test_tta_averages_over_box_scales(tmp_path, capsys, photos):
    """--tta: the same faces, their points the landmarker's with tta=True (each face averaged
    over box scales on its last pass), near the plain points and not equal to them."""
    from facepoints import FaceLandmarker
    from facepoints.io import load_image

    got = {}
    for flag in ((), ("--tta",)):
        out = tmp_path / ("tta" if flag else "plain")
        code, _, err = run(capsys, photos.images[0], "--model", "dense98-fast", "--out", out, *flag)
        assert code == 0, err
        got[bool(flag)] = json.loads((out / "predictions.json").read_text())["faces"]
    assert len(got[True]) == len(got[False]) >= 1
    tta = np.array(got[True][0]["landmarks"])
    plain = np.array(got[False][0]["landmarks"])
    eyes = np.linalg.norm(plain[60] - plain[72])
    assert (
        0 < np.abs(tta - plain).max() and np.linalg.norm(tta - plain, axis=1).mean() < 0.05 * eyes
    )
    want = FaceLandmarker("dense98-fast", tta=True).detect(load_image(photos.images[0]))[0]
    np.testing.assert_allclose(tta, want.landmarks, atol=0.05)


def test_given_boxes_and_equal_names(tmp_path, capsys, model, photos):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    shutil.copy(photos.images[0], a / "face.jpg")
    shutil.copy(photos.images[1], b / "face.jpg")
    boxes = tmp_path / "boxes.txt"
    x1, y1, x2, y2 = photos.boxes[0]
    boxes.write_text(f"{a / 'face.jpg'} {x1} {y1} {x2} {y2}\n{b / 'face.jpg'} 10 10 90 90\n")
    out = tmp_path / "out"
    code, _, err = run(capsys, a, b, "--model", model, "--out", out, "--boxes-from", boxes)
    assert code == 0, err
    assert (out / "face.jpg").is_file() and (out / "face_2.jpg").is_file()
    recs = read_jsonl(out / "predictions.jsonl")
    assert [r["faces"][0]["box"] for r in recs] == [
        [round(float(v), 2) for v in photos.boxes[0]],
        [10.0, 10.0, 90.0, 90.0],
    ]
    assert all(r["faces"][0]["score"] is None for r in recs)
    # the results of a run are boxes for the next; one image and a .json path: one object
    code, _, err = run(
        capsys, a / "face.jpg", "--model", model, "--out", out, "--no-save",
        "--boxes-from", out / "predictions.jsonl", "--json", tmp_path / "one.json",
    )  # fmt: skip
    assert code == 0, err
    rec = json.loads((tmp_path / "one.json").read_text())
    assert rec["faces"][0]["box"] == recs[0]["faces"][0]["box"] and rec["annotated"] is None


def test_usage_errors(tmp_path, capsys, model):
    code, _, err = run(capsys, "--model", model)
    assert code == 2 and "nothing to do" in err
    code, _, err = run(capsys, "--demo", "--model", model, "--threads", 0)
    assert code == 2
    with pytest.raises(SystemExit) as e:
        main(["predict", "--backend", "jax", "x.jpg"])
    assert e.value.code == 2
