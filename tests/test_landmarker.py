"""FaceLandmarker on real CUHK photos: crop geometry (a constant model lands on the box centre),
every input form agreeing, grey images, several faces, batches, refinement, detection filters,
`Face.to_dict`, and the box-from-points constants refitted on training faces."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from facepoints.data import read_dataset
from facepoints.errors import CheckpointError, ConfigError
from facepoints.geometry import square_box
from facepoints.inference.boxes import (
    CENTER,
    MOUTH,
    SIZE,
    box_from_points,
    fit_box_from_points,
    roll_from_points,
)
from facepoints.inference.detectors import Detection
from facepoints.inference.landmarker import Face, FaceLandmarker
from facepoints.io import load_image
from facepoints.models import create_model, save_model
from facepoints.models.pretrained import LoadedModel
from facepoints.schemes import get_scheme

MARGIN = 0.2


class ConstantModel(nn.Module):
    """Outputs the same normalised points for every crop (default: all at 0.5, 0.5)."""

    def __init__(self, points=None, input_size: int = 32, in_channels: int = 3):
        super().__init__()
        self.num_points, self.input_size, self.in_channels = 5, input_size, in_channels
        p = np.full((5, 2), 0.5) if points is None else np.asarray(points)
        self.register_buffer("p", torch.tensor(p, dtype=torch.float32))

    def forward(self, x):
        return self.p.expand(len(x), -1, -1).clone()


def constant(points=None, input_size: int = 32) -> LoadedModel:
    return LoadedModel(
        model=ConstantModel(points, input_size), name="const", path=None, margin=MARGIN
    )


# a plausible face in normalised crop coordinates: eyes, nose, mouth corners
TEMPLATE = [[0.36, 0.40], [0.64, 0.40], [0.50, 0.55], [0.39, 0.68], [0.61, 0.68]]


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    torch.manual_seed(0)
    m = create_model("resnet", input_size=64, width=16, depth=[1, 1, 1, 1])
    path = tmp_path_factory.mktemp("model") / "m.safetensors"
    save_model(m, path, {"margin": MARGIN})
    return path


@pytest.fixture(scope="module")
def tiny(tiny_path):
    return FaceLandmarker(tiny_path)


@pytest.fixture(scope="module")
def faces(cuhk_root):
    recs = read_dataset("cuhk5", "test", cuhk_root)
    return recs.subset(np.linspace(0, len(recs) - 1, 6).round().astype(int))


def expected_centre(box, input_size: int) -> np.ndarray:
    """Where a normalised 0.5 lands: the box centre plus half a crop pixel (value * S is a
    pixel-centre coordinate, the crop centre is (S - 1) / 2)."""
    b = np.asarray(box, dtype=np.float64)
    side = max(b[2] - b[0], b[3] - b[1]) * (1 + MARGIN)
    return (b[:2] + b[2:]) / 2 + 0.5 * side / input_size


def test_constant_model_lands_on_the_box_centre(faces):
    lm = FaceLandmarker(constant(), refine=False)
    for path, box in zip(faces.images, faces.boxes, strict=True):
        (face,) = lm.detect(path, boxes=box)
        assert face.landmarks.shape == (5, 2) and face.landmarks.dtype == np.float32
        np.testing.assert_allclose(
            face.landmarks, np.tile(expected_centre(box, 32), (5, 1)), atol=1e-3
        )
        np.testing.assert_array_equal(face.box, box)
        assert np.isnan(face.score) and face.scheme.name == "cuhk5"


def test_non_square_box_and_face_cut_by_the_border(faces):
    lm = FaceLandmarker(constant(TEMPLATE), refine=False)
    img = load_image(faces.images[0])
    h, w = img.shape[:2]
    for box in ([-40, 30, 60, 150], [w - 50, h - 70, w + 40, h + 20], [10, 20, 200, 90]):
        (face,) = lm.detect(img, boxes=box)
        b = np.asarray(box, dtype=np.float64)
        side = max(b[2] - b[0], b[3] - b[1]) * (1 + MARGIN)
        centre = (b[:2] + b[2:]) / 2
        # the template mapped by the crop: pixel = value * S, crop centre (S - 1) / 2 on the box centre
        want = centre + (np.asarray(TEMPLATE) * 32 - 15.5) * side / 32
        np.testing.assert_allclose(face.landmarks, want, atol=1e-3)


def test_path_rgb_bgr_pil_and_grey_agree(tiny, faces):
    from PIL import Image

    path, box = faces.images[1], faces.boxes[1]
    rgb = load_image(path)
    ref = tiny.detect(path, boxes=box)[0].landmarks
    for image, color in (
        (rgb, "rgb"),
        (np.ascontiguousarray(rgb[..., ::-1]), "bgr"),
        (Image.fromarray(rgb), "rgb"),
        (np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]), "rgb"),  # RGBA
    ):
        np.testing.assert_array_equal(tiny.detect(image, boxes=box, color=color)[0].landmarks, ref)
    grey = rgb[..., 1].copy()
    got = tiny.detect(grey, boxes=box)[0].landmarks
    np.testing.assert_array_equal(got, tiny.detect(np.dstack([grey] * 3), boxes=box)[0].landmarks)
    assert np.isfinite(got).all()
    with pytest.raises(ConfigError):
        tiny.detect(rgb, boxes=box, color="hsv")


def test_several_faces_batch_and_one_by_one_agree(tiny, faces):
    img = load_image(faces.images[2])
    box = faces.boxes[2]
    boxes = np.stack([box, box + [5, -3, 5, -3], box * [0.9, 0.9, 1.1, 1.1]]).astype(np.float32)
    many = tiny.detect(img, boxes=boxes)
    assert len(many) == 3
    for f, b in zip(many, boxes, strict=True):
        np.testing.assert_allclose(f.landmarks, tiny.detect(img, boxes=b)[0].landmarks, atol=1e-4)
    pts = tiny.landmarks(img, boxes)
    assert pts.shape == (3, 5, 2)
    np.testing.assert_allclose(pts, np.stack([f.landmarks for f in many]), atol=1e-4)
    assert tiny.detect(img, boxes=np.zeros((0, 4))) == []

    paths = faces.images[:4]
    batch = tiny.detect_batch(paths, boxes=[faces.boxes[i] for i in range(4)])
    for i, fs in enumerate(batch):
        one = tiny.detect(paths[i], boxes=faces.boxes[i])
        np.testing.assert_allclose(fs[0].landmarks, one[0].landmarks, atol=1e-4)


def test_refine_recrops_on_the_box_from_the_first_points(faces):
    img = load_image(faces.images[3])
    box = faces.boxes[3]
    lm = FaceLandmarker(constant(TEMPLATE), upright=False)  # upright: test_upright_crops_...
    first = lm.landmarks(img, [box], refine=False)
    second_box = box_from_points(first, "cuhk5")
    want = lm.landmarks(img, second_box, refine=False)
    np.testing.assert_allclose(lm.landmarks(img, [box], refine=True), want, atol=1e-4)
    assert not np.allclose(want, first)
    # a first pass that collapses to one point gives no usable box: the first pass is kept
    flat = FaceLandmarker(constant())
    np.testing.assert_allclose(
        flat.landmarks(img, [box], refine=True), flat.landmarks(img, [box], refine=False), atol=1e-5
    )


class FakeDetector:
    def __init__(self, dets):
        self.dets = dets

    def detect(self, rgb):
        return self.dets


def test_detections_filtered_sorted_and_capped(faces):
    b = faces.boxes[0]
    small = np.array([10, 10, 25, 25], np.float32)
    dets = [
        Detection(box=b, raw_box=b, score=0.5),
        Detection(box=small, raw_box=small, score=0.99),
        Detection(box=b + 40, raw_box=b + 40, score=0.9),
    ]
    lm = FaceLandmarker(constant(), detector=FakeDetector(dets), refine=False)
    got = lm.detect(faces.images[0])
    assert [f.score for f in got] == [0.9, 0.5]  # best first; the 15 px face is below min_face
    lm2 = FaceLandmarker(constant(), detector=FakeDetector(dets), refine=False, max_faces=1)
    assert [f.score for f in lm2.detect(faces.images[0])] == [0.9]
    assert FaceLandmarker(constant(), detector=FakeDetector([])).detect(faces.images[0]) == []


def test_seed_crops_cut_from_the_detectors_points(faces):
    """With seed_crops (the default), a detection's five points give the first crop (as a
    second pass's would), not its box; with seed_crops off, the box does."""
    img = load_image(faces.images[2])
    box, pts = faces.boxes[2], faces.points[2]
    off = box + np.array([15, -10, 15, -10], np.float32)  # a detector box that sits off the face
    dets = [Detection(box=off, raw_box=off, score=0.9, points=pts)]
    kw = dict(refine=False, upright=False)  # upright: test_upright_crops_undo_the_roll
    seeded = FaceLandmarker(constant(TEMPLATE), FakeDetector(dets), **kw)
    want = seeded.landmarks(img, box_from_points(pts, "cuhk5")[None], refine=False)
    np.testing.assert_allclose(seeded.detect(img)[0].landmarks, want[0], atol=1e-4)
    plain = FaceLandmarker(constant(TEMPLATE), FakeDetector(dets), seed_crops=False, **kw)
    np.testing.assert_allclose(
        plain.detect(img)[0].landmarks, plain.landmarks(img, off[None])[0], atol=1e-4
    )
    assert np.abs(plain.detect(img)[0].landmarks - want[0]).max() > 5


