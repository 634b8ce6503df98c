"""RetinaFace (Deng et al. 2020) with a MobileNet-0.25 backbone: boxes, scores and 5 points in
one pass, anchors of 10-256 px at strides 8, 16 and 32. Weights trained on WIDER FACE by the
repository "Face-Detector-1MB-with-landmark" (MIT), shipped in facepoints/weights/."""

from __future__ import annotations

from . import DETECTORS
from .single_shot import SingleShotDetector

__all__ = ["RetinaFaceDetector"]


@DETECTORS.register("retinaface")
class RetinaFaceDetector(SingleShotDetector):
    """RetinaFace-MobileNet-0.25 (426k parameters); options as `SingleShotDetector`."""

    name = "retinaface"
    steps = (8, 16, 32)
    min_sizes = ((10, 20), (32, 64), (128, 256))
