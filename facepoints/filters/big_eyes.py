"""Big eyes: each eye magnified in place by a smooth radial warp (no artwork)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .base import FILTERS, Filter, face_points5


@FILTERS.register("big_eyes")
class BigEyes(Filter):
    """Within `radius` (in inter-ocular distances) of each eye centre, pixels are pulled in
    towards the centre: the eye grows by 1 / (1 - strength) there, and the warp fades smoothly
    to none at the circle's edge (it is monotonic, so nothing folds over)."""

    name = "big_eyes"
    description = "enlarged eyes (a local warp around each eye)"
    radius = 0.5
    strength = 0.45

    def apply(self, image: np.ndarray, faces: Sequence[Any]) -> np.ndarray:
        out = np.ascontiguousarray(image, dtype=np.uint8).copy()
        for face in faces:
            p5 = face_points5(face)
            if p5 is None:
                continue
            iod = float(np.linalg.norm(p5[1] - p5[0]))
            for eye in p5[:2]:
                magnify(out, eye, self.radius * iod, self.strength)
        return out


def magnify(image: np.ndarray, center: np.ndarray, radius: float, strength: float) -> np.ndarray:
    """Magnify `image` (H, W, C) in place around `center` (x, y) within `radius` pixels: the
    pixel at distance r samples the source at r * (1 - strength * (1 - (r / radius)^2)^2).
    Only the circle's bounding box (clipped to the image) is touched. Returns `image`."""
    import cv2

    h, w = image.shape[:2]
    cx, cy = float(center[0]), float(center[1])
    if not (radius >= 1 and np.isfinite([cx, cy]).all()):
        return image
    x0, y0 = max(int(np.floor(cx - radius)), 0), max(int(np.floor(cy - radius)), 0)
    x1, y1 = min(int(np.ceil(cx + radius)) + 1, w), min(int(np.ceil(cy + radius)) + 1, h)
    if x1 <= x0 or y1 <= y0:
        return image
    xs, ys = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
    dx, dy = xs - cx, ys - cy
    r2 = (dx * dx + dy * dy) / (radius * radius)
    f = 1.0 - strength * np.square(np.clip(1.0 - r2, 0.0, 1.0))
    patch = cv2.remap(
        image,
        (cx + dx * f).astype(np.float32),
        (cy + dy * f).astype(np.float32),
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )
    image[y0:y1, x0:x1] = patch
    return image