def test_upright_crops_undo_the_roll(cuhk_root):
    """A face turned 25 degrees in the image is cut upright: the crop of the turned photo
    matches the crop of the original, so the same model gives the same points, turned back."""
    import cv2

    from facepoints.geometry import crop_matrices, invert_many, warp_many

    recs = read_dataset("cuhk5", "test", cuhk_root)
    img, pts = load_image(recs.images[0]), recs.points[0].astype(np.float64)
    h, w = img.shape[:2]
    rot = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), -25, 1.0)  # clockwise on screen
    turned = cv2.warpAffine(img, rot, (w, h))
    tpts = pts @ rot[:, :2].T + rot[:, 2]
    assert roll_from_points(tpts, "cuhk5") - roll_from_points(pts, "cuhk5") == pytest.approx(
        25, abs=0.5
    )
    crops = np.empty((2, 48, 48, 3), np.uint8)
    boxes = box_from_points(np.stack([pts, tpts]), "cuhk5")
    mats = crop_matrices(boxes, 48, 0.3, roll_from_points(np.stack([pts, tpts]), "cuhk5"))
    warp_many([img, turned], np.arange(2), mats, crops)
    assert np.abs(crops[0].astype(int) - crops[1]).mean() < 5  # the same upright face (26 unturned)
    back = invert_many(mats)
    centre = np.array([23.5, 23.5])
    a, b = back[0, :, :2] @ centre + back[0, :, 2], back[1, :, :2] @ centre + back[1, :, 2]
    np.testing.assert_allclose(b, a @ rot[:, :2].T + rot[:, 2], atol=1.0)


