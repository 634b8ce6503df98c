"""A smile score from landmarks: the probability that the face smiles, by a logistic regression on
the mouth's shape in the face's own frame (eye midpoint at 0, eye line along x, eye distance 1).

The models (`smile.json`, one per scheme the features are taken in: ibug68, which 98-point faces
are projected to, and cuhk5) were fitted by benchmarks/analysis_smile.py on the LFW smile labels
of CUHK's lfw_5590 faces, from the points the shipped models predict there."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..schemes import IBUG68, Scheme, get_scheme, project

__all__ = ["smile_score", "smile_scores", "smile_features", "feature_scheme"]

_MODELS = Path(__file__).with_name("smile.json")
# the points whose shape tells a smile: the nose's base and the whole mouth (68-point indices),
# or, from 5 points, the nose tip and the mouth corners
_POINTS = {"ibug68": tuple(range(31, 36)) + tuple(range(48, 68)), "cuhk5": (2, 3, 4)}


def feature_scheme(scheme: str | int | Scheme) -> Scheme:
    """The scheme a face's smile features are taken in: ibug68 for 68 points and schemes that
    project to them, cuhk5 for 5 points."""
    s = get_scheme(scheme)
    if s.name == IBUG68.name or IBUG68.name in s.projections:
        return IBUG68
    if s.name == "cuhk5":
        return s
    raise ConfigError(f"no smile features for scheme {s.name}")


def smile_features(points: np.ndarray, scheme: str | int | Scheme | None = None) -> np.ndarray:
    """(N, F) features of faces' points (N, K, 2) (or (F,) for one face (K, 2)): the mouth's
    points in the face's frame, flattened."""
    pts = np.asarray(points, np.float64)
    one = pts.ndim == 2
    pts = pts[None] if one else pts
    s = get_scheme(pts.shape[-2] if scheme is None else scheme)
    fs = feature_scheme(s)
    if fs.name != s.name:
        pts = project(pts, s, fs).astype(np.float64)
    p5 = project(pts, fs, "cuhk5").astype(np.float64) if fs.name != "cuhk5" else pts
    origin = (p5[:, 0] + p5[:, 1]) / 2
    axis = p5[:, 1] - p5[:, 0]
    d = np.linalg.norm(axis, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        ux = axis / d
    uy = np.stack([-ux[:, 1], ux[:, 0]], axis=-1)  # y down when x points right
    rel = pts[:, list(_POINTS[fs.name])] - origin[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.einsum("nkd,nd->nk", rel, ux) / d
        y = np.einsum("nkd,nd->nk", rel, uy) / d
    f = np.concatenate([x, y], axis=-1)
    return f[0] if one else f


def smile_scores(points: np.ndarray, scheme: str | int | Scheme | None = None) -> np.ndarray:
    """(N,) probability of a smile for faces' points (N, K, 2); NaN where points are missing."""
    pts = np.asarray(points, np.float64)
    s = get_scheme(pts.shape[-2] if scheme is None else scheme)
    m = _model(feature_scheme(s).name)
    f = smile_features(pts, s)
    z = ((f - m["mean"]) / m["scale"]) @ m["coef"] + m["intercept"]
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))  # no overflow far from the line


def smile_score(points: np.ndarray, scheme: str | int | Scheme | None = None) -> float:
    """The probability that one face (K, 2) smiles."""
    pts = np.asarray(points, np.float64)
    return float(smile_scores(pts[None], len(pts) if scheme is None else scheme)[0])


@functools.lru_cache(maxsize=4)
def _model(name: str) -> dict:
    doc = json.loads(_MODELS.read_text())
    if name not in doc["models"]:
        raise ConfigError(f"no smile model for scheme {name} in {_MODELS.name}")
    m = doc["models"][name]
    return {k: np.asarray(m[k], np.float64) for k in ("mean", "scale", "coef", "intercept")}
