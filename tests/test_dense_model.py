"""The shipped dense model (`dense68`): loads by name, lands on CUHK's human points, works through
the API, `predict` and ONNX, and the lipstick filter follows its lip contours."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from facepoints.data import read_dataset
from facepoints.evaluation.metrics import nme_per_face
from facepoints.inference.landmarker import FaceLandmarker
from facepoints.io import load_image
from facepoints.models.pretrained import list_pretrained, resolve_model
from facepoints.schemes import project

NAME = "dense68"


@pytest.fixture(scope="module")
def faces(cuhk_root):
    return read_dataset("cuhk5", "test", cuhk_root).subset(slice(0, 16))


@pytest.fixture(scope="module")
def landmarker():
    return FaceLandmarker(model=NAME, threads=1)


def test_dense68_ships_with_its_card():
    assert NAME in list_pretrained()
    loaded = resolve_model(NAME)
    assert loaded.scheme.name == "ibug68" and loaded.model.num_points == 68
    meta = loaded.metadata
    assert meta.get("dataset") == "wflw68"  # fine-tuned on the WFLW sample's tune half
    from facepoints.models.pretrained import WEIGHTS_DIR

    card = (WEIGHTS_DIR / f"{NAME}.md").read_text()
    for words in ("pseudo-label", "dlib", "MediaPipe", "held-out", "tune"):
        assert words.lower() in card.lower(), words


def test_dense68_lands_on_cuhk_human_points(faces, landmarker):
    pts = np.stack(
        [
            landmarker.landmarks(load_image(p), b[None])[0]
            for p, b in zip(faces.images, faces.boxes, strict=True)
        ]
    )
    assert pts.shape == (16, 68, 2)
    nme = nme_per_face(project(pts, "ibug68", "cuhk5"), faces.points, "cuhk5")
    assert np.median(nme) < 0.07, nme


def test_onnx_backend_matches_torch(faces, landmarker):
    onnx = FaceLandmarker(model=NAME, backend="onnx", threads=1)
    image = load_image(faces.images[0])
    a = landmarker.landmarks(image, faces.boxes[:1])
    b = onnx.landmarks(image, faces.boxes[:1])
    assert np.abs(a - b).max() < 0.05


def test_predict_cli_gives_68_named_points(faces, tmp_path):
    out = tmp_path / "p.json"
    r = subprocess.run(
        [sys.executable, "-m", "facepoints", "predict", str(faces.images[0]), "--model", NAME,
         "--json", str(out), "--out", str(tmp_path / "drawn")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    face = json.loads(out.read_text())["faces"][0]
    assert face["scheme"] == "ibug68" and len(face["landmarks"]) == 68
    assert len(face["points"]) == 68 and "jaw_8" in face["points"]


def test_lipstick_follows_the_dense_lips(faces, landmarker):
    import cv2

    from facepoints.filters import apply_filters

    image = load_image(faces.images[1])
    face = landmarker.detect(image, boxes=faces.boxes[1:2])[0]
    out = apply_filters(image, [face], ["lipstick"])
    changed = np.abs(out.astype(int) - image.astype(int)).sum(axis=2) > 6
    lips = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(lips, [np.round(face.landmarks[48:60]).astype(np.int32)], 1)
    near = cv2.dilate(lips, np.ones((7, 7), np.uint8)).astype(bool)
    assert changed[lips.astype(bool)].mean() > 0.5  # the lips are coloured
    assert not changed[~near].any()  # and nothing away from them
    # redder where coloured
    diff = out.astype(int) - image.astype(int)
    assert diff[changed][:, 0].mean() > diff[changed][:, 1].mean()


def test_lipstick_with_five_points_places_a_generic_mouth(faces):
    from facepoints.filters import apply_filters
    from facepoints.filters.lipstick import lip_contours

    five = FaceLandmarker(model="cuhk5-resnet", threads=1)
    image = load_image(faces.images[2])
    face = five.detect(image, boxes=faces.boxes[2:3])[0]
    outer, inner = lip_contours(face)
    assert outer.shape == (12, 2) and inner.shape == (8, 2)
    # the generic mouth's corners are at the face's mouth corners (within 5% of the eye distance:
    # the generic face is fitted to all five points at once)
    iod = float(np.linalg.norm(face.landmarks[0] - face.landmarks[1]))
    assert np.linalg.norm(outer[[0, 6]] - face.landmarks[[3, 4]], axis=1).max() < 0.05 * iod
    out = apply_filters(image, [face], ["lipstick"])
    changed = np.abs(out.astype(int) - image.astype(int)).sum(axis=2) > 6
    ys, xs = np.nonzero(changed)
    assert len(xs) > 20
    lo, hi = face.landmarks[[3, 4]].min(axis=0) - 3, face.landmarks[[3, 4]].max(axis=0) + 3
    assert xs.min() >= lo[0] and xs.max() <= hi[0]  # between the mouth corners
