"""Eye openness from the photo as well as the points. `eye_openness_from_image` runs a small CNN
(`eye_net`, weights in `eyes_cnn.safetensors`) on each eye's grey patch, cut along the eye's
corners from the face's points, together with both eyes' openness from the points, and reads
openness as human labellers see it: closed eyes under coarse eyelid points, wide eyes, blur and
poor light (see docs/analysis.md; fitted by benchmarks/analysis_openness.py --fit-eyes-cnn on
training faces). `eye_patch_features` gives the HOG of a similar patch, which the ridge
regression in `eyes.json` maps to openness: a lighter, less accurate model kept for comparison
(benchmarks/analysis_openness.py --fit-eyes)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..schemes import Scheme, get_scheme

__all__ = [
    "eye_patch_features",
    "eye_openness_from_image",
    "ridge_openness_from_image",
    "paired",
    "PATCH_SIZE",
]

_MODEL = Path(__file__).with_name("eyes.json")
# an eye's patch: two eye widths (corner to corner) across, one down, in 48x24 pixels, and its HOG
# in 12-pixel blocks of 6-pixel cells (chosen by 5-fold CV on 300-W training faces over 32x16,
# 40x20 and 48x24 patches and 1.6 or 2 eye widths: r 0.795 to 0.813)
PATCH_SIZE = (48, 24)
_WIDTHS = 2.0
_HOG = ((12, 12), (6, 6), (6, 6), 9)  # block, block stride, cell, bins


def eye_patch_features(
    grey: np.ndarray, points: np.ndarray, scheme: str | int | Scheme | None = None
) -> np.ndarray:
    """(2, D) features of one face's image-left and image-right eye: HOG of a grey patch cut
    along the eye's corners (the right eye mirrored, so both look alike), then the points'
    eye openness."""
    import cv2

    from .eye_net import corner_affine, eye_corners
    from .openness import eye_openness

    pts = np.asarray(points, np.float64)
    s = get_scheme(len(pts) if scheme is None else scheme)
    if "eye_left" not in s.contours:
        raise ConfigError(f"scheme {s.name} has no eye outlines")
    w, h = PATCH_SIZE
    ear = eye_openness(pts, s)
    rows = []
    for k, (a, b) in enumerate(eye_corners(pts, s)):
        m = corner_affine(a, b, k == 1, PATCH_SIZE, _WIDTHS)
        patch = cv2.warpAffine(np.ascontiguousarray(grey), m, (w, h), flags=cv2.INTER_LINEAR)
        rows.append(np.concatenate([_hog().compute(patch).ravel(), [ear[k]]]))
    return np.stack(rows)


def eye_openness_from_image(
    image: np.ndarray, points: np.ndarray, scheme: str | int | Scheme | None = None
) -> np.ndarray:
    """(2,) openness of the image-left and image-right eye (0 closed, 1 typical open) of one
    face, from its RGB (or grey) image and landmarks (K, 2)."""

    from . import eye_net

    img = np.asarray(image)
    if img.ndim == 3 and img.shape[-1] == 4:
        img = img[..., :3]
    pts = np.asarray(points, np.float64)
    s = get_scheme(len(pts) if scheme is None else scheme)
    contexts = eye_net.eye_contexts(img, pts, s)
    return eye_net.predict(contexts[None], eye_net.eye_scalars(pts, s)[None])[0]


def ridge_openness_from_image(
    image: np.ndarray, points: np.ndarray, scheme: str | int | Scheme | None = None
) -> np.ndarray:
    """(2,) eye openness as `eye_openness_from_image`, from the HOG ridge regression
    (`eyes.json`) instead of the CNN."""
    import cv2

    img = np.asarray(image)
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img
    x = paired(eye_patch_features(grey, points, scheme))
    m = _model()
    out = ((x - m["mean"]) / m["scale"]) @ m["coef"] + m["intercept"]
    return np.maximum(out, 0.0)


def paired(features: np.ndarray) -> np.ndarray:
    """(..., 2, 2D) each eye's features followed by the other eye's: the two eyes mostly open
    and close together (5-fold CV on 300-W training faces, 32x16 patches: r 0.77 -> 0.80)."""
    f = np.asarray(features, np.float64)
    return np.concatenate([f, f[..., ::-1, :]], axis=-1)


@functools.lru_cache(maxsize=1)
def _hog():
    import cv2

    return cv2.HOGDescriptor(PATCH_SIZE, *_HOG)


@functools.lru_cache(maxsize=1)
def _model() -> dict:
    if not _MODEL.is_file():
        raise ConfigError(f"{_MODEL.name} is missing: the eye-patch model is not fitted")
    doc = json.loads(_MODEL.read_text())
    return {k: np.asarray(doc[k], np.float64) for k in ("mean", "scale", "coef", "intercept")}
