"""Landmark accuracy: point errors, NME under several normalisations, CED curves, FR and AUC.

The protocol follows PIPNet/HRNet: NME is the mean point error of a face divided by its
normalising distance; FR@t is the fraction of faces with NME > t; AUC@t is the area under the
CED curve on [0, t] divided by t (trapezoids on a fine grid), so a perfect model scores 1.0.
Points are (N, K, 2) float arrays in image pixels, x then y; boxes are (N, 4) x1, y1, x2, y2.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ..errors import ConfigError, FacepointsError
from ..schemes import Scheme, get_scheme, project

__all__ = [
    "NORMS",
    "point_errors",
    "normalising_distance",
    "nme_per_face",
    "ced_curve",
    "failure_rate",
    "auc",
    "threshold_label",
    "summarize",
    "summarize_subsets",
]

DEFAULT_STEPS = 1000  # grid intervals on [0, threshold]: PIPNet's step of 1e-4 at t = 0.1


def point_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Euclidean distance of every predicted point to its ground truth: (N, K, 2) -> (N, K)."""
    p, g = _points_pair(pred, gt)
    return np.linalg.norm(p - g, axis=-1)


def normalising_distance(
    gt: np.ndarray,
    scheme: Scheme | str | int,
    norm: str = "inter-ocular",
    boxes: np.ndarray | None = None,
) -> np.ndarray:
    """The distance each face's error is divided by, shape (N,).

    norm: "inter-ocular" (alias "scheme"): the scheme's own pair (CUHK: eye centres; 300W and
    WFLW: outer eye corners); "inter-pupil": eye centres (WFLW: pupils 96-97); "box": sqrt(w * h)
    of `boxes`; "box-diagonal": the box diagonal.
    """
    fn = NORMS.get(norm)
    if fn is None:
        raise ConfigError(f"unknown normalisation {norm!r}; known: {', '.join(NORMS)}")
    g = np.asarray(gt, dtype=np.float64)
    d = np.asarray(fn(g, get_scheme(scheme), boxes), dtype=np.float64)
    bad = np.flatnonzero(~(np.isfinite(d) & (d > 0)))
    if bad.size:
        shown = ", ".join(str(i) for i in bad[:10]) + (" ..." if bad.size > 10 else "")
        raise FacepointsError(
            f"normalising distance ({norm}) is zero or not finite for {bad.size} face(s): {shown}"
        )
    return d


def nme_per_face(
    pred: np.ndarray,
    gt: np.ndarray,
    scheme: Scheme | str | int,
    norm: str = "inter-ocular",
    boxes: np.ndarray | None = None,
) -> np.ndarray:
    """Normalised mean error of each face, shape (N,)."""
    return _normalised_errors(pred, gt, scheme, norm, boxes).mean(axis=-1)


