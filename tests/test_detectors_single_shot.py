"""The light single-shot detectors (RetinaFace-MobileNet-0.25, ultra-light slim and RFB) on real
shared photos: the port (faces and their 5 points where CUHK labels them), anchors that fit the
networks' outputs, options, the ONNX Runtime path, and a crowd photo through the public API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facepoints.errors import ConfigError
from facepoints.inference.detectors import create_detector
from facepoints.inference.detectors.fit import match_faces
from facepoints.io import load_image

NAMES = ("retinaface", "ultralight_slim", "ultralight_rfb")
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CROWD = "2--Demonstration/2_Demonstration_Protesters_2_46.jpg"  # 5 labelled faces, ~30 visible


@pytest.fixture(scope="module")
def cuhk_faces(cuhk_root):
    from facepoints.data import read_dataset

    records = read_dataset("cuhk5", "test", cuhk_root)
    idx = np.linspace(0, len(records) - 1, 12).round().astype(int)
    return records.subset(idx)


@pytest.mark.parametrize("name", NAMES)
def test_finds_cuhk_faces_and_their_five_points(name, cuhk_faces):
    det = create_detector(name, min_size=20)
    errors = []
    for i in range(len(cuhk_faces)):
        image = load_image(cuhk_faces.images[i])
        dets = det.detect(image)
        boxes = np.array([d.box for d in dets]).reshape(-1, 4)
        m = match_faces(boxes, cuhk_faces.boxes[i : i + 1])
        assert m[0] >= 0, f"{name} missed {cuhk_faces.images[i]}"
        pts, gt = dets[m[0]].points, cuhk_faces.points[i]
        assert pts.shape == (5, 2) and pts.dtype == np.float32
        errors.append(np.linalg.norm(pts - gt, axis=1).mean() / np.linalg.norm(gt[1] - gt[0]))
    # the detectors' own 5 points, in the cuhk5 order (image-left eye first), near CUHK's
    assert np.median(errors) < 0.15


@pytest.mark.parametrize("name", NAMES)
def test_anchors_fit_the_network_outputs_at_odd_sizes(name):
    import torch

    from facepoints.inference.detectors.priors import anchor_boxes

    det = create_detector(name)
    for h, w in ((1, 1), (37, 211), (241, 319), (480, 640)):
        with torch.inference_mode():
            loc, prob, pts = det._net(torch.zeros(1, 3, h, w))
        assert (
            loc.shape[1]
            == prob.shape[1]
            == pts.shape[1]
            == len(anchor_boxes(h, w, det.steps, det.min_sizes))
        )


@pytest.mark.parametrize("name", NAMES)
def test_no_face_in_blank_tiny_and_grey_images(name):
    det = create_detector(name, min_size=20)
    assert det.detect(np.full((240, 320, 3), 128, np.uint8)) == []
    assert det.detect(np.zeros((1, 1, 3), np.uint8)) == []
    assert det.detect(np.zeros((50, 60), np.uint8)) == []


@pytest.mark.parametrize("name", NAMES)
def test_a_large_photo_gives_its_face_not_its_parts(name):
    # a photo the size of a camera's (3072 px): the face is many times the network's largest
    # anchor at the scale that finds 20 px faces; searched there alone, parts of it and folds of
    # the suit came out as dozens of "faces" (27 to 42 here)
    import cv2

    from facepoints.inference.detectors.fit import iou

    small = load_image(Path(__file__).resolve().parents[1] / "facepoints/inference/astronaut.jpg")
    det = create_detector(name, min_size=20)
    face = det.detect(small)[0]
    large = cv2.resize(small, None, fx=6, fy=6, interpolation=cv2.INTER_CUBIC)
    found = det.detect(large)
    assert iou(found[0].box / 6, face.box)[0, 0] > 0.7  # the face, best first
    assert len(found) <= 10


def test_an_enlarged_crowd_photo_gives_about_the_same_faces():
    import cv2

    image = load_image(next((SHARED / "wflw_sample" / "WFLW_images").glob(f"*/{Path(CROWD).name}")))
    det = create_detector("retinaface", min_size=20)
    before = det.detect(image)
    after = det.detect(cv2.resize(image, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC))
    sure = np.array([d.box for d in before if d.score > 0.9]) * 4
    assert (match_faces(np.array([d.box for d in after]), sure) >= 0).mean() > 0.9
    assert len(after) < 2.5 * len(before)  # was 4 times as many


def test_a_large_photo_is_searched_down_to_a_share_of_its_side():
    import cv2

    from facepoints.errors import ConfigError
    from facepoints.inference.landmarker import FaceLandmarker

    image = load_image(next((SHARED / "wflw_sample" / "WFLW_images").glob(f"*/{Path(CROWD).name}")))
    large = cv2.resize(image, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)  # 4096 px
    lm = FaceLandmarker(threads=1)  # min_face 20 px and 1% of the longer side: 41 px here
    every = FaceLandmarker(threads=1, min_face_share=0)
    sure = np.array([f.box for f in lm.detect(image) if f.score > 0.9]) * 4
    faces, all_faces = lm.detect(large), every.detect(large)
    boxes = np.array([f.box for f in faces])
    side = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    assert side.min() >= 0.01 * 4096 - 1  # nothing under the share
    assert (match_faces(boxes, sure) >= 0).mean() > 0.9  # the photo's sure faces, found again
    assert len(faces) < len(all_faces)  # the small parts of a large photo are not searched
    assert lm.detect(image)[0].box.tolist() == every.detect(image)[0].box.tolist()  # 1024 px
    with pytest.raises(ConfigError):
        FaceLandmarker(min_face_share=1.5)


def test_crowd_photo_through_the_api_returns_every_labelled_face():
    from facepoints.data import read_dataset
    from facepoints.inference.boxes import box_from_points
    from facepoints.inference.landmarker import FaceLandmarker

    records = read_dataset("wflw", "test", SHARED / "wflw_sample")
    idx = np.flatnonzero([str(p).endswith(CROWD) for p in records.images])
    assert len(idx) == 5
    ref = box_from_points(records.points[idx], records.scheme)
    lm = FaceLandmarker()  # the default model and detector, as `facepoints predict` uses them
    side = np.minimum(ref[:, 2] - ref[:, 0], ref[:, 3] - ref[:, 1])
    assert (side >= lm.min_face).all()  # every labelled face is above the minimum size
    faces = lm.detect(records.images[idx[0]])
    boxes = np.array([f.box for f in faces]).reshape(-1, 4)
    assert (match_faces(boxes, ref) >= 0).all()
    assert len(faces) > 2 * len(idx)  # and many of the unlabelled faces around them


def test_options_max_faces_long_side_upscale_threshold():
    image = load_image(next((SHARED / "wflw_sample" / "WFLW_images").glob(f"*/{Path(CROWD).name}")))
    many = create_detector("retinaface", min_size=20).detect(image)
    assert len(many) > 10
    top = create_detector("retinaface", min_size=20, max_faces=3).detect(image)
    assert [d.score for d in top] == [d.score for d in many[:3]]
    strict = create_detector("retinaface", min_size=20, threshold=0.99).detect(image)
    assert 0 < len(strict) < len(many) and min(d.score for d in strict) > 0.99
    small = create_detector("retinaface", min_size=20, long_side=160, upscale=False)
    assert small._work_scale(image.shape[:2]) == pytest.approx(160 / 1024)
    assert len(small.detect(image)) < len(many)  # faces shrink below the network's reach
    big = create_detector("retinaface", min_size=8)
    assert big._work_scale(image.shape[:2]) > 1  # tiny faces: the photo is enlarged
    for bad in ({"threshold": 1.5}, {"long_side": 8}, {"max_faces": 0}, {"backend": "tf"}):
        with pytest.raises(ConfigError):
            create_detector("retinaface", **bad)


def test_onnx_runtime_gives_the_same_faces(tmp_path, monkeypatch, cuhk_faces):
    monkeypatch.setenv("FACEPOINTS_CACHE", str(tmp_path))
    image = load_image(cuhk_faces.images[0])
    a = create_detector("retinaface", min_size=20, backend="torch").detect(image)
    onnx = create_detector("retinaface", min_size=20)  # "auto": ONNX Runtime, installed here
    assert onnx.backend == "onnx"
    assert list((tmp_path / "onnx").glob("detector-retinaface-*.onnx"))  # exported once, cached
    b = onnx.detect(image)
    assert len(a) == len(b) >= 1
    for da, db in zip(a, b, strict=True):
        np.testing.assert_allclose(da.box, db.box, atol=0.5)
        np.testing.assert_allclose(da.points, db.points, atol=0.5)
        assert da.score == pytest.approx(db.score, abs=1e-3)
    assert onnx.detect(image)[0].score == pytest.approx(b[0].score)  # the session is reused


def test_detector_weights_are_not_listed_as_landmark_models():
    from facepoints.models.pretrained import list_pretrained

    assert "face-detector-1mb" not in list_pretrained()
    assert list_pretrained()  # the landmark models still are


def test_network_input_is_bgr_minus_the_mean_in_nchw(cuhk_faces):
    from facepoints.inference.detectors.single_shot import MEAN_BGR, network_input

    rgb = load_image(cuhk_faces.images[0])[:, 3:]  # odd width, a view that is not contiguous
    x = network_input(rgb)
    want = (rgb[..., ::-1].astype(np.float32) - np.array(MEAN_BGR, np.float32)).transpose(2, 0, 1)
    assert x.shape == (1, 3, *rgb.shape[:2]) and x.dtype == np.float32
    assert np.array_equal(x[0], want)