def test_mirror_averages_each_face_with_its_mirror_image(w300_root):
    """mirror=True gives the mean of the points on the photo and, swapped back, on the mirrored
    photo with the mirrored box (to hundredths of a pixel); on by default for dense98 alone;
    and on these real faces the average is closer to the human points than one pass."""
    from facepoints.schemes import IBUG68

    recs = read_dataset("300w", "test", w300_root)
    plain = FaceLandmarker("dense98", scheme="ibug68", threads=1, mirror=False)
    both = FaceLandmarker("dense98", scheme="ibug68", threads=1)
    assert both.mirror and not plain.mirror and not FaceLandmarker("cuhk5-nano").mirror
    errors = []
    for i in range(0, len(recs), len(recs) // 6)[:6]:
        img, box = load_image(recs.images[i]), recs.boxes[i]
        w = img.shape[1]
        a = plain.landmarks(img, box[None], refine=False)[0]
        flipped = np.ascontiguousarray(img[:, ::-1])
        fbox = np.array([w - 1 - box[2], box[1], w - 1 - box[0], box[3]])
        b = IBUG68.flip_points(plain.landmarks(flipped, fbox[None], refine=False)[0], w)
        m, conf = both.landmarks_with_confidence(img, box[None], refine=False)
        # the same up to sampling: a heatmap's best cell may still tip for a point or two
        off = np.linalg.norm(m[0] - (a + b) / 2, axis=-1)
        assert np.median(off) < 0.02 and (off < 0.05).mean() > 0.9, off
        assert conf.shape == (1, 68) and ((conf >= 0) & (conf <= 1)).all()
        d = IBUG68.norm_distance(recs.points[i])
        errors.append([np.linalg.norm(p - recs.points[i], axis=-1).mean() / d for p in (a, m[0])])
    one, averaged = np.mean(errors, axis=0)
    assert averaged < one


def test_tta_averages_each_face_over_box_scales(w300_root):
    """tta=True gives the mean of one pass at each of TTA_SCALES (the box scaled about its
    centre), all faces of a call in one batch; on these real faces the average is closer to the
    human points than one scale; a bad tta is one clear error."""
    from facepoints.inference.landmarker import TTA_SCALES
    from facepoints.schemes import IBUG68

    recs = read_dataset("300w", "test", w300_root)
    plain = FaceLandmarker("dense98", scheme="ibug68", threads=1, refine=False)
    tta = FaceLandmarker("dense98", scheme="ibug68", threads=1, refine=False, tta=True)
    assert plain.tta == (1.0,) and tta.tta == TTA_SCALES and len(TTA_SCALES) > 1
    errors = []
    for i in range(0, len(recs), len(recs) // 6)[:6]:
        img, box = load_image(recs.images[i]), recs.boxes[i]
        each = [plain.landmarks(img, square_box(box[None], k))[0] for k in TTA_SCALES]
        m, conf = tta.landmarks_with_confidence(img, box[None])
        off = np.linalg.norm(m[0] - np.mean(each, axis=0), axis=-1)
        assert np.median(off) < 0.02 and (off < 0.05).mean() > 0.9, off
        assert conf.shape == (1, 68) and ((conf >= 0) & (conf <= 1)).all()
        d = IBUG68.norm_distance(recs.points[i])
        errors.append(
            [np.linalg.norm(p - recs.points[i], axis=-1).mean() / d for p in (each[2], m[0])]
        )
    one, averaged = np.mean(errors, axis=0)
    assert averaged < one
    # several faces of one photo in one call: each as when alone
    two = np.stack([recs.boxes[0], recs.boxes[0] + 3])
    img = load_image(recs.images[0])
    both = tta.landmarks(img, two)
    np.testing.assert_allclose(both[1], tta.landmarks(img, two[1:])[0], atol=0.05)
    for bad in ((0.0,), (), "x", (1.0, float("nan"))):
        with pytest.raises(ConfigError, match="tta"):
            FaceLandmarker("cuhk5-nano", tta=bad)


def test_threads_by_default_parallel_for_the_heavy_model_only(w300_root, monkeypatch):
    """threads=None: one ONNX Runtime thread for the small models, up to 4 of the process's cores
    for dense98; an explicit count wins; the points do not depend on it."""
    import os

    from facepoints.inference import landmarker as mod

    def intra(lm):
        return lm.runner.session.get_session_options().intra_op_num_threads

    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1, 2}, raising=False)
    assert mod.default_threads("dense98") == 3 and mod.default_threads("cuhk5-fast") == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(16)), raising=False)
    assert mod.default_threads("dense98") == mod.MAX_DEFAULT_THREADS
    monkeypatch.undo()
    cores = mod.default_threads("dense98")
    assert intra(FaceLandmarker("cuhk5-nano")) == 1
    many, one = FaceLandmarker("dense98"), FaceLandmarker("dense98", threads=1)
    assert intra(many) == cores and intra(one) == 1
    recs = read_dataset("300w", "test", w300_root)
    img, box = load_image(recs.images[0]), recs.boxes[0]
    a, b = many.landmarks(img, box[None]), one.landmarks(img, box[None])
    assert np.abs(a - b).max() < 0.01  # pixels: only the order of the sums differs


