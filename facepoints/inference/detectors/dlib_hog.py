"""dlib's HOG + linear SVM frontal face detector (`dlib.get_frontal_face_detector`): built into the
dlib library itself (the `dlib-bin` wheel), so it needs no model file."""

from __future__ import annotations

import numpy as np

from ...errors import ConfigError
from . import DETECTORS
from .base import FaceDetector

__all__ = ["DlibHOGDetector", "import_dlib"]


@DETECTORS.register("dlib_hog")
class DlibHOGDetector(FaceDetector):
    """dlib's HOG detector: five 80x80 filters (frontal, left, right, tilted). `threshold` is
    dlib's `adjust_threshold` (0 its default; lower finds more faces and more false ones); the
    score is the SVM margin."""

    name = "dlib_hog"
    window = 80
    default_threshold = 0.0

    def __init__(self, min_size: float = 40, threshold: float | None = None, box_map=None):
        super().__init__(min_size=min_size, threshold=threshold, box_map=box_map)
        self._detector = import_dlib().get_frontal_face_detector()

    def _detect_raw(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rects, scores, _ = self._detector.run(rgb, 0, self.threshold)
        boxes = [(r.left(), r.top(), r.right() + 1, r.bottom() + 1) for r in rects]
        return np.array(boxes, dtype=np.float64).reshape(-1, 4), np.array(scores, dtype=np.float64)


def import_dlib():
    """The dlib module, or a ConfigError that says how to get it."""
    try:
        import dlib
    except ImportError:
        raise ConfigError(
            "this detector needs dlib: `pip install dlib-bin` (or `pip install facepoints[peers]`)"
        ) from None
    return dlib
