"""A face found in a photo (`Face`: box, detector score, landmarks, their confidences, and what
the points tell: pose, eye openness, smile), and `make_faces`, which builds them from per-face
arrays."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from ..schemes import Scheme

__all__ = ["Face", "make_faces"]


@dataclass(repr=False)
class Face:
    """One face: `box` (4,) float32 x1 y1 x2 y2 in image pixels (the detector's box, already in
    the training convention, or the box given), `score` the detector's confidence (NaN for a
    given box), `landmarks` (K, 2) float32 image pixels x then y, `scheme` naming the points.

    `confidence` (K,) float32 in [0, 1]: for a calibrated model, the probability that each point
    is within 0.10 of the normalising distance (see `facepoints.models.confidence`; None: not
    computed). `landmark_score`: the face-level score, the mean point confidence (NaN: none)."""

    box: np.ndarray
    score: float
    landmarks: np.ndarray
    scheme: Scheme
    confidence: np.ndarray | None = None
    landmark_score: float = float("nan")

    def __post_init__(self) -> None:
        if self.confidence is not None and not math.isfinite(self.landmark_score):
            from ..models.confidence import face_score

            self.landmark_score = float(face_score(self.confidence))

    def __repr__(self) -> str:
        x1, y1, x2, y2 = (float(v) for v in np.asarray(self.box).reshape(4))
        return (
            f"Face(box=[{x1:.1f}, {y1:.1f}, {x2:.1f}, {y2:.1f}], score={self.score:.3g}, "
            f"landmarks={len(self.landmarks)} x 2, landmark_score={self.landmark_score:.3g}, "
            f"scheme={self.scheme.name})"
        )

    def to_dict(self, decimals: int = 2) -> dict:
        """JSON-ready: {"box": [x1, y1, x2, y2], "score": float or null, "landmarks": [[x, y], ...],
        "points": {name: [x, y]}, "confidence": [c, ...], "landmark_score": float or null,
        "scheme": name}; pixels rounded to `decimals`, confidences to 4 decimals."""
        pts = [[_num(x, decimals), _num(y, decimals)] for x, y in np.asarray(self.landmarks)]
        score = float(self.score)
        conf = None
        if self.confidence is not None:
            conf = [_num(c, 4) for c in np.asarray(self.confidence, dtype=np.float64)]
        return {
            "box": [_num(v, decimals) for v in np.asarray(self.box).reshape(4)],
            "score": round(score, 4) if math.isfinite(score) else None,
            "landmarks": pts,
            "points": dict(zip(self.scheme.names, pts, strict=True)),
            "confidence": conf,
            "landmark_score": _num(self.landmark_score, 4),
            "scheme": self.scheme.name,
        }

    # what the points tell (facepoints.analysis), computed on first use; None: not measurable
    @functools.cached_property
    def pose(self):
        """Head pose (`analysis.HeadPose`: yaw, pitch, roll degrees and their uncertainty)."""
        from ..analysis import face_pose

        return face_pose(self)

    @functools.cached_property
    def eyes_open(self) -> tuple[float, float] | None:
        """(image-left, image-right) eye openness from the points: 0 closed, 1 typical open."""
        from ..analysis import face_eyes

        return face_eyes(self)

    @functools.cached_property
    def smile(self) -> float | None:
        """The probability that the face smiles."""
        from ..analysis import face_smile

        return face_smile(self)


def make_faces(
    boxes: np.ndarray,
    scores: np.ndarray,
    points: np.ndarray,
    confidences: np.ndarray | None,
    scheme: Scheme,
) -> list[Face]:
    """Face objects from per-face arrays: boxes (N, 4), detector scores (N,), points (N, K, 2)
    and confidences (N, K) (or None)."""
    return [
        Face(
            box=boxes[j],
            score=float(scores[j]),
            landmarks=points[j],
            scheme=scheme,
            confidence=None if confidences is None else confidences[j],
        )
        for j in range(len(boxes))
    ]


def _num(v: float, decimals: int) -> float | None:
    v = float(v)
    return round(v, decimals) if math.isfinite(v) else None
