"""Teachers for the dense 68-point model: dlib's 68-point predictor and MediaPipe Face Mesh, and
their fusion (a per-point weighted mean) with an agreement score.

Everything the teachers need beyond their own models is fitted once and kept as data in
`teachers.json` beside this file (`facepoints data fit-teachers` writes it):
- dlib's box adapter (scale and shift of a CUHK-convention box), fitted on CUHK training faces;
- the mesh vertex of each of the 68 points, and the per-point fusion weights, fitted on the
  `tune` part of the WFLW sample (`facepoints.data.dense`), never on its `heldout` part."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..io import atomic_write_bytes
from ..schemes import IBUG68
from .base import PEERS, BoxAdapter, LandmarkSource, _check_faces, _to_box

__all__ = [
    "TEACHERS_FILE",
    "TEACHER_NAMES",
    "FUSION_STEPS",
    "Teachers",
    "agreement",
    "fit_teachers",
    "load_teacher_config",
]

TEACHERS_FILE = Path(__file__).with_name("teachers.json")
TEACHER_NAMES = ("dlib68", "mediapipe")
FUSION_STEPS = (0.0, 0.25, 0.5, 0.75, 1.0)  # candidate weights of the mesh, per point


def load_teacher_config(path: str | Path | None = None) -> dict[str, Any]:
    p = Path(path) if path is not None else TEACHERS_FILE
    try:
        cfg = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{p}: cannot read the teachers' fitted data ({e})") from None
    if len(cfg.get("mesh_map", ())) != 68 or len(cfg.get("mesh_weight", ())) != 68:
        raise ConfigError(f"{p}: mesh_map and mesh_weight need 68 entries each")
    return cfg


def agreement(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Disagreement of two 68-point predictions per face: mean point distance over the outer
    eye-corner distance of their mean (NaN where either is missing). Lower is better."""
    mean = (a + b) / 2
    d = np.linalg.norm(a - b, axis=-1).mean(axis=-1)
    return d / np.maximum(IBUG68.norm_distance(mean), 1e-6)


@dataclass
class TeacherOutput:
    """Each teacher's 68 points (NaN where it found no face), the fused points and the
    teachers' disagreement, for N faces."""

    points: dict[str, np.ndarray]
    fused: np.ndarray
    disagreement: np.ndarray


