"""dlib's 68-point shape predictor (Kazemi & Sullivan 2014, trained on iBUG 300-W) as a peer.

Needs `dlib-bin` (or `dlib`) and the model file of `face_recognition_models`:
`pip install dlib-bin face_recognition_models`."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..schemes import IBUG68
from .base import PEERS, LandmarkSource, _as_boxes

__all__ = ["Dlib68", "default_model_path"]

_MODEL_FILE = "shape_predictor_68_face_landmarks.dat"


@PEERS.register("dlib68")
class Dlib68(LandmarkSource):
    """dlib's shape predictor on each box (a `dlib.rectangle`): 68 iBUG points in image pixels."""

    name = "dlib68"
    scheme = IBUG68
    install_hint = "pip install dlib-bin face_recognition_models"

    def __init__(self, model_path: str | os.PathLike | None = None):
        dlib = _import_dlib()
        path = Path(model_path) if model_path is not None else default_model_path()
        if path is None or not path.is_file():
            raise ConfigError(
                f"dlib's 68-point model file not found ({path or _MODEL_FILE}); "
                f"install it with `{self.install_hint}`"
            )
        self.path = path
        self._dlib = dlib
        self._predictor = dlib.shape_predictor(str(path))

    @classmethod
    def available(cls) -> bool:
        try:
            _import_dlib()
        except ConfigError:
            return False
        path = default_model_path()
        return path is not None and path.is_file()

    def predict(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        boxes = _as_boxes(boxes)
        img = np.ascontiguousarray(image, dtype=np.uint8)
        out = np.zeros((len(boxes), 68, 2), np.float32)
        for i, (x1, y1, x2, y2) in enumerate(boxes):
            # dlib's rectangles are inclusive integer pixel bounds
            rect = self._dlib.rectangle(
                int(round(x1)), int(round(y1)), int(round(x2)) - 1, int(round(y2)) - 1
            )
            shape = self._predictor(img, rect)
            out[i] = [(p.x, p.y) for p in shape.parts()]
        return out

    @property
    def size_mb(self) -> float:
        return self.path.stat().st_size / 1e6


def default_model_path() -> Path | None:
    """The 68-point model file inside the installed `face_recognition_models` package.

    Found without importing the package: its __init__ imports pkg_resources, which recent
    setuptools no longer ships."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        p = Path(folder) / "models" / _MODEL_FILE
        if p.is_file():
            return p
    return None


def _import_dlib():
    try:
        import dlib
    except ImportError:
        raise ConfigError(
            f"dlib is not installed; install it with `{Dlib68.install_hint}` "
            "(or `pip install 'facepoints[peers]'`)"
        ) from None
    return dlib
