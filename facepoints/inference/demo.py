"""The image `facepoints predict --demo` runs on: a real face photo found offline, never downloaded.

In order: the "astronaut" photo (Eileen Collins, NASA, public domain) that ships with facepoints
(`astronaut.jpg` beside this module, taken from scikit-image's data files); scikit-image's own copy
when installed; a CUHK test photo where the dataset is present; else a face drawn by code, so the
demo always has something to show."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

__all__ = ["demo_image"]

_CUHK_PHOTO = "lfw_5590/Aaron_Eckhart_0001.jpg"


def demo_image() -> tuple[np.ndarray, str]:
    """(RGB uint8 (H, W, 3), a short name) of the demo photo."""
    from ..errors import ImageError
    from ..io import load_image

    shipped = Path(__file__).with_name("astronaut.jpg")
    candidates = (
        ("astronaut", shipped if shipped.is_file() else None),
        ("astronaut", _skimage_astronaut()),
        ("cuhk-face", _cuhk_photo()),
    )
    for name, path in candidates:
        if path is not None:
            try:
                return load_image(path), name
            except ImageError:
                continue
    return synthetic_face(), "synthetic-face"


def synthetic_face(size: int = 256) -> np.ndarray:
    """A frontal cartoon face drawn with OpenCV: skin oval, eyes, brows, nose, mouth."""
    import cv2

    s = size / 256
    img = np.empty((size, size, 3), dtype=np.uint8)
    img[:] = np.linspace(70, 140, size, dtype=np.uint8)[:, None, None]  # grey-blue gradient
    img[..., 2] = np.clip(img[..., 2].astype(int) + 40, 0, 255)

    def p(x: float, y: float) -> tuple[int, int]:
        return int(round(x * s)), int(round(y * s))

    def r(v: float) -> int:
        return max(1, int(round(v * s)))

    aa = cv2.LINE_AA
    cv2.ellipse(img, p(128, 140), (r(64), r(84)), 0, 0, 360, (224, 180, 150), -1, aa)  # face
    cv2.ellipse(img, p(128, 78), (r(68), r(36)), 0, 180, 360, (70, 45, 30), -1, aa)  # hair
    for x in (100, 156):
        cv2.ellipse(img, p(x, 122), (r(15), r(8)), 0, 0, 360, (250, 250, 250), -1, aa)  # eye
        cv2.circle(img, p(x, 122), r(6), (60, 40, 25), -1, aa)  # iris
        cv2.circle(img, p(x, 122), r(2), (10, 10, 10), -1, aa)  # pupil
        cv2.ellipse(img, p(x, 104), (r(18), r(5)), 0, 190, 350, (70, 45, 30), r(3), aa)  # brow
    nose = np.array([p(128, 124), p(118, 162), p(138, 162)], dtype=np.int32)
    cv2.polylines(img, [nose], False, (180, 130, 105), r(2), aa)
    cv2.ellipse(img, p(128, 184), (r(24), r(9)), 0, 10, 170, (170, 60, 60), r(4), aa)  # mouth
    return img


def _skimage_astronaut() -> Path | None:
    try:
        spec = importlib.util.find_spec("skimage")  # locates the package; runs none of it
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        f = Path(folder) / "data" / "astronaut.png"
        if f.is_file():
            return f
    return None


def _cuhk_photo() -> Path | None:
    from ..data.paths import default_data_root

    roots = [default_data_root("cuhk5")]
    if os.environ.get("FACEPOINTS_DATA"):
        roots.append(Path(os.environ["FACEPOINTS_DATA"]).expanduser() / "cuhk5")
    roots.append(Path(__file__).resolve().parents[3] / "shared" / "data" / "cuhk5")  # a checkout
    for root in roots:
        f = root / _CUHK_PHOTO
        if f.is_file():
            return f
    return None
