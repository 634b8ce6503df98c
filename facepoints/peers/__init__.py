"""Other tools' landmark predictors (dlib's 68-point model, MTCNN's ONet) behind one interface,
for side-by-side benchmarks. Each peer is optional: `PEERS.get(name).available()` says whether
its package and model file are installed."""

# Importing the peer files registers them; none imports its optional package until used.
from . import dlib68, mtcnn_onet  # noqa: F401
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
