"""Aligned face chips: each face moved by one similarity transform (scale, rotation, shift) that
sends its 5 points (projected from any scheme) onto a template's, and resampled once from the
original pixels.

    from facepoints.analysis import chips
    batch = chips([rgb, rgb], [face_a.landmarks, face_b.landmarks], "ibug68")   # (2, 112, 112, 3)

Templates are chosen by name (`TEMPLATES`): "arcface" is the 112x112 five-point template of
face recognition (ArcFace / InsightFace), "face" the whole face (brows to chin), eyes level.
`size` scales a template and `padding` adds a border around it, as a fraction of the template's
side on each side (dlib's `get_face_chip` convention)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..geometry import fit_similarity, warp
from ..registry import Registry
from ..schemes import Scheme, get_scheme, project

__all__ = ["TEMPLATES", "ChipTemplate", "chip_matrix", "chip_matrices", "chips", "face_chips"]


@dataclass(frozen=True)
class ChipTemplate:
    """Where the 5 CUHK points (image-left eye, right eye, nose tip, left and right mouth corner)
    land in a chip of side `side`, in continuous coordinates (0 is the chip's left or top edge,
    `side` the other); `size` is the side in pixels a chip gets by default."""

    name: str
    points: tuple[tuple[float, float], ...]
    side: float
    size: int
    description: str = ""

    def target(self, size: int | None = None, padding: float = 0.0) -> np.ndarray:
        """(5, 2) float64 pixel positions of the points in a chip of `size` with `padding`."""
        size = self.size if size is None else int(size)
        if size < 8:
            raise ConfigError(f"chip size must be at least 8 pixels, got {size}")
        if not (0.0 <= float(padding) <= 2.0):
            raise ConfigError(f"padding must be between 0 and 2, got {padding!r}")
        unit = np.asarray(self.points, np.float64) / self.side
        unit = (unit + padding) / (1.0 + 2.0 * padding)
        return unit * size - 0.5


TEMPLATES: Registry[ChipTemplate] = Registry("chip template")


def _register(t: ChipTemplate) -> None:
    TEMPLATES.register(t.name)(t)


# The five-point template of 112x112 face-recognition chips (InsightFace's arcface_dst, in pixel
# indices: + 0.5 makes them continuous, so a 112-pixel chip matches InsightFace's to the pixel)
_ARCFACE = (
    (38.2946, 51.6963),
    (73.5318, 51.5014),
    (56.0252, 71.7366),
    (41.5493, 92.3655),
    (70.7299, 92.2041),
)
_register(
    ChipTemplate(
        name="arcface",
        points=tuple((x + 0.5, y + 0.5) for x, y in _ARCFACE),
        side=112.0,
        size=112,
        description="112x112 face-recognition chip (ArcFace's five-point template)",
    )
)
# The whole face: the typical CUHK face (filters.base.TEMPLATE, eye distance 1) in a window 3.4
# eye distances wide from 1.45 above the eyes (filters.align.ALIGN_EXTENT)
_register(
    ChipTemplate(
        name="face",
        points=((1.2, 1.45), (2.2, 1.45), (1.7, 2.06), (1.27, 2.53), (2.13, 2.53)),
        side=3.4,
        size=256,
        description="whole face, brows to chin, eyes level (the align filter's framing)",
    )
)


def chip_matrix(
    points: np.ndarray,
    scheme: str | int | Scheme | None = None,
    template: str = "arcface",
    size: int | None = None,
    padding: float = 0.0,
) -> np.ndarray:
    """2x3 map image -> chip for one face's points (K, 2) image pixels: the least-squares
    similarity from its 5 points to the template's. ConfigError for points that are not finite
    or whose eyes coincide."""
    pts = np.asarray(points, np.float64)
    scheme = get_scheme(len(pts) if scheme is None else scheme)
    p5 = project(pts, scheme, "cuhk5").astype(np.float64)
    if not np.isfinite(p5).all() or np.linalg.norm(p5[1] - p5[0]) < 1e-3:
        raise ConfigError("a face's points are not usable for alignment (not finite, or no eyes)")
    return fit_similarity(p5, TEMPLATES.get(template).target(size, padding))


def chip_matrices(
    points: np.ndarray,
    scheme: str | int | Scheme | None = None,
    template: str = "arcface",
    size: int | None = None,
    padding: float = 0.0,
) -> np.ndarray:
    """(N, 2, 3) maps image -> chip for points (N, K, 2); see `chip_matrix`."""
    return np.stack([chip_matrix(p, scheme, template, size, padding) for p in points])


def chips(
    images: Sequence[np.ndarray],
    points: Sequence[np.ndarray] | np.ndarray,
    scheme: str | int | Scheme | None = None,
    template: str = "arcface",
    size: int | None = None,
    padding: float = 0.0,
) -> np.ndarray:
    """Aligned chips (N, S, S, C) uint8 of N faces: `images[i]` (H, W, C) uint8 holds face i
    (the same image may come several times), `points[i]` its (K, 2) landmarks in image pixels.
    Each chip is one bilinear resampling of the original pixels; parts outside are black."""
    if len(images) != len(points):
        raise ConfigError(f"{len(images)} images for {len(points)} faces")
    t = TEMPLATES.get(template)
    side = t.size if size is None else int(size)
    out = []
    for image, p in zip(images, points, strict=True):
        m = chip_matrix(p, scheme, template, side, padding)
        out.append(warp(np.asarray(image), m, side))
    if not out:
        return np.zeros((0, side, side, 3), np.uint8)
    return np.stack(out)


def face_chips(
    image: np.ndarray,
    faces: Sequence[Any],
    template: str = "arcface",
    size: int | None = None,
    padding: float = 0.0,
) -> np.ndarray:
    """Chips (N, S, S, C) of the `faces` (each with `landmarks` and `scheme`, e.g. `Face`) of
    one image."""
    if not faces:
        side = TEMPLATES.get(template).size if size is None else int(size)
        return np.zeros((0, side, side, 3), np.uint8)
    scheme = faces[0].scheme
    return chips(
        [image] * len(faces), [f.landmarks for f in faces], scheme, template, size, padding
    )
