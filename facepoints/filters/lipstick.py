"""Lipstick: colour on the lips, between their outer and inner contours. It needs dense points:
with a 68-point model (or any scheme that projects to the 68 iBUG points) it follows the lips as
they are, open, smiling or pouting; with only 5 points it can but place a generic closed mouth
between the mouth corners, which is what the README's side-by-side figure shows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from ..errors import ConfigError
from ..geometry import apply
from ..schemes import IBUG68, get_scheme, project
from .base import FILTERS, MOUTH, Filter, face_matrix, face_points5

__all__ = ["Lipstick", "lip_contours"]

_OUTER = list(range(48, 60))  # iBUG: outer lip contour, from the image-left corner, clockwise
_INNER = list(range(60, 68))
_SUBPIXEL = 4  # cv2.fillPoly's fractional bits


@FILTERS.register("lipstick")
class Lipstick(Filter):
    """Colour multiplied into the lips (keeping their shading and highlights), soft-edged."""

    name = "lipstick"
    description = "red lips along the lip contours (dense models; 5-point models: a generic mouth)"
    color = (200, 20, 60)
    opacity = 0.6

    def apply(self, image: np.ndarray, faces: Sequence[Any]) -> np.ndarray:
        out = np.ascontiguousarray(image, dtype=np.uint8).copy()
        h, w = out.shape[:2]
        for face in faces:
            contours = lip_contours(face)
            if contours is None:
                continue
            outer, inner = contours
            x0, y0 = np.floor(outer.min(axis=0)).astype(int) - 4
            x1, y1 = np.ceil(outer.max(axis=0)).astype(int) + 5
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
            for poly, value in ((outer, 255), (inner, 0)):
                pts = np.round((poly - [x0, y0]) * (1 << _SUBPIXEL)).astype(np.int32)
                cv2.fillPoly(mask, [pts], value, lineType=cv2.LINE_AA, shift=_SUBPIXEL)
            width = float(np.ptp(outer[:, 0]))
            sigma = max(width / 60, 0.6)
            a = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), sigma)[..., None]
            patch = out[y0:y1, x0:x1].astype(np.float32)
            tinted = patch * (np.array(self.color, np.float32) / 255) * 1.35
            mixed = patch + (np.minimum(tinted, 255) - patch) * a * self.opacity
            out[y0:y1, x0:x1] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
        return out


def lip_contours(face: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """(outer (12, 2), inner (8, 2)) lip contours in image pixels: from the face's own points
    when its scheme reaches the 68 iBUG points, else a generic mouth placed by the 5 points."""
    scheme = getattr(face, "scheme", None)
    pts = np.asarray(getattr(face, "landmarks", face), dtype=np.float64)
    scheme = get_scheme(scheme if scheme is not None else len(pts))
    try:
        dense = project(pts, scheme, IBUG68) if scheme.name != IBUG68.name else pts
    except ConfigError:
        dense = None
    if dense is not None:
        if not np.isfinite(dense).all():
            return None
        return dense[_OUTER], dense[_INNER]
    p5 = face_points5(face)
    if p5 is None:
        return None
    m = face_matrix(p5, anchors=(0, 1, *MOUTH))
    outer, inner = _generic_mouth()
    return apply(m, outer), apply(m, inner)


def _generic_mouth() -> tuple[np.ndarray, np.ndarray]:
    """A closed mouth in face units (mouth corners at (+-0.43, 1.08), as the filters' TEMPLATE):
    12 outer and 8 inner points in the iBUG order (image-left corner first, upper lip, then the
    lower lip back)."""
    outer = np.array(
        [
            [-0.43, 1.08], [-0.29, 0.99], [-0.12, 0.94], [0.0, 0.97], [0.12, 0.94], [0.29, 0.99],
            [0.43, 1.08], [0.30, 1.18], [0.15, 1.24], [0.0, 1.25], [-0.15, 1.24], [-0.30, 1.18],
        ]
    )  # fmt: skip
    inner = np.array(
        [
            [-0.36, 1.08], [-0.14, 1.06], [0.0, 1.065], [0.14, 1.06],
            [0.36, 1.08], [0.14, 1.10], [0.0, 1.105], [-0.14, 1.10],
        ]
    )  # fmt: skip
    return outer, inner
