"""Eye and mouth openness from dense landmarks (any scheme whose `contours` outline the eyes and
the inner lips: 68 and 98 points; 5 points have none).

An outline's opening is the mean distance between its facing points (upper and lower lid, or
lip) over the distance between its two corners (the "eye aspect ratio" of Soukupova and Cech,
2016). Eye openness is that over the median of human-labelled open eyes of training faces of the
same scheme (`openness.json`), so 0 is closed and 1 a typical open eye whatever the scheme,
capped at `MAX_EYE_OPENNESS` (a far eye seen almost edge-on has corners that nearly meet, and
its ratio grows without bound while saying nothing of the lids); mouth openness is the inner
lips' mean opening over the distance from the eyes' midpoint to the mouth corners' midpoint (0
closed; about 0.5 for a mouth wide open)."""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..schemes import Scheme, get_scheme, project

__all__ = [
    "MAX_EYE_OPENNESS",
    "Openness",
    "openness",
    "eye_openness",
    "mouth_openness",
    "contour_opening",
]

_TYPICAL = Path(__file__).with_name("openness.json")
# three typical open eyes: above it only a foreshortened eye (a face seen from the side) goes, in
# human labels as in predicted points (the 300-W and WFLW labels' widest open eyes reach about 3)
MAX_EYE_OPENNESS = 3.0


@dataclass(frozen=True)
class Openness:
    """Openness of the image-left eye, the image-right eye (0 closed, 1 typical open) and the
    mouth (0 closed)."""

    left_eye: float
    right_eye: float
    mouth: float

    @property
    def eyes(self) -> float:
        """Both eyes' mean openness."""
        return (self.left_eye + self.right_eye) / 2

    def to_dict(self, decimals: int = 3) -> dict:
        """JSON-ready {"left_eye", "right_eye", "mouth"}."""
        return {
            "left_eye": _round(self.left_eye, decimals),
            "right_eye": _round(self.right_eye, decimals),
            "mouth": _round(self.mouth, decimals),
        }


def openness(points: np.ndarray, scheme: str | int | Scheme | None = None) -> Openness:
    """Eye and mouth openness of one face's landmarks (K, 2)."""
    pts = np.asarray(points, np.float64)
    s = get_scheme(len(pts) if scheme is None else scheme)
    eyes = eye_openness(pts, s)
    return Openness(float(eyes[0]), float(eyes[1]), float(mouth_openness(pts, s)))


def eye_openness(points: np.ndarray, scheme: str | int | Scheme | None = None) -> np.ndarray:
    """(..., 2) openness of the image-left and image-right eye for points (..., K, 2), at most
    MAX_EYE_OPENNESS."""
    pts = np.asarray(points, np.float64)
    s = get_scheme(pts.shape[-2] if scheme is None else scheme)
    left = contour_opening(pts, _contour(s, "eye_left"))
    right = contour_opening(pts, _contour(s, "eye_right"))
    return np.minimum(np.stack([left, right], axis=-1) / _typical_eye(s.name), MAX_EYE_OPENNESS)


def mouth_openness(points: np.ndarray, scheme: str | int | Scheme | None = None) -> np.ndarray:
    """(...,) opening of the inner lips for points (..., K, 2)."""
    pts = np.asarray(points, np.float64)
    s = get_scheme(pts.shape[-2] if scheme is None else scheme)
    # over the eyes-to-mouth distance: the mouth's width vanishes on a face seen from the side,
    # this height does not (with dense68 on the WFLW sample: r 0.08 over the width, 0.85 so)
    inner = _contour(s, "mouth_inner")
    p5 = project(pts, s, "cuhk5").astype(np.float64)
    height = np.linalg.norm(
        (p5[..., 0, :] + p5[..., 1, :] - p5[..., 3, :] - p5[..., 4, :]) / 2, axis=-1
    )
    inner_width = np.linalg.norm(
        pts[..., inner[0], :] - pts[..., inner[len(inner) // 2], :], axis=-1
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        return contour_opening(pts, inner) * inner_width / height


def contour_opening(points: np.ndarray, contour: tuple[int, ...]) -> np.ndarray:
    """(...,) mean distance between an outline's facing points over its corners' distance, for a
    closed outline (corner, upper side..., other corner, lower side back)."""
    p = np.asarray(points, np.float64)[..., list(contour), :]
    n = len(contour)
    if n < 4 or n % 2:
        raise ConfigError(f"an outline needs an even number (>= 4) of points, got {n}")
    m = (n - 2) // 2
    gaps = [np.linalg.norm(p[..., 1 + i, :] - p[..., n - 1 - i, :], axis=-1) for i in range(m)]
    width = np.linalg.norm(p[..., 0, :] - p[..., m + 1, :], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.mean(gaps, axis=0) / width


# --- helpers -------------------------------------------------------------------------------------


def _contour(s: Scheme, name: str) -> tuple[int, ...]:
    try:
        return s.contours[name]
    except KeyError:
        raise ConfigError(
            f"scheme {s.name} has no {name.replace('_', ' ')} outline (openness needs dense points)"
        ) from None


@functools.lru_cache(maxsize=1)
def _typical() -> dict:
    return json.loads(_TYPICAL.read_text())["eye_opening"]


def _typical_eye(scheme: str) -> float:
    typical = _typical()
    if scheme not in typical:
        raise ConfigError(f"no typical eye opening for scheme {scheme} in {_TYPICAL.name}")
    return float(typical[scheme]["median"])


def _round(v: float, decimals: int) -> float | None:
    v = float(v)
    return round(v, decimals) if math.isfinite(v) else None
