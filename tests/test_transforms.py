"""Augmentation keeps every landmark on its facial feature, on real CUHK faces."""

from __future__ import annotations

import numpy as np
import pytest

from facepoints.data import read_dataset
from facepoints.data.dataset import LandmarkDataset, crop_to_image, make_crop
from facepoints.data.transforms import (
    CenterCrop,
    ColorJitter,
    Compose,
    GaussianBlur,
    HorizontalFlip,
    RandomAffine,
    RandomGrayscale,
    RandomOcclusion,
    Sample,
)
from facepoints.geometry import apply, invert
from facepoints.io import load_image
from facepoints.schemes import CUHK5

MARKS = np.array(
    [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [255, 0, 255]], dtype=np.uint8
)


@pytest.fixture(scope="module")
def records(cuhk_root):
    return read_dataset("cuhk5", "test", data_root=cuhk_root).subset(slice(0, 40))


def _marked_sample(records, i: int, size: int = 96) -> Sample:
    """A real face crop with a 7x7 patch of a unique colour painted on each landmark."""
    img = load_image(records.images[i])
    crop, m = make_crop(img, records.boxes[i], size, margin=0.6)
    pts = apply(m, records.points[i])
    for k, (x, y) in enumerate(np.round(pts).astype(int)):
        crop[y - 3 : y + 4, x - 3 : x + 4] = MARKS[k]
    return Sample(image=crop, points=pts, matrix=m, scheme=CUHK5)


def _colour_at(s: Sample, k: int) -> np.ndarray:
    x, y = np.round(s.points[k]).astype(int)
    return s.image[y, x].astype(int)


def _assert_marks_follow(s: Sample, labels=range(5)) -> None:
    for k, mark in zip(range(5), labels, strict=True):
        got = _colour_at(s, k)
        assert np.abs(got - MARKS[mark]).max() < 60, (k, got, MARKS[mark])


def test_marks_start_on_their_points(records):
    for i in range(5):
        _assert_marks_follow(_marked_sample(records, i))


@pytest.mark.parametrize("seed", range(6))
def test_random_affine_moves_points_with_pixels(records, seed):
    rng = np.random.default_rng(seed)
    t = RandomAffine(rotate=30, scale=0.2, shift=0.08)
    for i in range(4):
        s = _marked_sample(records, i)
        out = t(s, rng)
        assert not np.allclose(out.points, s.points)
        _assert_marks_follow(out)
        # the matrix still maps the original image points onto the new crop points
        np.testing.assert_allclose(apply(out.matrix, records.points[i]), out.points, atol=1e-3)


def test_flip_swaps_labels_and_twice_is_identity(records):
    rng = np.random.default_rng(0)
    flip = HorizontalFlip(p=1.0)
    s = _marked_sample(records, 3)
    once = flip(s, rng)
    # the point now called "left eye" sits on what was painted as the right eye, and so on
    _assert_marks_follow(once, labels=CUHK5.flip)
    assert once.points[0, 0] < once.points[1, 0]  # image-left eye is still left
    twice = flip(once, rng)
    np.testing.assert_array_equal(twice.image, s.image)
    np.testing.assert_allclose(twice.points, s.points, atol=1e-5)
    np.testing.assert_allclose(twice.matrix, s.matrix, atol=1e-9)
    mapped = apply(once.matrix, records.points[3])
    np.testing.assert_allclose(mapped[list(CUHK5.flip)], once.points, atol=1e-3)


def test_center_crop_is_exact(records):
    s = _marked_sample(records, 1)
    out = CenterCrop(64)(s)
    assert out.image.shape == (64, 64, 3)
    _assert_marks_follow(out)
    np.testing.assert_allclose(out.points, s.points - 16, atol=1e-5)


@pytest.mark.parametrize(
    "t",
    [ColorJitter(p=1.0), RandomGrayscale(p=1.0), GaussianBlur(p=1.0), RandomOcclusion(p=1.0)],
    ids=lambda t: type(t).__name__,
)
def test_photometric_transforms_change_pixels_not_points(records, t):
    rng = np.random.default_rng(1)
    s = _marked_sample(records, 2)
    out = t(s, rng)
    assert out.image.shape == s.image.shape and out.image.dtype == np.uint8
    assert not np.array_equal(out.image, s.image)
    np.testing.assert_array_equal(out.points, s.points)
    np.testing.assert_array_equal(out.matrix, s.matrix)
    if isinstance(t, RandomGrayscale):
        assert (out.image[..., 0] == out.image[..., 1]).all()


def test_compose_chain_keeps_features(records):
    rng = np.random.default_rng(3)
    chain = Compose([RandomAffine(20, 0.1, 0.05), HorizontalFlip(1.0), CenterCrop(80)])
    s = _marked_sample(records, 0)
    out = chain(s, rng)
    _assert_marks_follow(out, labels=CUHK5.flip)


def test_dataset_eval_crop_matches_make_crop_and_maps_back(records):
    ds = LandmarkDataset(records, input_size=64, augment=0.0, progress=False)
    img = load_image(records.images[7])
    crop, m = make_crop(img, records.boxes[7], 64)
    s = ds.sample(7)
    np.testing.assert_allclose(s.matrix, m, atol=1e-6)
    assert np.abs(s.image.astype(int) - crop.astype(int)).max() <= 1
    item = ds[7]
    back = crop_to_image(item["points"].numpy()[None], item["matrix"].numpy()[None], 64)[0]
    np.testing.assert_allclose(back, records.points[7], atol=1e-3)


def test_dataset_augmentation_is_seeded_per_epoch(records):
    ds = LandmarkDataset(records, input_size=48, augment=1.0, progress=False, seed=5)
    a = ds[3]["points"]
    b = ds[3]["points"]
    ds.set_epoch(1)
    c = ds[3]["points"]
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # the returned matrix always maps the face's image points to its crop points
    for i in range(10):
        s = ds.sample(i)
        pts = apply(s.matrix, records.points[i])
        if s.scheme is CUHK5 and not np.allclose(pts, s.points, atol=1e-3):
            np.testing.assert_allclose(pts[list(CUHK5.flip)], s.points, atol=1e-3)
        # and back to the image again
        back = apply(invert(s.matrix), s.points)
        assert back.shape == (5, 2)


def test_grey_tensor_has_one_channel(records):
    ds = LandmarkDataset(records, input_size=39, in_channels=1, progress=False)
    assert ds[0]["image"].shape == (1, 39, 39)
