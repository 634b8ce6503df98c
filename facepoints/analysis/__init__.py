"""What is built on the points: aligned face chips, head pose, eye and mouth openness, blinks over
video, and a smile score. Every function takes landmarks (K, 2) in image pixels and their scheme
(68 or 98 points; alignment and pose work from 5 points too).

    from facepoints.analysis import describe, face_chips
    info = describe(face)        # {"pose": {...}, "openness": {...}, "smile": 0.93}
    chips = face_chips(rgb, faces)                     # (N, 112, 112, 3) recognition chips
"""

from __future__ import annotations

from typing import Any

from .align import TEMPLATES, chip_matrix, chips, face_chips
from .blinks import Blink, BlinkDetector, find_blinks
from .openness import Openness, eye_openness, mouth_openness, openness
from .pose import HeadPose, face3d, head_pose, head_poses
from .smile import smile_score, smile_scores

__all__ = [
    "TEMPLATES",
    "chip_matrix",
    "chips",
    "face_chips",
    "HeadPose",
    "head_pose",
    "head_poses",
    "face3d",
    "Openness",
    "openness",
    "eye_openness",
    "mouth_openness",
    "Blink",
    "BlinkDetector",
    "find_blinks",
    "smile_score",
    "smile_scores",
    "describe",
]


def describe(face: Any, image_size: tuple[int, int] | None = None) -> dict:
    """JSON-ready analysis of one face (anything with `landmarks` (K, 2) and `scheme`, e.g.
    `Face`): {"pose": {"yaw", "pitch", "roll", "std", "error"} or null, "openness": {"left_eye",
    "right_eye", "mouth"} or null (5-point faces), "smile": probability or null}. Points that
    are not finite give nulls. `image_size` (width, height): see `head_pose`."""
    import numpy as np

    from ..errors import ConfigError

    pts = np.asarray(face.landmarks, np.float64)
    out: dict[str, Any] = {"pose": None, "openness": None, "smile": None}
    if not np.isfinite(pts).all():
        return out
    for key, fn in (
        ("pose", lambda: head_pose(pts, face.scheme, image_size).to_dict()),
        ("openness", lambda: openness(pts, face.scheme).to_dict()),
        ("smile", lambda: round(float(smile_score(pts, face.scheme)), 4)),
    ):
        try:
            out[key] = fn()
        except ConfigError:
            pass  # not measurable from this scheme's points
    return out
