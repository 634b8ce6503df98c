"""Whether a detection is a face worth a filter: one calibrated score from the detector's score and
the landmark model's confidence in the face's points together, and the threshold below which
filters stay off.

A logistic model over two log-odds, fitted per detector (their scores differ) by
`benchmarks/filters_face_score.py` on regions labelled by eye (faces, hands, ears, backs of heads,
other things) in the tune half of the WFLW sample's crowd photos, with `FILTER_MODEL`; its output
is the chance that the region is a face. The landmark term is `points_score`: the lower
quartile of the point confidences (the confidence three in four points reach), which tells
hands, ears and backs of heads from faces better than the mean over all points did (a fist gets
a few very confident "eyes" that pull the mean up; most of its points stay doubtful). Each
detector's threshold was chosen on those tune photos too (the lowest that lets none of their
non-faces through); the held-out half only reports (docs/filters.md). The weights fit the
landmarker's defaults (its crops and confidence head): a change there calls for a refit.

    from facepoints.filters.face_score import face_score, filterable
    faces = filterable(landmarker.detect(rgb), detector="retinaface")   # faces that get filters
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "CALIBRATIONS",
    "DEFAULT_MIN_FACE_SCORE",
    "Calibration",
    "calibration",
    "face_score",
    "filterable",
    "points_score",
]

# ((bias, w_detector, w_points), threshold): the weights of the log-odds of the detector's score
# and of `points_score`; the browser's webcam path (static/live.js) computes the same sum
Calibration = tuple[tuple[float, float, float], float]

# detector -> its calibration; from `python benchmarks/filters_face_score.py --fit --detector NAME`
CALIBRATIONS: dict[str, Calibration] = {
    "mtcnn": ((-3.167, 1.487, 0.493), 0.646),
    "retinaface": ((-0.994, 1.138, 0.837), 0.658),
}
# `min_face_score` as a default argument: each detector's own chosen threshold
DEFAULT_MIN_FACE_SCORE = "auto"

POINTS_QUANTILE = 25  # percent: `points_score` is this percentile of the point confidences
_CLIP = 1e-4  # scores are clipped to [_CLIP, 1 - _CLIP] before their log-odds


def calibration(detector: str | None = None) -> Calibration:
    """The calibration of detector `detector` (a registry name; None: the default detector's).
    A detector without one of its own uses the default detector's, or the first there is."""
    from ..inference.detectors import DEFAULT_DETECTOR

    for name in (detector, DEFAULT_DETECTOR):
        if name in CALIBRATIONS:
            return CALIBRATIONS[name]
    return next(iter(CALIBRATIONS.values()))


def face_score(face: Any, detector: str | None = None) -> float:
    """The chance in [0, 1] that `face` (anything with `score`, the detector's, and point
    confidences: `confidence`, or only `landmark_score`) is a real face, by `detector`'s
    calibration. A face given by its box (no detector score) counts as surely detected; one
    without point confidences is judged by its detector score alone, the landmark term at even
    odds."""
    (bias, w_det, w_points), _ = calibration(detector)
    det = _log_odds(getattr(face, "score", float("nan")), missing=1.0 - _CLIP)
    points = _log_odds(points_score(face), missing=0.5)
    z = bias + w_det * det + w_points * points
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


def filterable(
    faces: Sequence[Any],
    min_score: float | str | None = DEFAULT_MIN_FACE_SCORE,
    detector: str | None = None,
) -> list:
    """The faces whose `face_score` reaches `min_score` ("auto": `detector`'s chosen threshold;
    None: every face), order kept."""
    if min_score is None:
        return list(faces)
    threshold = calibration(detector)[1] if min_score == "auto" else float(min_score)
    return [f for f in faces if face_score(f, detector) >= threshold]


def points_score(face: Any) -> float:
    """The landmark model's confidence in `face`'s points as a whole: the lower quartile
    (`POINTS_QUANTILE`, numpy's linear interpolation) of its point confidences `confidence`
    (K,). A face without per-point confidences gives its `landmark_score` (their mean; NaN:
    none)."""
    conf = getattr(face, "confidence", None)
    if conf is not None:
        c = np.asarray(conf, dtype=np.float64).reshape(-1)
        c = c[np.isfinite(c)]
        if c.size:
            return float(np.percentile(c, POINTS_QUANTILE))
    try:
        return float(getattr(face, "landmark_score", float("nan")))
    except (TypeError, ValueError):
        return float("nan")


def detector_name(landmarker: Any) -> str | None:
    """The registry name of a landmarker's detector (None when it has none or it is not named)."""
    det = getattr(landmarker, "_detector", None) or getattr(landmarker, "detector", None)
    name = getattr(det, "name", None)
    return name if isinstance(name, str) else None


def _log_odds(value: Any, missing: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not math.isfinite(v):
        v = missing
    v = min(max(v, _CLIP), 1.0 - _CLIP)
    return math.log(v / (1.0 - v))
