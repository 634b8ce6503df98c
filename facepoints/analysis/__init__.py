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
    "face_pose",
    "face_eyes",
    "face_smile",
]


def face_pose(face: Any, image_size: tuple[int, int] | None = None) -> HeadPose | None:
    """The head pose of a face (anything with `landmarks` and `scheme`); None when its points
    are not finite or its scheme has no 3D face."""
    return _or_none(lambda: head_pose(face.landmarks, face.scheme, image_size))


def face_eyes(face: Any, image: Any = None) -> tuple[float, float] | None:
    """(image-left, image-right) eye openness of a face, 0 closed, 1 a typical open eye; from the
    points and, with the face's RGB `image`, the eyes' patches too (closer to human labels);
    None for 5-point faces or points that are not finite."""
    import numpy as np

    from ..errors import ConfigError

    def measure() -> tuple[float, float]:
        if not np.isfinite(np.asarray(face.landmarks, np.float64)).all():
            raise ConfigError("points not finite")
        if image is not None:
            from .eyes import eye_openness_from_image

            v = eye_openness_from_image(image, face.landmarks, face.scheme)
        else:
            v = eye_openness(face.landmarks, face.scheme)
        return float(v[0]), float(v[1])

    return _or_none(measure)


def face_smile(face: Any) -> float | None:
    """The probability that a face smiles; None when its points are not usable."""
    return _or_none(lambda: float(smile_score(face.landmarks, face.scheme)))


def _or_none(fn: Any) -> Any:
    import numpy as np

    from ..errors import ConfigError

    try:
        out = fn()
    except ConfigError:
        return None  # not measurable from this scheme's points
    values = np.asarray(
        [out.yaw, out.pitch, out.roll] if isinstance(out, HeadPose) else out, dtype=np.float64
    )
    return out if np.isfinite(values).all() else None


def describe(face: Any, image: Any = None, image_size: tuple[int, int] | None = None) -> dict:
    """JSON-ready analysis of one face (anything with `landmarks` (K, 2) and `scheme`, e.g.
    `Face`): {"pose": {"yaw", "pitch", "roll", "std", "error"} or null, "openness":
    {"left_eye", "right_eye", "mouth"} or null (5-point faces), "smile": probability or null}.
    `image`: the face's RGB image (H, W, 3) uint8, which sets the camera for the pose and lets
    eye openness use the eyes' patches; or `image_size` (width, height) alone (see
    `head_pose`). Points that are not finite give nulls."""
    import numpy as np

    if image is not None:
        image = np.asarray(image)
        image_size = (image.shape[1], image.shape[0])
    pose = face_pose(face, image_size)
    eyes = face_eyes(face, image)
    smile = face_smile(face)
    out: dict[str, Any] = {
        "pose": None if pose is None else pose.to_dict(),
        "openness": None,
        "smile": None if smile is None else round(smile, 4),
    }
    if eyes is not None:
        mouth = float(mouth_openness(face.landmarks, face.scheme))
        o = Openness(eyes[0], eyes[1], mouth)
        out["openness"] = o.to_dict()
    return out
