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
_PER_ROW = 4  # crops side by side; more faces make more rows


@FILTERS.register("align")
class Align(Filter):
    """Every face with usable points, cropped upright; the crops in rows of `_PER_ROW`. The crop
    side is `size` or, for larger faces, the largest face's own resolution (up to `max_size`),
    so crops of big faces stay sharp."""

    name = "align"
    description = "face-aligned crops (eyes level), side by side"
    reframes = True
    size = 256
    max_size = 1024

    def apply(self, image: np.ndarray, faces: Sequence[Any]) -> np.ndarray:
        faces = list(faces)
        units = max(ALIGN_EXTENT[2] - ALIGN_EXTENT[0], ALIGN_EXTENT[3] - ALIGN_EXTENT[1])
        side = self.size
        for face in faces:
            p5 = face_points5(face)
            if p5 is not None:  # one face unit is the eye distance: keep it at least that sharp
                iod = float(np.linalg.norm(p5[1] - p5[0]))
                side = max(side, min(self.max_size, int(round(iod * units))))
        crops = aligned_faces(image, faces, side)
        if not crops:
            return np.ascontiguousarray(image, dtype=np.uint8).copy()
        if len(crops) <= _PER_ROW:
            return np.hstack(crops)
        blank = np.zeros_like(crops[0])
        crops += [blank] * (-len(crops) % _PER_ROW)
        return np.vstack(
            [np.hstack(crops[i : i + _PER_ROW]) for i in range(0, len(crops), _PER_ROW)]
        )


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
