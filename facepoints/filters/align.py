"""Align: each face cropped upright and to one scale (eyes level, same place in every crop), the
crops side by side. Not an overlay: the output is a new picture."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..geometry import compose, invert, warp
from .base import FILTERS, Filter, face_matrix, face_points5

__all__ = ["Align", "aligned_faces", "ALIGN_EXTENT"]

# the crop's window in face units (eye midpoint at 0, inter-ocular distance 1): the whole face,
# brows to chin, with a little hair and background
ALIGN_EXTENT = (-1.7, -1.45, 1.7, 1.95)
_MAX_FACES = 8


@FILTERS.register("align")
class Align(Filter):
    name = "align"
    description = "face-aligned crops (eyes level), side by side"
    reframes = True
    size = 256

    def apply(self, image: np.ndarray, faces: Sequence[Any]) -> np.ndarray:
        crops = aligned_faces(image, list(faces)[:_MAX_FACES], self.size)
        if not crops:
            return np.ascontiguousarray(image, dtype=np.uint8).copy()
        return np.hstack(crops)


def aligned_faces(image: np.ndarray, faces: Sequence[Any], size: int = 256) -> list[np.ndarray]:
    """A (size, size, 3) crop per face with usable landmarks: rotated so the eyes are level and
    scaled so the face's 5 points best fit the typical face (`base.TEMPLATE`) in a window of
    `ALIGN_EXTENT` face units. Parts outside the image are black."""
    x0, y0, x1, y1 = ALIGN_EXTENT
    unit = size / max(x1 - x0, y1 - y0)
    to_crop = np.array(
        [
            [unit, 0.0, (size - 1) / 2 - unit * (x0 + x1) / 2],
            [0.0, unit, (size - 1) / 2 - unit * (y0 + y1) / 2],
        ]
    )  # face units -> crop pixels
    crops = []
    for face in faces:
        p5 = face_points5(face)
        if p5 is None:
            continue
        m = compose(to_crop, invert(face_matrix(p5, (0, 1, 2, 3, 4))))  # image -> crop
        crops.append(warp(image, m, size))
    return crops
