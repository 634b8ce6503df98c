"""Face detectors by name, all offline (no download at run time), one file each; every detector
returns boxes in the training (CUHK) convention through its shipped, fitted `BoxMap`.

    from facepoints.inference.detectors import create_detector
    faces = create_detector().detect(rgb)        # the default detector (retinaface)
    faces = create_detector("retinaface", min_size=20, long_side=640, max_faces=5).detect(rgb)
    faces = create_detector("haar_alt2", min_size=60).detect(rgb)

`benchmarks/detectors.py` measures them and fits the maps; DEFAULT_DETECTOR is chosen from its
numbers (recall first, then speed; the table is in docs/detectors.md)."""

from __future__ import annotations

import warnings

from ...errors import ConfigError
from ...registry import Registry
from .base import BoxMap, Detection, FaceDetector

__all__ = [
    "DETECTORS",
    "DEFAULT_DETECTOR",
    "DEFAULT_ORDER",
    "create_detector",
    "list_detectors",
    "detector_status",
    "Detection",
    "FaceDetector",
    "BoxMap",
]

DETECTORS: Registry[type[FaceDetector]] = Registry("face detector")

# Ranked by benchmarks/detectors.py on the WFLW sample photos, the 300-W crops and CUHK test
# photos: recall first, then speed (docs/detectors.md). With no name, the first of these that can
# run here is used.
DEFAULT_ORDER = ("retinaface", "mtcnn", "dlib_hog", "haar_default", "haar_alt2")
DEFAULT_DETECTOR = DEFAULT_ORDER[0]


def create_detector(name: str | None = None, **kw) -> FaceDetector:
    """A detector by registry name; keyword arguments go to its class (min_size, threshold,
    box_map). With name None: DEFAULT_DETECTOR, or when its package is missing the next of
    DEFAULT_ORDER that can run (with a warning). Raises ConfigError for an unknown name or a
    detector whose package is missing, naming what to install."""
    if name is not None:
        return DETECTORS.get(name)(**kw)
    reasons = []
    for candidate in DEFAULT_ORDER:
        try:
            detector = DETECTORS.get(candidate)(**kw)
        except ConfigError as e:
            reasons.append(str(e))
            continue
        if reasons:
            warnings.warn(
                f"face detector {DEFAULT_DETECTOR} unavailable ({reasons[0]}); using {candidate}",
                stacklevel=2,
            )
        return detector
    raise ConfigError("no face detector can run here: " + "; ".join(reasons))


def list_detectors(available_only: bool = False) -> list[str]:
    """Registered detector names; with available_only, those that can run here."""
    names = DETECTORS.names()
    if available_only:
        names = [n for n in names if detector_status(n) is None]
    return names


def detector_status(name: str) -> str | None:
    """None when detector `name` can run here, else the reason it cannot."""
    try:
        create_detector(name)
    except ConfigError as e:
        return str(e)
    return None


def _register_all() -> None:
    # Importing a detector file registers it; none imports cv2 or dlib before it is created.
    from . import dlib_hog, mtcnn, opencv_haar, retinaface, ultralight  # noqa: F401


_register_all()
