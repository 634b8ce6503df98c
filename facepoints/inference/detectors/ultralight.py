"""The ultra-light face detectors "slim" and "RFB" (after Linzaer's Ultra-Light-Fast-Generic
face detector), with 5 points: anchors of 10-256 px at strides 8, 16, 32 and 64. Weights trained
on WIDER FACE by the repository "Face-Detector-1MB-with-landmark" (MIT), shipped in
facepoints/weights/."""

from __future__ import annotations

from . import DETECTORS
from .single_shot import SingleShotDetector

__all__ = ["UltraLightSlimDetector", "UltraLightRFBDetector"]

_STEPS = (8, 16, 32, 64)
_MIN_SIZES = ((10, 16, 24), (32, 48), (64, 96), (128, 192, 256))


@DETECTORS.register("ultralight_slim")
class UltraLightSlimDetector(SingleShotDetector):
    """The slim version (343k parameters, the fastest); options as `SingleShotDetector`."""

    name = "ultralight_slim"
    steps = _STEPS
    min_sizes = _MIN_SIZES


@DETECTORS.register("ultralight_rfb")
class UltraLightRFBDetector(SingleShotDetector):
    """The RFB version (360k parameters: a receptive-field block at stride 8); options as
    `SingleShotDetector`."""

    name = "ultralight_rfb"
    steps = _STEPS
    min_sizes = _MIN_SIZES
