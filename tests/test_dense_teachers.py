"""The dense model's teachers and pseudo-labels, on real faces: MediaPipe Face Mesh and dlib as
68-point sources, their fitted data, `data pseudolabel` (format, statuses, resume, bad lines) and
the WFLW halves."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from facepoints.data import read_dataset
from facepoints.data.pseudolabel import LABELS_FILE, pseudolabel, read_pseudolabels
from facepoints.errors import DataError
from facepoints.evaluation.metrics import nme_per_face
from facepoints.peers import PEERS, load_images
from facepoints.schemes import project

mediapipe_ok = PEERS.get("mediapipe").available()
teachers_ok = PEERS.get("teachers").available()
needs_teachers = pytest.mark.skipif(
    not teachers_ok, reason="dlib68 and mediapipe are not installed (./dev installs both)"
)


@pytest.fixture(scope="module")
def cuhk_faces(cuhk_root):
    return read_dataset("cuhk5", "test", cuhk_root).subset(slice(0, 12))


def test_wflw68_halves_split_by_photo(wflw_root):
    tune = read_dataset("wflw68", "tune", wflw_root)
    held = read_dataset("wflw68", "heldout", wflw_root)
    every = read_dataset("wflw68", "test", wflw_root)
    assert len(tune) + len(held) == len(every) == 175
    assert not set(tune.images) & set(held.images)  # no photo on both sides
    assert tune.scheme.name == held.scheme.name == "ibug68"
    # the boxes are CUHK-convention boxes: the eyes lie inside, in the upper half
    eyes = project(held.points, "ibug68", "cuhk5")[:, :2]
    b = held.boxes
    inside = (eyes[..., 0] > b[:, None, 0]) & (eyes[..., 0] < b[:, None, 2])
    assert inside.mean() > 0.95
    assert set(held.attributes) == set(tune.attributes) and "occlusion" in held.attributes


@pytest.mark.skipif(not mediapipe_ok, reason="mediapipe is not installed")
def test_mediapipe_mesh_lands_on_cuhk_human_points(cuhk_faces):
    from facepoints.peers.mediapipe_mesh import MediaPipeMesh

    mesh = MediaPipeMesh()
    images = load_images(cuhk_faces)
    verts = np.stack(
        [mesh.predict_mesh(im, b[None])[0] for im, b in zip(images, cuhk_faces.boxes, strict=True)]
    )
    assert verts.shape == (12, 478, 2)
    found = ~np.isnan(verts[:, 0, 0])
    assert found.sum() >= 10
    pts = mesh.predict_faces(images, cuhk_faces.boxes)
    five = project(pts[found], "ibug68", "cuhk5")
    nme = nme_per_face(five, cuhk_faces.points[found], "cuhk5")
    assert np.median(nme) < 0.08, nme


def test_teacher_data_was_fitted_on_the_tune_half():
    from facepoints.peers.teachers import FUSION_STEPS, load_teacher_config

    cfg = load_teacher_config()
    assert len(cfg["mesh_map"]) == 68 and all(0 <= v < 478 for v in cfg["mesh_map"])
    assert set(cfg["mesh_weight"]) <= set(FUSION_STEPS)
    assert cfg["tune_faces"] == 90  # the tune half, never the 85 held-out faces
    assert "tune" in cfg["about"]
    assert cfg["tune_nme"]["fused"] <= min(cfg["tune_nme"]["dlib68"], 0.12)


def test_agreement_is_zero_for_equal_points_and_grows_with_distance():
    from facepoints.peers.teachers import agreement
    from facepoints.schemes import IBUG68

    rng = np.random.default_rng(0)
    a = rng.uniform(0, 100, (3, 68, 2))
    assert np.allclose(agreement(a, a), 0)
    shifted = a + [3.0, 4.0]  # every point 5 px away
    expected = 5.0 / IBUG68.norm_distance(a + [1.5, 2.0])
    assert np.allclose(agreement(a, shifted), expected)


@needs_teachers
def test_pseudolabel_writes_reads_back_and_resumes(cuhk_faces, cuhk_root, tmp_path):
    from facepoints.peers.teachers import Teachers

    teachers = Teachers()
    out = tmp_path / "pl"
    path = pseudolabel([cuhk_faces], out, cuhk_root, teachers=teachers, progress=False, batch=4)
    assert path == out / LABELS_FILE and not (out / (LABELS_FILE + ".partial")).exists()
    every = read_pseudolabels(path, status=None)
    assert len(every) == 12
    kept = read_pseudolabels(path)
    assert 8 <= len(kept) <= 12 and set(kept.sources) == {"ok"}
    # the kept labels agree with CUHK's human points
    idx = [i for i, s in enumerate(every.sources) if s == "ok"]
    five = project(every.points[idx], "ibug68", "cuhk5")
    assert np.mean(nme_per_face(five, cuhk_faces.points[idx], "cuhk5")) < 0.06
    # the images resolve, relative to the list's folder
    assert all(p.is_file() for p in every.images)

    # an interrupted run: a partial list torn mid-line resumes to the same result
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    header = [ln for ln in lines if ln.startswith("#")]
    body = [ln for ln in lines if not ln.startswith("#")]
    path.unlink()
    torn = "".join(header + body[:5]) + body[5][: len(body[5]) // 2]
    (out / (LABELS_FILE + ".partial")).write_text(torn)
    seen = []
    pseudolabel(
        [cuhk_faces],
        out,
        cuhk_root,
        teachers=teachers,
        progress=False,
        batch=4,
        on_batch=seen.append,
    )
    assert seen[0] == 5 + 4  # went on from face 5, not from the start
    assert path.read_text() == text
    # a finished list is reused
    pseudolabel(
        [cuhk_faces], out, cuhk_root, teachers=teachers, progress=False, on_batch=seen.append
    )
    assert seen[-1] == 12


def test_bad_pseudolabel_line_names_file_and_line(tmp_path):
    p = tmp_path / LABELS_FILE
    good = "a.jpg " + " ".join(["1.0"] * 140) + " 0.01 0.02 ok\n"
    p.write_text("# images_root: .\n" + good + good.replace("ok", "maybe"))
    with pytest.raises(DataError) as e:
        read_pseudolabels(p)
    assert f"{p}:3:" in str(e.value) and "status" in str(e.value)
    faces = read_pseudolabels(p, skip_bad=True)
    assert len(faces) == 1 and len(faces.skipped) == 1


@needs_teachers
def test_pseudolabel_cli_small(cuhk_root, tmp_path):
    out = tmp_path / "cli"
    cmd = [
        sys.executable,
        "-m",
        "facepoints",
        "data",
        "pseudolabel",
        "--data-root",
        str(cuhk_root),
        "--splits",
        "test",
        "--max-faces",
        "3",
        "--out",
        str(out),
        "--no-progress",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "3 faces" in r.stdout
    assert len(read_dataset("pseudo68", "all", out)) == 3
    bad = subprocess.run(cmd + ["--teacher", "dlib68,nope"], capture_output=True, text=True)
    assert bad.returncode != 0 and "teachers" in bad.stderr