class Teachers(LandmarkSource):
    """Both teachers on the same CUHK-convention boxes; `predict` returns the fused points (one
    teacher's alone where the other found nothing)."""

    name = "teachers"
    scheme = IBUG68

    def __init__(self, config: dict[str, Any] | None = None):
        from .dlib68 import Dlib68
        from .mediapipe_mesh import MediaPipeMesh

        cfg = config if config is not None else load_teacher_config()
        self.config = cfg
        self.dlib = Dlib68()
        self.adapter = BoxAdapter(**cfg.get("dlib_box", {}))
        self.mesh = MediaPipeMesh(
            vertex_map=cfg["mesh_map"],
            context=float(cfg.get("mesh_context", 1.6)),
            fallback=np.full((68, 2), np.nan),  # a face it misses is left to dlib
        )
        self.weight = np.asarray(cfg["mesh_weight"], dtype=np.float64)[:, None]

    @classmethod
    def available(cls) -> bool:
        from .dlib68 import Dlib68
        from .mediapipe_mesh import MediaPipeMesh

        return Dlib68.available() and MediaPipeMesh.available() and TEACHERS_FILE.is_file()

    def run(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> TeacherOutput:
        boxes = _check_faces(images, boxes)
        d = self.dlib.predict_faces(images, self.adapter(boxes)).astype(np.float64)
        m = self.mesh.predict_faces(images, boxes).astype(np.float64)
        return TeacherOutput(
            points={"dlib68": d, "mediapipe": m},
            fused=fuse(d, m, self.weight),
            disagreement=agreement(d, m),
        )

    def predict_faces(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> np.ndarray:
        return self.run(images, boxes).fused.astype(np.float32)

    def predict(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        return self.predict_faces([image] * len(boxes), boxes)

    @property
    def size_mb(self) -> float:
        return self.dlib.size_mb + self.mesh.size_mb


def fuse(dlib: np.ndarray, mesh: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Per-point weighted mean (weight = the mesh's share); a face the mesh missed takes dlib's
    points alone."""
    w = np.broadcast_to(np.asarray(weight, dtype=np.float64).reshape(-1, 1), (68, 1))
    out = (1 - w) * dlib + w * mesh
    missed = np.isnan(mesh).any(axis=(1, 2))
    out[missed] = dlib[missed]
    return out


def fit_teachers(
    tune,
    cuhk_train,
    fit_faces: int = 300,
    mesh_context: float = 1.6,
    progress: bool = True,
) -> dict[str, Any]:
    """Fit the teachers' data on human labels: dlib's box adapter on `fit_faces` CUHK training
    faces (5 points), then on the WFLW `tune` faces (FaceRecords with 68 points and
    CUHK-convention boxes) the mesh vertex of each point and the fusion weight of each point,
    each the one with the smallest mean normalised error."""
    from ..evaluation.metrics import nme_per_face
    from .base import fit_box_adapter, load_images
    from .dlib68 import Dlib68
    from .mediapipe_mesh import NUM_VERTICES, MediaPipeMesh

    if tune.scheme.name != "ibug68":
        raise ConfigError(f"the tune faces must carry 68 points, not {tune.scheme.name}")
    dlib = Dlib68()
    adapter, info = fit_box_adapter(dlib, cuhk_train, n=fit_faces)
    images = load_images(tune)
    mesh = MediaPipeMesh(
        context=mesh_context, vertex_map=list(range(68)), fallback=np.zeros((68, 2))
    )
    verts = np.stack(
        [mesh.predict_mesh(im, b[None])[0] for im, b in zip(images, tune.boxes, strict=True)]
    )
    found = ~np.isnan(verts[:, 0, 0])
    if found.sum() < 10:
        raise ConfigError(f"the mesh found only {int(found.sum())} of {len(tune)} tune faces")
    gt = tune.points.astype(np.float64)
    norm = IBUG68.norm_distance(gt)[:, None]
    # error of every vertex as every point: (68, V) mean over the faces the mesh found
    err = np.zeros((68, NUM_VERTICES))
    for n in np.flatnonzero(found):
        err += np.linalg.norm(verts[n][None, :, :] - gt[n][:, None, :], axis=-1) / norm[n, 0]
    mesh_map = err.argmin(axis=1)
    m = verts[:, mesh_map]
    d = dlib.predict_faces(images, adapter(tune.boxes)).astype(np.float64)
    per_point = {}
    for w in FUSION_STEPS:
        f = (1 - w) * d[found] + w * m[found]
        per_point[w] = (np.linalg.norm(f - gt[found], axis=-1) / norm[found]).mean(axis=0)
    table = np.stack([per_point[w] for w in FUSION_STEPS])  # (steps, 68)
    weight = np.asarray(FUSION_STEPS)[table.argmin(axis=0)]
    fused = fuse(d, m, weight)
    scores = {
        "dlib68": float(nme_per_face(d, gt, IBUG68).mean()),
        "mediapipe (faces found)": float(nme_per_face(m[found], gt[found], IBUG68).mean()),
        "fused": float(nme_per_face(fused, gt, IBUG68).mean()),
    }
    return {
        "about": "fitted by `facepoints data fit-teachers`: dlib's box adapter on CUHK training "
        "faces; mesh vertex and fusion weight (the mesh's share) of each iBUG-68 point on the "
        "WFLW sample's tune faces",
        "dlib_box": adapter.as_dict(),
        "dlib_box_fit": {"faces": info["faces"], "nme": info["nme"]},
        "mesh_context": mesh_context,
        "mesh_map": [int(v) for v in mesh_map],
        "mesh_weight": [float(w) for w in weight],
        "fallback_shape": [[round(float(v), 4) for v in p] for p in _mean_shape(tune)],
        "tune_faces": len(tune),
        "tune_mesh_found": int(found.sum()),
        "tune_nme": scores,
    }


def _mean_shape(faces) -> np.ndarray:
    """The mean of `faces`' points in their boxes' frame (centre 0, unit = the larger side)."""
    return _to_box(faces.points, faces.boxes).mean(axis=0)


def write_teacher_config(cfg: dict[str, Any], path: str | Path | None = None) -> Path:
    p = Path(path) if path is not None else TEACHERS_FILE
    text = json.dumps(cfg, indent=1) + "\n"
    atomic_write_bytes(p, text.encode())
    return p


PEERS.register("teachers")(Teachers)
