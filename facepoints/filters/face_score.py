"""Whether a detection is a face worth a filter: one calibrated score from the detector's score and
the landmark model's score together, and the default threshold below which filters stay off.

A logistic model over the two scores' log-odds, fitted by `benchmarks/filters_face_score.py` on
regions labelled by eye (faces, hands, ears, backs of heads, other things) in the tune half of
the WFLW sample's crowd photos, with the default detector and `FILTER_MODEL`; its output is the
chance that the region is a face. The threshold was chosen on those tune photos too; the
held-out half only reports (docs/filters.md).

    from facepoints.filters.face_score import face_score, filterable
    faces = filterable(landmarker.detect(rgb))      # the faces that get filters
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["FACE_SCORE_WEIGHTS", "DEFAULT_MIN_FACE_SCORE", "face_score", "filterable"]

# (bias, weight of the detector's log-odds, weight of the landmark score's log-odds), and the
# threshold; from `python benchmarks/filters_face_score.py --fit` (detector mtcnn, model dense68)
FACE_SCORE_WEIGHTS = (-3.398, 1.362, 1.362)
DEFAULT_MIN_FACE_SCORE = 0.839

_CLIP = 1e-4  # scores are clipped to [_CLIP, 1 - _CLIP] before their log-odds


def face_score(face: Any, weights: Sequence[float] = FACE_SCORE_WEIGHTS) -> float:
    """The chance in [0, 1] that `face` (anything with `score`, the detector's, and
    `landmark_score`) is a real face. A face given by its box (no detector score) counts as
    surely detected; one without point confidences is judged by its detector score alone,
    with the landmark term at even odds."""
    bias, w_det, w_points = (float(w) for w in weights)
    det = _log_odds(getattr(face, "score", float("nan")), missing=1.0 - _CLIP)
    points = _log_odds(getattr(face, "landmark_score", float("nan")), missing=0.5)
    z = bias + w_det * det + w_points * points
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


def filterable(faces: Sequence[Any], min_score: float | None = DEFAULT_MIN_FACE_SCORE) -> list:
    """The faces whose `face_score` reaches `min_score` (None: all of them), order kept."""
    if min_score is None:
        return list(faces)
    return [f for f in faces if face_score(f) >= float(min_score)]


def _log_odds(value: Any, missing: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not math.isfinite(v):
        v = missing
    v = min(max(v, _CLIP), 1.0 - _CLIP)
    return math.log(v / (1.0 - v))
