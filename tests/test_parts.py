"""Part refiners: patch geometry, the shipped dense98-parts on real 300-W validation faces, and
`facepoints train-parts` on real data (tiny, resumed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facepoints.errors import ConfigError
from facepoints.inference.parts import (
    PartRefiner,
    PartSpec,
    _back,
    part_instances,
    part_matrices,
)
from facepoints.schemes import get_scheme

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
W300 = SHARED / "300w"
S68 = get_scheme("ibug68")
EYE = PartSpec("eye", tuple(f"eye_left_{i}" for i in range(6)), 0.75, 48)
NOSE = PartSpec("nose", tuple(S68.names[i] for i in S68.groups["nose"]), 1.0, 56)


def _face() -> np.ndarray:
    from facepoints.schemes import mean_face

    return (np.asarray(mean_face(S68), np.float64) * 200 + 100)[None]


def test_instances_pair_the_eyes_and_read_the_nose_twice():
    (left, a), (right, b) = part_instances(EYE, S68)
    assert not a and b
    assert [S68.names[i] for i in left] == list(EYE.points)
    assert all(S68.names[i].startswith("eye_right_") for i in right)
    (n1, _), (n2, _) = part_instances(NOSE, S68)
    assert sorted(n1) == sorted(n2) and list(n1) != list(n2)


def test_patch_is_upright_centred_and_mirrored():
    pts = _face()
    (left, _), (right, mirror) = part_instances(EYE, S68)
    m = part_matrices(pts, left, False, EYE, S68)
    q = pts[0] @ m[0, :, :2].T + m[0, :, 2]
    assert np.allclose(q[left].mean(0), (EYE.size - 1) / 2)
    a, b = S68.norm_pair
    assert abs(q[a[0], 1] - q[b[0], 1]) < 1e-6  # the eye line is level in the patch
    # the other eye, mirrored, lies as the first one does: outer corner on the left
    mr = part_matrices(pts, right, mirror, EYE, S68)
    qr = pts[0] @ mr[0, :, :2].T + mr[0, :, 2]
    assert qr[right[0], 0] < qr[right[3], 0]
    assert np.allclose(_back(mr, qr[None, right])[0], pts[0, right])


def test_patch_follows_a_turned_face():
    pts = _face()
    t = np.deg2rad(30)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    turned = (pts - 200) @ rot.T + 200
    (left, _), _ = part_instances(EYE, S68)
    q0 = pts[0] @ part_matrices(pts, left, False, EYE, S68)[0, :, :2].T
    q1 = turned[0] @ part_matrices(turned, left, False, EYE, S68)[0, :, :2].T
    assert np.allclose(q0 - q0.mean(0), q1 - q1.mean(0), atol=1e-6)


def test_unknown_point_name_is_one_clear_error():
    with pytest.raises(ConfigError, match="part lid"):
        part_instances(PartSpec("lid", ("eyelid_0",), 1.0, 32), S68)


@pytest.mark.skipif(not W300.is_dir(), reason="needs ../shared/data/300w")
def test_shipped_refiners_lower_dense98_error_on_validation_faces():
    """dense98's 68 points on held-out 300-W training faces (never test faces), with and
    without the shipped refiners, through the public landmarker."""
    from facepoints import FaceLandmarker
    from facepoints.data import read_dataset
    from facepoints.io import load_image

    val = read_dataset("300w", "train", W300).split(0.1, 0)[1].subset(slice(0, 40))
    plain = FaceLandmarker("dense98", scheme="ibug68")
    refined = FaceLandmarker("dense98", scheme="ibug68", parts=True)
    assert refined._parts is not None and plain._parts is None
    errs = []
    for lm in (plain, refined):
        p = np.array([lm.landmarks(load_image(f), val.boxes[i : i + 1])[0]
                      for i, f in enumerate(val.images)])  # fmt: skip
        norm = np.linalg.norm(val.points[:, 45] - val.points[:, 36], axis=1)
        errs.append((np.linalg.norm(p - val.points, axis=2).mean(1) / norm).mean())
    assert errs[1] < errs[0] - 0.0005, errs


def test_refiners_only_where_they_apply():
    from facepoints import FaceLandmarker

    assert FaceLandmarker("dense98", scheme=68)._parts is None  # off unless asked for
    with pytest.raises(ConfigError, match="refines ibug68 points, not wflw98"):
        FaceLandmarker("dense98", parts=True)  # 98 points asked: not the refiners' markup
    with pytest.raises(ConfigError, match="no shipped part refiners"):
        FaceLandmarker("cuhk5-fast", parts=True)
    r = PartRefiner("dense98-parts")
    out = r.refine(np.zeros((64, 64, 3), np.uint8), np.full((1, 68, 2), np.nan, np.float32))
    assert np.isnan(out).all()  # a face without points is given back as it came
    with pytest.raises(ConfigError, match=r"need points \(N, 68, 2\)"):
        r.refine(np.zeros((64, 64), np.uint8), np.zeros((1, 5, 2), np.float32))


@pytest.mark.skipif(not W300.is_dir(), reason="needs ../shared/data/300w")
def test_train_parts_runs_and_resumes(tmp_path):
    recipe = json.loads((REPO / "recipes" / "dense98-parts.json").read_text())
    recipe["parts"] = recipe["parts"][:1]
    recipe["mix"] = {"300w": {**recipe["mix"]["300w"], "data_root": str(W300)}}
    recipe.update(steps=12, eval_every=6, batch_size=8, val_fraction=0.02, threads=1)
    cfg = tmp_path / "recipe.json"
    cfg.write_text(json.dumps(recipe))
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "facepoints", "train-parts", "--config", str(cfg), "--out",
           str(out)]  # fmt: skip
    first = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "eye: step 12/12" in first.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["parts"]["eye"]["steps"] == 12
    r = PartRefiner(out / "parts.safetensors")
    assert [s.name for s, _ in r.parts] == ["eye"]
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert again.returncode == 0 and "eye: done before" in again.stdout
    # another recipe in the same run folder is refused with one line
    recipe["steps"] = 13
    cfg.write_text(json.dumps(recipe))
    other = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert other.returncode != 0 and "other settings" in other.stderr
