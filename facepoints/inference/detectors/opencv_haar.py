"""OpenCV's Viola-Jones Haar cascades for frontal faces, read from the XML files that the OpenCV
4.x wheels ship in `cv2.data.haarcascades`. OpenCV 5 moved the cascade classifier out of its
main module and its wheels no longer carry the files: there these detectors say so."""

from __future__ import annotations

import numpy as np

from ...errors import ConfigError
from . import DETECTORS
from .base import FaceDetector

__all__ = ["HaarDefaultDetector", "HaarAlt2Detector"]


class _HaarDetector(FaceDetector):
    """A Haar cascade run by `detectMultiScale3` on the histogram-equalised grey image.
    `threshold` is the minimum number of neighbouring raw hits a face needs (OpenCV's
    minNeighbors); the score is the cascade's last-stage weight (`levelWeights`)."""

    xml: str = ""
    default_threshold = 3.0
    scale_factor = 1.1

    def __init__(self, min_size: float = 40, threshold: float | None = None, box_map=None):
        super().__init__(min_size=min_size, threshold=threshold, box_map=box_map)
        self._cascade = _load_cascade(self.xml)

    def _detect_raw(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import cv2

        grey = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        rects, _, weights = self._cascade.detectMultiScale3(
            grey,
            scaleFactor=self.scale_factor,
            minNeighbors=max(0, int(round(self.threshold))),
            minSize=(self.window, self.window),
            outputRejectLevels=True,
        )
        rects = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
        boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)
        return boxes, np.asarray(weights, dtype=np.float64).reshape(-1)


@DETECTORS.register("haar_default")
class HaarDefaultDetector(_HaarDetector):
    """haarcascade_frontalface_default.xml (Lienhart's stump cascade, 24x24 window)."""

    name = "haar_default"
    xml = "haarcascade_frontalface_default.xml"
    window = 24


@DETECTORS.register("haar_alt2")
class HaarAlt2Detector(_HaarDetector):
    """haarcascade_frontalface_alt2.xml (Lienhart's tree cascade, 20x20 window)."""

    name = "haar_alt2"
    xml = "haarcascade_frontalface_alt2.xml"
    window = 20


def _load_cascade(xml: str):
    import os

    import cv2

    folder = getattr(getattr(cv2, "data", None), "haarcascades", "")
    path = os.path.join(folder, xml) if folder else ""
    if not hasattr(cv2, "CascadeClassifier") or not os.path.isfile(path):
        raise ConfigError(
            f"OpenCV {cv2.__version__} has no Haar cascades ({xml}): they ship with "
            "opencv-python-headless 4.x only; install `opencv-python-headless<5` or pick "
            "another detector"
        )
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise ConfigError(f"OpenCV could not read the cascade {path}")
    return cascade
