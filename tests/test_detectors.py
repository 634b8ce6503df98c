"""Face detectors: the default on real CUHK test photos, several faces, no face, faces cut by the
border, min_size, and the box maps (fit, apply, JSON)."""

from __future__ import annotations

import numpy as np
import pytest

from facepoints.errors import ConfigError, ImageError
from facepoints.inference.detectors import (
    DEFAULT_DETECTOR,
    DETECTORS,
    BoxMap,
    create_detector,
    detector_status,
    list_detectors,
)
from facepoints.inference.detectors.base import load_box_map, read_box_maps, write_box_maps
from facepoints.inference.detectors.fit import fit_box_map, iou, match_faces, run_detector
from facepoints.io import load_image

N_IMAGES = 30


@pytest.fixture(scope="module")
def detector():
    reason = detector_status(DEFAULT_DETECTOR)
    if reason is not None:
        pytest.skip(f"default detector {DEFAULT_DETECTOR} unavailable: {reason}")
    return create_detector()


@pytest.fixture(scope="module")
def test_faces(cuhk_root):
    from facepoints.data import read_dataset

    records = read_dataset("cuhk5", "test", cuhk_root)
    idx = np.linspace(0, len(records) - 1, N_IMAGES).round().astype(int)
    return records.subset(idx)


@pytest.fixture(scope="module")
def runs(detector, test_faces):
    return run_detector(detector, test_faces)


def test_default_finds_cuhk_faces_with_mapped_boxes(runs, test_faces, detector):
    found, good = 0, 0
    for run in runs:
        gt = test_faces.boxes[run.faces]
        mapped = detector.box_map.apply(run.raw)
        m = match_faces(mapped, gt)
        found += int((m >= 0).sum())
        for g, d in enumerate(m):
            if d >= 0:
                good += iou(mapped[d], gt[g])[0, 0] >= 0.5
    assert found / len(test_faces) >= 0.8
    assert good / max(found, 1) >= 0.8


def test_detections_are_sorted_typed_and_mapped(detector, test_faces):
    image = load_image(test_faces.images[0])
    dets = detector.detect(image)
    assert dets
    scores = [d.score for d in dets]
    assert scores == sorted(scores, reverse=True)
    for d in dets:
        assert d.box.shape == (4,) and d.box.dtype == np.float32
        assert d.raw_box.shape == (4,) and isinstance(d.score, float)
        np.testing.assert_allclose(d.box, detector.box_map.apply(d.raw_box), atol=1e-4)


def test_two_faces_side_by_side(detector, test_faces):
    lfw = [p for p in test_faces.images if "lfw" in str(p)]
    a, b = load_image(lfw[0]), load_image(lfw[1])
    pair = np.concatenate([a, b], axis=1)
    dets = detector.detect(pair)
    assert len(dets) == 2
    centres = sorted((d.box[0] + d.box[2]) / 2 for d in dets)
    assert centres[0] < a.shape[1] <= centres[1]


def test_blank_and_grey_images_have_no_face(detector):
    assert detector.detect(np.full((240, 320, 3), 128, np.uint8)) == []
    assert detector.detect(np.zeros((50, 60), np.uint8)) == []  # grey input is accepted
    assert detector.detect(np.zeros((1, 1, 3), np.uint8)) == []


def test_face_cut_by_the_border(detector, test_faces):
    i = next(k for k, p in enumerate(test_faces.images) if "lfw" in str(p))
    image = load_image(test_faces.images[i])
    x1, _, x2, _ = test_faces.boxes[i]
    cut = np.ascontiguousarray(image[:, int((x1 + x2) / 2) :])  # the face's left half is gone
    dets = detector.detect(cut)
    for d in dets:
        assert np.isfinite(d.box).all() and d.box[2] > d.box[0] and d.box[3] > d.box[1]


def test_min_size_drops_small_faces(detector, test_faces):
    i = next(k for k, p in enumerate(test_faces.images) if "lfw" in str(p))
    image = load_image(test_faces.images[i])
    side = float(test_faces.boxes[i, 2] - test_faces.boxes[i, 0])
    assert create_detector(DEFAULT_DETECTOR, min_size=side * 0.6).detect(image)
    assert create_detector(DEFAULT_DETECTOR, min_size=side * 2).detect(image) == []


def test_bad_input_and_names():
    with pytest.raises(ConfigError, match="unknown face detector"):
        create_detector("no-such-detector")
    assert DEFAULT_DETECTOR in list_detectors()
    assert set(list_detectors(available_only=True)) <= set(DETECTORS.names())
    with pytest.raises(ConfigError):
        DETECTORS.get(DEFAULT_DETECTOR)(min_size=0)
    if detector_status(DEFAULT_DETECTOR) is None:
        with pytest.raises(ImageError):
            create_detector().detect(np.zeros((10, 10, 3), np.float32))


