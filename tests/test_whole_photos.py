"""`bench --whole-photos`: whole photos through each source's own pipeline, misses counted."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from facepoints import FaceLandmarker
from facepoints.errors import ConfigError
from facepoints.evaluation.wild import match_predictions, run_whole


def test_matching_pairs_by_overlap_once_each():
    truth = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [50, 50, 60, 60]], float)
    pred = np.array([[21, 1, 31, 11], [1, 0, 11, 10], [0, 0, 10, 10], [80, 80, 90, 90]], float)
    m = match_predictions(pred, truth)
    assert list(m) == [2, 0, -1]  # the exact box wins face 0; face 2 has no overlap
    assert list(match_predictions(np.zeros((0, 4)), truth)) == [-1, -1, -1]


def test_model_on_300w_photos_finds_and_scores_faces(w300_root):
    r = run_whole(["dense68"], "300w", "test", data_root=str(w300_root), peers=[],
                  max_photos=6, progress=False)  # fmt: skip
    row = r["rows"][0]
    assert r["faces"] == 6 and row["status"] == "ok" and row["scheme"] == "ibug68"
    assert row["found"] >= 5 and 0.01 < row["nme"] < 0.12
    assert row["fr"] >= (row["faces"] - row["found"]) / row["faces"]  # misses are failures


def test_cli_writes_table_with_wflw_attributes(tmp_path, wflw_root):
    r = subprocess.run(
        [sys.executable, "-m", "facepoints", "bench", "dense68", "--whole-photos", "--dataset",
         "wflw68", "--split", "heldout", "--data-root", str(wflw_root), "--max-photos", "3",
         "--peers", "none", "--no-progress", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    result = json.loads((tmp_path / "whole.json").read_text())
    assert result["photos"] == 3 and result["rows"][0]["attributes"]
    assert "per attribute" in (tmp_path / "whole.md").read_text()


def test_landmarker_gives_the_scheme_asked_for(cuhk_root):
    img = cuhk_root / "lfw_5590" / "Aaron_Eckhart_0001.jpg"
    box = np.array([[84, 92, 161, 169]], np.float32)
    dense = FaceLandmarker("dense68", backend="torch", refine=False)
    five = FaceLandmarker("dense68", backend="torch", refine=False, scheme="cuhk5")
    from facepoints.io import load_image
    from facepoints.schemes import project

    rgb = load_image(img)
    p68, p5 = dense.landmarks(rgb, box), five.landmarks(rgb, box)
    assert p68.shape == (1, 68, 2) and p5.shape == (1, 5, 2) and five.scheme.name == "cuhk5"
    np.testing.assert_allclose(p5, project(p68, "ibug68", "cuhk5"), atol=1e-3)
    with pytest.raises(ConfigError, match="cannot give"):
        FaceLandmarker("cuhk5-resnet", scheme="wflw98")


def test_point_groups_on_the_faces_every_source_found(w300_root):
    from facepoints.evaluation.wild import format_whole
    from facepoints.schemes import get_scheme

    r = run_whole(["dense68", "cuhk5-fast"], "300w", "test", data_root=str(w300_root),
                  peers=[], max_photos=6, progress=False, compare="cuhk5")  # fmt: skip
    five = {row["name"]: row for row in r["rows"]}
    assert all(row["groups_faces"] <= row["found"] for row in five.values())
    assert "per point group" not in format_whole(r)  # 5 points: no groups table
    r = run_whole(["dense68"], "300w", "test", data_root=str(w300_root), peers=[],
                  max_photos=6, progress=False)  # fmt: skip
    row = r["rows"][0]
    groups = get_scheme("ibug68").groups
    assert set(row["groups"]) == set(groups) | {"all"} and "_errors" not in row
    # with one source, its common faces are its found faces: "all" is the NME column, and the
    # groups' point-weighted mean is "all" again
    assert row["groups_faces"] == row["found"]
    assert abs(row["groups"]["all"] - row["nme"]) < 1e-9
    mean = sum(row["groups"][g] * len(idx) for g, idx in groups.items()) / 68
    assert abs(mean - row["groups"]["all"]) < 1e-9
    assert row["groups"]["contour"] > row["groups"]["eyes"]  # the jaw line is the vaguest
    assert "NME per point group on the" in format_whole(r)
