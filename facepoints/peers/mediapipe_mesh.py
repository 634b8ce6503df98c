"""MediaPipe Face Mesh (Kartynnik et al. 2019; 478 vertices with the iris refinement) as a landmark
source with 68 iBUG points: each of the 68 points is one mesh vertex (`mesh_map` in `teachers.json`),
the one nearest the human labels of the WFLW sample's tune faces (`facepoints data fit-teachers`),
never fitted on its held-out faces.

Needs `mediapipe==0.10.14`, whose wheel carries its models (later releases download them). Its
declared dependencies would pull a second OpenCV and a protobuf older than ONNX accepts, so ./dev
installs it with `--no-deps` beside `absl-py attrs flatbuffers` (see pyproject's `peers` extra),
and this module gives protobuf 6 back the one method mediapipe 0.10.14 calls that it dropped."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..errors import ConfigError
from ..schemes import IBUG68
from .base import PEERS, LandmarkSource, _as_boxes, _from_box

__all__ = ["MediaPipeMesh", "NUM_VERTICES"]

NUM_VERTICES = 478


class MediaPipeMesh(LandmarkSource):
    """Face Mesh on a square crop around each box (the box's larger side x `context`, resized to
    `crop_size`): its own face detector finds the face in the crop, then the mesh model places
    478 vertices. `predict_mesh` gives the vertices; `predict` the 68 points. A face the mesh
    does not find gets NaN points."""

    name = "mediapipe"
    scheme = IBUG68
    install_hint = (
        "pip install --no-deps mediapipe==0.10.14 && pip install absl-py attrs flatbuffers"
    )

    def __init__(
        self,
        context: float = 2.0,
        crop_size: int = 256,
        vertex_map: Sequence[int] | None = None,
        min_detection_confidence: float = 0.3,
        fallback: np.ndarray | None = None,
    ):
        mp = _import_mediapipe()
        self.context = float(context)
        self.crop_size = int(crop_size)
        if vertex_map is None or fallback is None:
            from .teachers import load_teacher_config

            cfg = load_teacher_config()
            vertex_map = cfg["mesh_map"] if vertex_map is None else vertex_map
            fallback = cfg.get("fallback_shape") if fallback is None else fallback
        self.vertex_map = np.asarray(vertex_map, dtype=np.int64)
        self.fallback = None if fallback is None else np.asarray(fallback, np.float64)
        if self.vertex_map.shape != (68,):
            raise ConfigError("the mesh map needs one vertex for each of the 68 points")
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True,
            max_num_faces=1,
            refine_landmarks=True,
            min_detection_confidence=min_detection_confidence,
        )

    @classmethod
    def available(cls) -> bool:
        return importlib.util.find_spec("mediapipe") is not None

    def predict_mesh(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(N, 478, 2) mesh vertices in image pixels for each box; NaN where no face was found."""
        boxes = _as_boxes(boxes)
        img = np.ascontiguousarray(image, dtype=np.uint8)
        out = np.full((len(boxes), NUM_VERTICES, 2), np.nan, np.float32)
        s = self.crop_size
        for i, (x1, y1, x2, y2) in enumerate(boxes.astype(np.float64)):
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            scale = s / (max(x2 - x1, y2 - y1, 1.0) * self.context)
            # image -> crop: x' = scale * (x - cx) + s/2
            m = np.array([[scale, 0, s / 2 - scale * cx], [0, scale, s / 2 - scale * cy]])
            crop = cv2.warpAffine(
                img, m, (s, s), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            )
            result = self._mesh.process(crop)
            # (retrying wider or tighter crops finds more faces on the WFLW tune half, but
            # mostly wrong ones: its NME there went from 9.3% to 12.5%)
            if result.multi_face_landmarks:
                lm = result.multi_face_landmarks[0].landmark
                v = np.array([(p.x * s, p.y * s) for p in lm], dtype=np.float64)
                out[i] = (v - [s / 2, s / 2]) / scale + [cx, cy]
        return out

    def predict(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """68 points per box; a face the mesh misses gets `fallback` (a mean shape in the box's
        frame) when one is set, else NaN."""
        boxes = _as_boxes(boxes)
        out = self.predict_mesh(image, boxes)[:, self.vertex_map]
        missed = np.isnan(out).any(axis=(1, 2))
        if missed.any() and self.fallback is not None:
            shape = np.repeat(self.fallback[None], int(missed.sum()), axis=0)
            out[missed] = _from_box(shape, boxes[missed])
        return out

    @property
    def size_mb(self) -> float:
        spec = importlib.util.find_spec("mediapipe")
        total = 0
        for folder in spec.submodule_search_locations or ():
            for name in (
                "face_detection_short_range.tflite",
                "face_landmark_with_attention.tflite",
            ):
                for p in Path(folder).rglob(name):
                    total += p.stat().st_size
        return total / 1e6

    def close(self) -> None:
        self._mesh.close()


def _import_mediapipe():
    try:
        from google.protobuf import message_factory, symbol_database
    except ImportError:
        raise ConfigError(
            f"mediapipe is not installed; install it with `{MediaPipeMesh.install_hint}`"
        ) from None
    # protobuf >= 5 dropped GetPrototype, which mediapipe 0.10.14's solution base still calls
    for cls in (symbol_database.SymbolDatabase, message_factory.MessageFactory):
        if not hasattr(cls, "GetPrototype"):
            cls.GetPrototype = lambda self, descriptor: message_factory.GetMessageClass(descriptor)
    try:
        import mediapipe as mp
    except ImportError:
        raise ConfigError(
            f"mediapipe is not installed; install it with `{MediaPipeMesh.install_hint}`"
        ) from None
    return mp


PEERS.register("mediapipe")(MediaPipeMesh)