@pytest.mark.parametrize("name", DETECTORS.names())
def test_each_detector_runs_or_says_what_to_install(name, test_faces):
    reason = detector_status(name)
    if reason is not None:
        assert "install" in reason
        pytest.skip(reason)
    det = create_detector(name)
    image = load_image(test_faces.images[0])
    dets = det.detect(image)
    assert dets and match_faces(np.array([d.box for d in dets]), test_faces.boxes[:1])[0] >= 0
    assert det.detect(np.full((200, 200, 3), 90, np.uint8)) == []


def test_every_detector_has_a_shipped_box_map():
    maps = read_box_maps()
    for name in DETECTORS.names():
        assert name in maps, f"{name} has no fitted box map in boxmaps.json"
        assert 0.5 < maps[name].sx < 2 and 0.5 < maps[name].sy < 2


def test_box_map_apply_invert_fit_and_json(tmp_path):
    m = BoxMap(dx=0.05, dy=-0.1, sx=0.8, sy=0.9)
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 300, (20, 2))
    raw = np.concatenate([xy, xy + rng.uniform(30, 120, (20, 2))], axis=1).astype(np.float32)
    np.testing.assert_allclose(m.invert(m.apply(raw)), raw, atol=1e-3)
    fitted = BoxMap.fit(raw, m.apply(raw))
    for k in ("dx", "dy", "sx", "sy"):
        assert getattr(fitted, k) == pytest.approx(getattr(m, k), abs=1e-3)

    path = tmp_path / "maps.json"
    write_box_maps({"a": m}, path)
    write_box_maps({"b": BoxMap()}, path)  # merges, keeps "a"
    assert read_box_maps(path) == {"a": m, "b": BoxMap()}
    assert load_box_map("a", path) == m and load_box_map("missing", path) == BoxMap()
    with pytest.raises(ConfigError):
        BoxMap.from_dict({"dx": 0, "dy": 0, "sx": -1, "sy": 1})


def test_fit_box_map_recovers_a_known_map(test_faces):
    from facepoints.inference.detectors.fit import ImageRun

    truth = BoxMap(dx=0.02, dy=0.08, sx=0.78, sy=0.8)
    raw = truth.invert(test_faces.boxes)
    runs = [ImageRun([i], raw[i : i + 1], np.ones(1), 0.0) for i in range(len(test_faces))]
    fitted = fit_box_map(runs, test_faces)
    for k in ("dx", "dy", "sx", "sy"):
        assert getattr(fitted, k) == pytest.approx(getattr(truth, k), abs=2e-3)


def test_match_faces_one_detection_per_face():
    gt = np.array([[0, 0, 100, 100], [200, 0, 300, 100]], np.float32)
    det = np.array([[210, 5, 305, 100], [5, 5, 100, 95], [0, 0, 99, 99], [500, 500, 600, 600]])
    m = match_faces(det, gt)
    assert m[1] == 0 and m[0] in (1, 2)
    assert (match_faces(np.zeros((0, 4)), gt) == -1).all()


def test_nme_with_detected_boxes_compares_like_for_like(detector, test_faces):
    from facepoints.inference.detectors.fit import nme_with_detected_boxes

    # a "model" that places the mean CUHK shape in each face's box
    b = test_faces.boxes
    rel = (test_faces.points - b[:, None, :2]) / (b[:, None, 2:] - b[:, None, :2])
    mean = rel.mean(axis=0)

    def predict(records):
        bb = records.boxes
        return bb[:, None, :2] + mean[None] * (bb[:, None, 2:] - bb[:, None, :2])

    out = nme_with_detected_boxes(predict, test_faces, detector)
    assert out["faces"] == len(test_faces) and out["found"] >= 0.8 * len(test_faces)
    for k in ("nme_listed_boxes", "nme_listed_boxes_found_faces", "nme_detected_boxes"):
        assert 0 < out[k] < 0.5


def test_default_falls_back_when_its_package_is_missing(monkeypatch):
    import facepoints.inference.detectors as detectors

    if not list_detectors(available_only=True):
        pytest.skip("no detector can run here")

    class Missing(detectors.FaceDetector):
        name = "missing"

        def __init__(self, **kw):
            raise ConfigError("needs a package: `pip install it`")

    monkeypatch.setitem(DETECTORS._items, "missing", Missing)
    monkeypatch.setattr(detectors, "DEFAULT_ORDER", ("missing", *detectors.DEFAULT_ORDER))
    monkeypatch.setattr(detectors, "DEFAULT_DETECTOR", "missing")
    with pytest.warns(UserWarning, match="missing unavailable"):
        det = create_detector(min_size=50)
    assert det.name in list_detectors(available_only=True) and det.min_size == 50
