"""The 300-W reader (`.pts` folders) on the real HELEN and AFW faces, and its one-line errors."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from facepoints.data import detect_dataset, read_dataset
from facepoints.data.stats import compute_stats
from facepoints.data.w300 import PTS_ORIGIN, read_pts, read_pts_folders, write_pts
from facepoints.errors import DataError
from facepoints.io import load_image
from facepoints.schemes import IBUG68


def test_splits_hold_the_documented_faces(w300_root):
    train = read_dataset("300w", "train", data_root=w300_root)
    test = read_dataset("300w", "test", data_root=w300_root)
    assert (len(train), len(test)) == (870 + 337, 330)
    assert train.scheme is IBUG68 and test.scheme is IBUG68
    assert set(train.sources) == {"helen", "afw"} and set(test.sources) == {"helen"}
    assert not {p.name for p in train.images} & {p.name for p in test.images}
    assert detect_dataset(w300_root) == "300w"


def test_points_match_the_files_and_lie_on_the_face(w300_root):
    test = read_dataset("300w", "test", data_root=w300_root)
    pts_file = test.images[0].with_suffix(".pts")
    raw = np.array([[float(v) for v in s.split()] for s in pts_file.read_text().splitlines()[3:71]])
    np.testing.assert_allclose(test.points[0], raw - PTS_ORIGIN, atol=1e-3)
    # every face's box holds its eyes and mouth, and the image is bigger than the box's centre
    for i in range(0, len(test), 33):
        x1, y1, x2, y2 = test.boxes[i]
        inner = test.points[i][36:68]
        assert (inner[:, 0] > x1).all() and (inner[:, 0] < x2).all()
        assert (inner[:, 1] > y1).all() and (inner[:, 1] < y2).all()
        h, w = load_image(test.images[i]).shape[:2]
        assert 0 < (x1 + x2) / 2 < w and 0 < (y1 + y2) / 2 < h
    # the outer eye corners: image-left eye (36) is left of the other (45) on upright faces
    assert np.mean(test.points[:, 36, 0] < test.points[:, 45, 0]) > 0.95


def test_pts_without_header_and_other_point_counts(tmp_path, w300_root):
    src = sorted((w300_root / "helen" / "testset").glob("*.pts"))[0]
    lines = src.read_text().splitlines()
    bare = "\n".join(lines[3:71]) + "\n"
    shutil.copy(src.with_suffix(".jpg"), tmp_path / "a.jpg")
    (tmp_path / "a.pts").write_text(bare)
    np.testing.assert_allclose(read_pts(tmp_path / "a.pts"), read_pts(src))
    five = "version: 1\nn_points: 5\n{\n" + "\n".join(lines[3:8]) + "\n}\n"
    (tmp_path / "a.pts").write_text(five)
    recs = read_pts_folders([tmp_path])
    assert recs.scheme.num_points == 5 and len(recs) == 1


@pytest.mark.parametrize(
    "text, line, fault",
    [
        ("version: 1\nn_points: 68\n{\n1 2\n}\n", None, "n_points says 68"),
        ("version: 1\nn_points: 1\n{\n1 x\n}\n", 4, "not a number"),
        ("version: 1\nn_points: 1\n{\n1 2 3\n}\n", 4, "expected 2 numbers"),
        ("version: 1\nn_points: 1\n{\n1 2\n", None, "missing the closing brace"),
        ("version: 1\nn_points: 1\n{\n1 2\n}\n3 4\n", 6, "after the closing brace"),
        ("version: 1\nn_points: 1\n{\nnan 2\n}\n", 4, "non-finite"),
    ],
)
def test_bad_pts_names_file_line_and_fault(tmp_path, text, line, fault):
    f = tmp_path / "bad.pts"
    f.write_text(text)
    with pytest.raises(DataError) as e:
        read_pts(f)
    assert fault in e.value.message
    assert e.value.path == str(f) and e.value.line == line


def test_missing_image_and_skip_bad(tmp_path, w300_root):
    src = sorted((w300_root / "helen" / "testset").glob("*.pts"))[:2]
    for s in src:
        shutil.copy(s, tmp_path / s.name)
    shutil.copy(src[0].with_suffix(".jpg"), tmp_path / src[0].with_suffix(".jpg").name)
    with pytest.raises(DataError, match="no image beside it"):
        read_pts_folders([tmp_path])
    recs = read_pts_folders([tmp_path], skip_bad=True)
    assert len(recs) == 1 and len(recs.skipped) == 1
    assert recs.skipped[0].path.endswith(src[1].name)


def test_stats_and_show_commands_work_on_300w(tmp_path, w300_root):
    test = read_dataset("300w", "test", data_root=w300_root)
    stats = compute_stats({"test": test}, progress=False)
    assert stats["groups"]["test"]["faces"] == 330 and stats["num_points"] == 68
    out = tmp_path / "show.jpg"
    r = subprocess.run(
        [sys.executable, "-m", "facepoints", "data", "show", "--dataset", "300w", "--split",
         "test", "--data-root", str(w300_root), "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert out.is_file() and out.stat().st_size > 10_000


def test_five_point_views_for_five_point_models(w300_root, wflw_root):
    """300w5 / wflw5: the same faces and boxes in CUHK's five points (eye centres from the eye
    contours, or WFLW's pupils), so a 5-point model can learn from them; never guessed from a
    folder."""
    import json

    from facepoints.schemes import project

    full, five = read_dataset("300w", "test", w300_root), read_dataset("300w5", "test", w300_root)
    assert five.scheme.name == "cuhk5" and len(five) == len(full)
    assert np.array_equal(five.boxes, full.boxes) and five.images == full.images
    eyes = full.points[:, 36:42].mean(axis=1)  # the image-left eye's six contour points
    assert np.allclose(five.points[:, 0], eyes, atol=1e-3)
    assert np.allclose(five.points, project(full.points, "ibug68", "cuhk5"))
    tune = read_dataset("wflw5", "tune", wflw_root)
    assert tune.scheme.name == "cuhk5"
    assert np.allclose(
        tune.points[:, :2], read_dataset("wflw98", "tune", wflw_root).points[:, 96:98]
    )
    assert detect_dataset(w300_root) == "300w"
    # the shipped default learned from them, from a CUHK-only first step
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    mix = json.loads((root / "recipes" / "cuhk5-fast-mix.json").read_text())
    assert {p["dataset"] for p in mix["mix"].values()} == {"cuhk5", "300w5", "wflw5"}
    assert mix["init"] == "runs/cuhk5-fast-cuhk"
    # and last from turned copies of the 300-W training faces (`facepoints data turn`)
    recipe = json.loads((root / "recipes" / "cuhk5-fast.json").read_text())
    assert recipe["init"] == "runs/cuhk5-fast-mix"
    roots = {p["data_root"] for p in recipe["mix"].values() if p["dataset"] == "300w5"}
    assert roots == {"../shared/data/300w", "runs/300w-turned"}
    first = json.loads((root / "recipes" / "cuhk5-fast-cuhk.json").read_text())
    assert first["dataset"] == "cuhk5" and not first.get("mix") and not first.get("init")


def test_write_pts_is_read_back_the_same(tmp_path, w300_root):
    src = sorted((w300_root / "helen" / "testset").glob("*.pts"))[0]
    pts = read_pts(src)
    write_pts(tmp_path / "face.pts", pts)
    assert not list(tmp_path.glob("*.tmp"))
    np.testing.assert_allclose(read_pts(tmp_path / "face.pts"), pts, atol=1e-3)
    assert (tmp_path / "face.pts").read_text().startswith("version: 1\nn_points: 68\n{\n")
