"""Per-point confidence: the metrics on hand-checkable cases, the shipped models' calibration and
where it was fitted, the range everywhere a point is returned, and that hiding an eye lowers that
eye's confidence on real test faces."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from facepoints.evaluation.confidence import (
    auroc,
    confidence_summary,
    expected_calibration_error,
    fit_platt,
    platt,
    reliability,
    risk_coverage,
)
from facepoints.models.pretrained import list_pretrained, resolve_model

SHIPPED = ("cuhk5-resnet", "cuhk5-fast", "cuhk5-nano")


# --- metrics -------------------------------------------------------------------------------------


def test_auroc_by_hand():
    bad = np.array([False, False, True, True])
    assert auroc([0.9, 0.8, 0.3, 0.1], bad) == 1.0
    assert auroc([0.1, 0.3, 0.8, 0.9], bad) == 0.0
    assert auroc([0.5, 0.5, 0.5, 0.5], bad) == 0.5  # ties count half
    # good 0.9, 0.2; bad 0.5, 0.1: pairs (0.9>0.5, 0.9>0.1, 0.2<0.5, 0.2>0.1) -> 3/4
    assert auroc([0.9, 0.2, 0.5, 0.1], bad) == 0.75
    assert np.isnan(auroc([0.1, 0.2], [False, False]))


def test_ece_and_reliability_by_hand():
    conf = np.full(10, 0.8)
    good = np.arange(10) < 8
    assert expected_calibration_error(conf, good) == pytest.approx(0.0)
    # half the points at 0.95 all good, half at 0.15 all bad: |1 - 0.95| / 2 + |0 - 0.15| / 2
    conf = np.r_[np.full(5, 0.95), np.full(5, 0.15)]
    good = np.r_[np.ones(5, bool), np.zeros(5, bool)]
    assert expected_calibration_error(conf, good) == pytest.approx(0.1)
    r = reliability(conf, good, bins=10)
    assert r["count"].tolist() == [0, 5, 0, 0, 0, 0, 0, 0, 0, 5]
    assert r["accuracy"][9] == 1.0 and r["accuracy"][1] == 0.0
    assert reliability([1.0], [True])["count"][-1] == 1  # 1.0 falls in the last bin


def test_risk_coverage_by_hand():
    errors = np.array([1.0, 2.0, 3.0, 4.0])
    rc = risk_coverage([0.4, 0.3, 0.2, 0.1], errors, coverages=(0.25, 0.5, 1.0))
    assert rc.tolist() == [1.0, 1.5, 2.5]
    flat = risk_coverage(np.full(4, 0.7), errors, coverages=(0.25, 0.5, 1.0))
    assert flat.tolist() == [2.5, 2.5, 2.5]  # a constant says nothing: the mean everywhere
    s = confidence_summary(np.array([[0.9, 0.2]]), np.array([[0.01, 0.5]]), threshold=0.1)
    assert s["auroc"] == 1.0 and s["bad_share"] == 0.5 and s["faces"] == 1


def test_platt_recovers_a_known_calibration():
    rng = np.random.default_rng(0)
    z = rng.normal(size=20000)
    good = rng.random(20000) < platt(z, (2.0, 1.0))
    a, b = fit_platt(z, good)
    assert a == pytest.approx(2.0, abs=0.1) and b == pytest.approx(1.0, abs=0.1)
    assert fit_platt(z[:10], np.ones(10, bool))[0] == 0.0  # all good: a constant


# --- the shipped models ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_calibration_was_fitted_on_training_faces(name, cuhk_root):
    from facepoints.calibration import faces_digest, training_split
    from facepoints.data import read_dataset
    from facepoints.models.confidence import ConfidenceHead

    assert name in list_pretrained()
    loaded = resolve_model(name)
    head = loaded.confidence
    assert isinstance(head, ConfidenceHead)
    info = head.info
    fitted = info["fitted_on"]
    assert fitted["part"] == "validation"
    assert (fitted["val_fraction"], fitted["seed"]) == (0.1, 0)
    # the very faces the model's training held out for validation, and none of the test faces
    if "mix" in fitted:  # trained on several datasets: one digest per dataset, CUHK's checked
        labels = list(fitted["mix"])
        assert fitted["mix"]["cuhk5"]["dataset"] == "cuhk5"
        parts = read_dataset("cuhk5", "train", cuhk_root).split(0.1, 0)
        train, val = parts
        k = labels.index("cuhk5")
        assert fitted["digest"].split("+")[k] == faces_digest(val)
        assert info["head_trained_on"]["digest"].split("+")[k] == faces_digest(train)
    else:
        assert (fitted["dataset"], fitted["split"], fitted["faces"]) == ("cuhk5", "train", 1000)
        parts = training_split(loaded, data_root=cuhk_root)
        train, val = parts.train, parts.val
        assert fitted["digest"] == faces_digest(val)
        assert info["head_trained_on"]["digest"] == faces_digest(train)
    test_names = {p.name for p in read_dataset("cuhk5", "test", cuhk_root).images}
    assert not test_names & {p.name for p in val.images}
    assert not {p.name for p in val.images} & {p.name for p in train.images}
    v = info["validation"]
    assert v["auroc"] > 0.85 and v["ece"] < 0.02
    assert info["threshold"] == 0.1


def test_confidence_leaves_the_points_untouched(cuhk_root):
    from facepoints.data import read_dataset
    from facepoints.data.dataset import LandmarkDataset

    loaded = resolve_model("cuhk5-fast")
    recs = read_dataset("cuhk5", "test", cuhk_root).subset(slice(0, 16))
    ds = LandmarkDataset(recs, 64, margin=loaded.margin, progress=False)
    x = torch.stack([ds[i]["image"] for i in range(len(ds))])
    with torch.no_grad():
        points, conf = loaded.confident()(x)
        assert torch.equal(points, loaded.model(x))
    assert conf.shape == (16, 5) and float(conf.min()) >= 0 and float(conf.max()) <= 1


def test_folded_head_gives_the_same_confidence(cuhk_root):
    from facepoints.data import read_dataset
    from facepoints.data.dataset import LandmarkDataset

    loaded = resolve_model("cuhk5-nano")  # a 1x1 head on a heatmap model: it folds
    head, net = loaded.confidence.eval(), loaded.model.eval()
    folded = head.folded(net.head)
    assert folded is not head
    assert folded.conv.in_channels < head.conv.in_channels  # the score maps are folded in
    recs = read_dataset("cuhk5", "test", cuhk_root).subset(slice(0, 16))
    ds = LandmarkDataset(
        recs, net.input_size, margin=loaded.margin, in_channels=net.in_channels, progress=False
    )
    x = torch.stack([ds[i]["image"] for i in range(len(ds))])
    with torch.no_grad():
        features = net.backbone(x)
        outputs = net.head(features)
        want, got = head(features, outputs), folded(features, outputs)
    assert float(want.std()) > 0.01  # the faces differ, so the check can fail
    assert torch.allclose(want, got, atol=1e-5)
    fast = resolve_model("cuhk5-fast")  # a 3x3 head does not fold
    assert fast.confidence.folded(fast.model.head) is fast.confidence


@pytest.mark.parametrize("name", ["cuhk5-fast", "cuhk5-nano"])
def test_onnx_gives_the_same_confidence(name, tmp_path):
    from facepoints.inference.export import compare_onnx, export_onnx, read_onnx_metadata

    loaded = resolve_model(name)
    path = export_onnx(loaded, tmp_path / "fast.onnx")
    assert compare_onnx(loaded, path) < 1e-4
    assert compare_onnx(loaded, path, confidence=True) < 1e-4
    meta = read_onnx_metadata(path)
    assert meta["confidence"]["kind"] == "calibrated"
    assert meta["confidence"]["fitted_on"]["part"] == "validation"


# --- every point returned has a confidence in [0, 1] --------------------------------------------


@pytest.fixture(scope="module")
def test_faces(cuhk_root):
    from facepoints.data import read_dataset

    recs = read_dataset("cuhk5", "test", cuhk_root)
    return recs.subset(np.random.default_rng(1).choice(len(recs), 12, replace=False))


def _check_face_dict(face: dict, k: int = 5) -> None:
    conf = face["confidence"]
    assert len(conf) == k and all(0.0 <= c <= 1.0 for c in conf)
    assert face["landmark_score"] == pytest.approx(np.mean(conf), abs=2e-4)


def test_api_and_cli_return_a_confidence_per_point(test_faces, tmp_path, capsys):
    from facepoints import FaceLandmarker
    from facepoints.cli import main

    lm = FaceLandmarker(threads=1)  # the default model and detector
    assert lm.confidence_kind == "calibrated"
    faces = lm.detect(test_faces.images[0])
    assert faces
    for f in faces:
        assert f.confidence.shape == (5,) and f.confidence.dtype == np.float32
        assert ((f.confidence >= 0) & (f.confidence <= 1)).all()
        assert f.landmark_score == pytest.approx(float(f.confidence.mean()), abs=1e-6)
        _check_face_dict(f.to_dict())
    onnx = FaceLandmarker("cuhk5-fast", backend="onnx", threads=1)
    torch_lm = FaceLandmarker("cuhk5-fast", threads=1)
    b = test_faces.boxes[:3]
    p_onnx, c_onnx = onnx.landmarks_with_confidence(_image(test_faces, 0), b)
    p_torch, c_torch = torch_lm.landmarks_with_confidence(_image(test_faces, 0), b)
    assert np.abs(c_onnx - c_torch).max() < 1e-4 and np.abs(p_onnx - p_torch).max() < 1e-2

    out = tmp_path / "pred"
    code = main(
        [
            "predict",
            str(test_faces.images[1]),
            "--out",
            str(out),
            "--threads",
            "1",
            "--min-confidence",
            "0.9",
        ]
    )
    assert code == 0
    record = json.loads((out / "predictions.json").read_text())
    assert record["faces"]
    for face in record["faces"]:
        _check_face_dict(face)
    capsys.readouterr()


def test_server_returns_a_confidence_per_point(test_faces):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from facepoints.serve.app import ServeConfig, create_app

    app = create_app(model="cuhk5-fast", config=ServeConfig(), warm_up=False)
    data = test_faces.images[2].read_bytes()
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.post("/api/landmarks", files={"image": ("face.jpg", data, "image/jpeg")})
        assert r.status_code == 200
        faces = r.json()["faces"]
        assert faces
        for face in faces:
            _check_face_dict(face)
        r = client.post(
            "/api/filter?filters=sunglasses&min_confidence=0.5&unsure=fade",
            files={"image": ("face.jpg", data, "image/jpeg")},
        )
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"


# --- what the confidence says ---------------------------------------------------------------------


def _image(recs, i):
    from facepoints.io import load_image

    return load_image(recs.images[i])


def test_a_grey_block_over_one_eye_lowers_that_eyes_confidence(test_faces):
    from facepoints import FaceLandmarker

    lm = FaceLandmarker(threads=1)  # the default model
    eye, other = [], []
    for i in range(len(test_faces)):
        img, g, box = _image(test_faces, i), test_faces.points[i], test_faces.boxes[i : i + 1]
        _, before = lm.landmarks_with_confidence(img, box)
        half = 0.4 * np.linalg.norm(g[0] - g[1])  # a block a bit larger than the eye
        x, y = g[0]
        hidden = img.copy()
        hidden[max(0, int(y - half)) : int(y + half), max(0, int(x - half)) : int(x + half)] = 128
        _, after = lm.landmarks_with_confidence(hidden, box)
        eye.append(after[0, 0] - before[0, 0])
        other.append(after[0, 1] - before[0, 1])  # the eye left in view
    eye, other = np.array(eye), np.array(other)
    assert eye.mean() < -0.2, eye
    assert (eye < 0).mean() >= 0.8
    assert eye.mean() < other.mean() - 0.15


def test_tracking_runs_the_detector_when_the_landmark_score_drops(test_faces):
    from facepoints import FaceLandmarker
    from facepoints.inference.detectors.base import Detection
    from facepoints.inference.tracking import FaceTracker

    img, box = _image(test_faces, 3), test_faces.boxes[3]

    class Counting:
        calls = 0

        def detect(self, rgb):
            Counting.calls += 1
            return [Detection(box=box, raw_box=box, score=0.9)]

    lm = FaceLandmarker("cuhk5-fast", detector=Counting(), threads=1)
    grey = img.copy()
    x1, y1, x2, y2 = (int(v) for v in box)
    grey[max(0, y1) : y2, max(0, x1) : x2] = 128  # the face gone: nothing left to be sure of
    frames = [img, img, grey, img]
    for gate, want in ((0.5, 2), (None, 1)):
        Counting.calls = 0
        tracker = FaceTracker(lm, detect_every=100, min_landmark_score=gate)
        scores = [tracker.update(f)[0].landmark_score for f in frames[:2]]
        assert min(scores) > 0.8
        tracker.update(frames[2])
        tracker.update(frames[3])
        assert Counting.calls == want
        assert tracker.unsure_losses == (1 if gate else 0)


# --- drawing and filters -----------------------------------------------------------------------


def test_unsure_points_are_drawn_hollow():
    from facepoints.draw import draw_landmarks

    img = np.zeros((60, 60, 3), np.uint8)
    pts = np.array([[15.0, 30.0], [45.0, 30.0]])
    out = draw_landmarks(img, pts, (0, 255, 0), radius=6, confidence=[0.9, 0.2], min_confidence=0.5)
    assert out[30, 15, 1] == 255  # sure: a filled dot
    assert out[30, 45, 1] == 0 and out[30, 51, 1] > 0  # unsure: a ring, empty inside
    same = draw_landmarks(img, pts, (0, 255, 0), radius=6)
    assert same[30, 45, 1] == 255  # no confidence given: filled as before


def test_filters_skip_or_fade_on_unsure_anchor_points(test_faces):
    from facepoints.filters.base import anchor_confidence, apply_filters
    from facepoints.inference.landmarker import Face
    from facepoints.schemes import get_scheme

    img = _image(test_faces, 4)
    pts, box = test_faces.points[4], test_faces.boxes[4]
    sure = Face(box, 0.9, pts, get_scheme(5), confidence=np.full(5, 0.95, np.float32))
    eye_unsure = Face(box, 0.9, pts, get_scheme(5), confidence=np.float32([0.1, 0.9, 1, 1, 1]))
    assert anchor_confidence(eye_unsure, (0, 1)) == pytest.approx(0.1)
    assert anchor_confidence(eye_unsure, (2,)) == 1.0
    full = apply_filters(img, [sure], "sunglasses", min_confidence=0.5)
    assert np.abs(full.astype(int) - img).sum() > 0
    skipped = apply_filters(img, [eye_unsure], "sunglasses", min_confidence=0.5)
    assert np.array_equal(skipped, img)
    faded = apply_filters(img, [eye_unsure], "sunglasses", min_confidence=0.5, unsure="fade")
    change_full = np.abs(full.astype(int) - img).sum()
    change_faded = np.abs(faded.astype(int) - img).sum()
    assert 0 < change_faded < 0.6 * change_full
    # no threshold: as before, whatever the confidence
    assert np.array_equal(apply_filters(img, [eye_unsure], "sunglasses"), full)


# --- the calibrate command on any model ------------------------------------------------------------


def _tiny(tmp_path, head: str, max_faces: int = 80):
    from facepoints.models.registry import create_model
    from facepoints.models.weights import save_model

    torch.manual_seed(0)
    model = create_model("resnet", input_size=32, width=8, depth=[1, 1, 1, 1], head=head)
    cfg = {
        "dataset": "cuhk5",
        "split": "train",
        "val_fraction": 0.2,
        "seed": 3,
        "max_faces": max_faces,
        "margin": 0.2,
    }
    path = tmp_path / f"tiny-{head}.safetensors"
    save_model(model, path, {"margin": 0.2, "train_config": cfg})
    return path


@pytest.mark.parametrize("head", ["heatmap", "regression"])
def test_calibrate_command_fits_any_model(head, cuhk_root, tmp_path, capsys):
    from facepoints import FaceLandmarker
    from facepoints.calibration import faces_digest, training_split
    from facepoints.cli import main

    src = _tiny(tmp_path, head)
    before = FaceLandmarker(src, threads=1)
    assert before.confidence_kind == ("peak" if head == "heatmap" else "constant")
    out = tmp_path / "calibrated.safetensors"
    code = main(
        [
            "calibrate",
            str(src),
            "--data-root",
            str(cuhk_root),
            "--epochs",
            "1",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    assert "AUROC" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([src.name, out.name])  # atomic
    loaded = resolve_model(out)
    fitted = loaded.confidence.info["fitted_on"]
    assert (fitted["faces"], fitted["seed"], fitted["max_faces"]) == (16, 3, 80)
    assert fitted["digest"] == faces_digest(training_split(loaded, data_root=cuhk_root).val)
    lm = FaceLandmarker(out, threads=1)
    assert lm.confidence_kind == "calibrated"
    from facepoints.data import read_dataset

    recs = read_dataset("cuhk5", "test", cuhk_root)
    _, conf = lm.landmarks_with_confidence(_image(recs, 0), recs.boxes[:1])
    assert conf.shape == (1, 5) and ((conf >= 0) & (conf <= 1)).all()
    # the model is the same: its own tensors untouched
    a, b = resolve_model(src).model.state_dict(), loaded.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_uncalibrated_regression_model_says_unknown(cuhk_root, tmp_path):
    from facepoints import FaceLandmarker
    from facepoints.data import read_dataset
    from facepoints.models.confidence import UNKNOWN

    lm = FaceLandmarker(_tiny(tmp_path, "regression"), threads=1)
    recs = read_dataset("cuhk5", "test", cuhk_root)
    _, conf = lm.landmarks_with_confidence(_image(recs, 0), recs.boxes[:2])
    assert np.all(conf == UNKNOWN)
    _, one = lm.landmarks_with_confidence(_image(recs, 0), recs.boxes[:1])  # the bound run
    assert one.shape == (1, 5) and np.all(one == UNKNOWN)


def test_dense_schemes_use_their_own_normalising_pair():
    from facepoints.calibration import _errors
    from facepoints.schemes import get_scheme

    s68 = get_scheme("ibug68")
    target = torch.zeros(1, 68, 2)
    target[0, 36] = torch.tensor([0.3, 0.4])
    target[0, 45] = torch.tensor([0.7, 0.4])  # outer eye corners 0.4 apart
    pred = target.clone()
    pred[0, 30, 0] += 0.04
    err, ok = _errors(pred, target, s68, s68)
    assert (
        ok.all()
        and float(err[0, 30]) == pytest.approx(0.1)
        and float(err.sum()) == pytest.approx(0.1)
    )