def test_face_to_dict_is_json_ready(tiny, faces):
    (face,) = tiny.detect(faces.images[0], boxes=faces.boxes[0])
    d = json.loads(json.dumps(face.to_dict()))
    keys = {"box", "score", "landmarks", "points", "confidence", "landmark_score", "scheme"}
    assert set(d) == keys
    assert len(d["confidence"]) == 5 and all(0 <= c <= 1 for c in d["confidence"])
    assert d["score"] is None and d["scheme"] == "cuhk5" and len(d["landmarks"]) == 5
    assert list(d["points"]) == list(get_scheme("cuhk5").names)
    assert d["points"]["nose"] == d["landmarks"][2]
    f2 = Face(box=face.box, score=0.87654321, landmarks=face.landmarks, scheme=face.scheme)
    assert f2.to_dict()["score"] == 0.8765 and "cuhk5" in repr(f2)


def test_model_by_name_missing_and_bad_options(tiny_path):
    from facepoints.models.pretrained import DEFAULT_MODEL, list_pretrained

    if DEFAULT_MODEL not in list_pretrained():
        with pytest.raises(CheckpointError, match="not shipped yet"):
            FaceLandmarker()
    with pytest.raises(CheckpointError):
        FaceLandmarker(tiny_path.parent / "nope.safetensors")
    with pytest.raises(ConfigError):
        FaceLandmarker(tiny_path, backend="tensorflow")
    with pytest.raises(ConfigError):
        FaceLandmarker(tiny_path, min_face=0)


