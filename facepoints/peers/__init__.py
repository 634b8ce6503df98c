"""Other tools' landmark predictors (dlib's 68-point model, MediaPipe Face Mesh, MTCNN's ONet,
and the dense teachers fused) behind one interface,
for side-by-side benchmarks. Each peer is optional: `PEERS.get(name).available()` says whether
its package and model file are installed."""

# Importing the peer files registers them; none imports its optional package until used.
from . import dlib68, mediapipe_mesh, mtcnn_onet, teachers  # noqa: F401
from .base import (
    DEFAULT_BOX_GRID,
    PEERS,
    AdaptedSource,
    BoxAdapter,
    LandmarkSource,
    Linear5Map,
    ModelSource,
    fit_box_adapter,
    fit_linear_map,
    load_images,
    sample_faces,
)

__all__ = [
    "DEFAULT_BOX_GRID",
    "PEERS",
    "AdaptedSource",
    "BoxAdapter",
    "LandmarkSource",
    "Linear5Map",
    "ModelSource",
    "fit_box_adapter",
    "fit_linear_map",
    "load_images",
    "sample_faces",
]