def ced_curve(
    nme: np.ndarray, max_threshold: float = 0.1, steps: int = DEFAULT_STEPS
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative error distribution: thresholds (steps + 1,) from 0 to `max_threshold` and the
    fraction of faces with NME <= each threshold. NaN NMEs count as failures; no faces -> NaN."""
    if max_threshold <= 0 or steps < 1:
        raise ConfigError(
            f"CED needs max_threshold > 0 and steps >= 1, got {max_threshold}, {steps}"
        )
    e = np.asarray(nme, dtype=np.float64).ravel()
    t = np.linspace(0.0, float(max_threshold), int(steps) + 1)
    if e.size == 0:
        return t, np.full_like(t, np.nan)
    # np.sort puts NaN last, so searchsorted never counts it as <= any threshold
    return t, np.searchsorted(np.sort(e), t, side="right") / e.size


def failure_rate(nme: np.ndarray, threshold: float = 0.1) -> float:
    """Fraction of faces with NME > threshold (NaN counts as a failure); NaN for no faces."""
    e = np.asarray(nme, dtype=np.float64).ravel()
    if e.size == 0:
        return float("nan")
    return float(np.mean(~(e <= threshold)))


def auc(nme: np.ndarray, threshold: float = 0.1, steps: int = DEFAULT_STEPS) -> float:
    """Area under the CED curve on [0, threshold] divided by threshold, in [0, 1]."""
    t, f = ced_curve(nme, threshold, steps)
    area = np.sum((f[1:] + f[:-1]) * np.diff(t)) / 2.0
    return float(area / threshold)


def threshold_label(t: float) -> str:
    """The key suffix of a threshold: 0.1 -> "0.10", 0.08 -> "0.08", 0.075 -> "0.075"."""
    s = f"{t:.2f}"
    return s if abs(float(s) - t) < 1e-12 else f"{t:g}"


def summarize(
    pred: np.ndarray,
    gt: np.ndarray,
    scheme: Scheme | str | int,
    norm: str = "inter-ocular",
    boxes: np.ndarray | None = None,
    thresholds: Sequence[float] = (0.1,),
) -> dict:
    """Metrics of one set of faces as a dict:

    n, norm, scheme, nme (mean), nme_median, "fr@0.10" and "auc@0.10" per threshold,
    per_point (K,) mean normalised error, point_names (K,), per_group {group: mean}, and
    per_face (N,) NME (for CED plots and worst-N lists).
    """
    s = get_scheme(scheme)
    errs = _normalised_errors(pred, gt, s, norm, boxes)
    return _summary(errs, s, norm, thresholds)


def summarize_subsets(
    pred: np.ndarray,
    gt: np.ndarray,
    scheme: Scheme | str | int,
    subsets: Mapping[str, np.ndarray],
    norm: str = "inter-ocular",
    boxes: np.ndarray | None = None,
    thresholds: Sequence[float] = (0.1,),
) -> dict[str, dict]:
    """`summarize` for all faces ("all", first) and for each named boolean mask of shape (N,),
    e.g. WFLW's pose, expression, illumination, make-up, occlusion and blur subsets."""
    s = get_scheme(scheme)
    errs = _normalised_errors(pred, gt, s, norm, boxes)
    out = {"all": _summary(errs, s, norm, thresholds)}
    for name, mask in subsets.items():
        m = np.asarray(mask)
        if m.shape != (len(errs),) or m.dtype != bool:
            raise ConfigError(
                f"subset {name!r}: expected a boolean mask of shape ({len(errs)},), "
                f"got {m.dtype} {m.shape}"
            )
        out[name] = _summary(errs[m], s, norm, thresholds)
    return out


# --- normalisations ------------------------------------------------------------------------------


def _norm_scheme(gt: np.ndarray, scheme: Scheme, boxes: np.ndarray | None) -> np.ndarray:
    return scheme.norm_distance(gt)


def _norm_pupils(gt: np.ndarray, scheme: Scheme, boxes: np.ndarray | None) -> np.ndarray:
    # the 5-point projection's first two points are the eye centres (pupils) of every scheme
    eyes = project(gt, scheme, "cuhk5")[..., :2, :].astype(np.float64)
    return np.linalg.norm(eyes[..., 0, :] - eyes[..., 1, :], axis=-1)


def _box_sides(gt: np.ndarray, boxes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    if boxes is None:
        raise ConfigError("box normalisation needs face boxes, but none were given")
    b = np.asarray(boxes, dtype=np.float64)
    if b.shape != (gt.shape[0], 4):
        raise ConfigError(f"boxes must have shape ({gt.shape[0]}, 4), got {b.shape}")
    return b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]


def _norm_box(gt: np.ndarray, scheme: Scheme, boxes: np.ndarray | None) -> np.ndarray:
    w, h = _box_sides(gt, boxes)
    return np.sqrt(np.clip(w, 0, None) * np.clip(h, 0, None))


def _norm_box_diagonal(gt: np.ndarray, scheme: Scheme, boxes: np.ndarray | None) -> np.ndarray:
    w, h = _box_sides(gt, boxes)
    return np.hypot(w, h)


NormFn = Callable[[np.ndarray, Scheme, "np.ndarray | None"], np.ndarray]
NORMS: dict[str, NormFn] = {
    "inter-ocular": _norm_scheme,
    "scheme": _norm_scheme,
    "inter-pupil": _norm_pupils,
    "box": _norm_box,
    "box-diagonal": _norm_box_diagonal,
}


# --- helpers -------------------------------------------------------------------------------------


def _points_pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    if p.shape != g.shape or p.ndim < 2 or p.shape[-1] != 2:
        raise ConfigError(
            f"predictions and ground truth must both be (N, K, 2); got {p.shape} and {g.shape}"
        )
    return p, g


def _normalised_errors(pred, gt, scheme, norm, boxes) -> np.ndarray:
    """(N, K) point errors divided by each face's normalising distance."""
    s = get_scheme(scheme)
    p, g = _points_pair(pred, gt)
    if g.ndim != 3 or g.shape[1] != s.num_points:
        raise ConfigError(
            f"scheme {s.name} has {s.num_points} points; got points of shape {g.shape}"
        )
    d = normalising_distance(g, s, norm, boxes)
    return np.linalg.norm(p - g, axis=-1) / d[:, None]


def _summary(errs: np.ndarray, scheme: Scheme, norm: str, thresholds: Sequence[float]) -> dict:
    n = len(errs)
    per_face = errs.mean(axis=1) if n else np.zeros(0)
    nan = float("nan")
    out: dict = {
        "n": int(n),
        "scheme": scheme.name,
        "norm": norm,
        "nme": float(per_face.mean()) if n else nan,
        "nme_median": float(np.median(per_face)) if n else nan,
    }
    for t in thresholds:
        key = threshold_label(t)
        out[f"fr@{key}"] = failure_rate(per_face, t)
        out[f"auc@{key}"] = auc(per_face, t)
    per_point = errs.mean(axis=0) if n else np.full(scheme.num_points, np.nan)
    out["per_point"] = per_point
    out["point_names"] = list(scheme.names)
    out["per_group"] = {g: float(per_point[list(idx)].mean()) for g, idx in scheme.groups.items()}
    out["per_face"] = per_face
    return out