def test_onnx_backend_matches_torch(tiny, tiny_path, faces):
    pytest.importorskip("onnxruntime")
    onnx = FaceLandmarker(tiny_path, backend="onnx", threads=1)
    ref = tiny.detect(faces.images[0], boxes=faces.boxes[:1])[0].landmarks
    got = onnx.detect(faces.images[0], boxes=faces.boxes[:1])[0].landmarks
    np.testing.assert_allclose(got, ref, atol=1e-2)


def test_lazy_public_names():
    import facepoints

    assert facepoints.FaceLandmarker is FaceLandmarker and facepoints.Face is Face
    with pytest.raises(AttributeError):
        facepoints.NoSuchThing  # noqa: B018


# --- box_from_points -----------------------------------------------------------------------------


def test_box_from_points_constants_refit_on_training_faces(cuhk_root):
    train = read_dataset("cuhk5", "train", cuhk_root)
    idx = np.random.default_rng(0).choice(len(train), 500, replace=False)
    c = fit_box_from_points(train.subset(idx))
    np.testing.assert_allclose(c["mouth"], MOUTH, atol=0.03)
    np.testing.assert_allclose(c["center"], CENTER, atol=0.03)
    np.testing.assert_allclose(c["size"], SIZE, rtol=0.02)


def test_box_from_points_matches_test_boxes(faces, cuhk_root):
    test = read_dataset("cuhk5", "test", cuhk_root).subset(slice(0, 300))
    boxes = box_from_points(test.points, "cuhk5")
    assert boxes.shape == (300, 4) and boxes.dtype == np.float32
    side = test.boxes[:, 2] - test.boxes[:, 0]
    centre_err = np.abs(
        (boxes[:, :2] + boxes[:, 2:]) / 2 - (test.boxes[:, :2] + test.boxes[:, 2:]) / 2
    )
    assert np.median(centre_err / side[:, None]) < 0.05
    assert abs(np.median((boxes[:, 2] - boxes[:, 0]) / side) - 1) < 0.05
    np.testing.assert_allclose(box_from_points(test.points[0]), boxes[0])  # one face, (K, 2)


def test_box_from_points_dense_schemes_project_to_five():
    rng = np.random.default_rng(1)
    p68 = rng.uniform(50, 150, (2, 68, 2)).astype(np.float32)
    from facepoints.schemes import project

    np.testing.assert_allclose(
        box_from_points(p68, "ibug68"), box_from_points(project(p68, "ibug68", "cuhk5")), atol=1e-3
    )
    with pytest.raises(ConfigError):
        box_from_points(p68, "cuhk5")
