"""One interface for every landmark source, ours or a peer's: `predict(image, boxes)` -> points in
image pixels. Peers get a fair chance on CUHK boxes: a box adapter (scale and shift) and an output
map to the 5 CUHK points (the plain scheme projection, or a linear map), both fitted on training
faces only."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ..data.dataset import DEFAULT_MARGIN, crop_to_image, make_crop, to_tensor
from ..data.records import FaceRecords
from ..errors import ConfigError
from ..io import load_image
from ..registry import Registry
from ..schemes import Scheme, get_scheme, project, projection_matrix

__all__ = [
    "PEERS",
    "LandmarkSource",
    "ModelSource",
    "AdaptedSource",
    "BoxAdapter",
    "Linear5Map",
    "DEFAULT_BOX_GRID",
    "fit_box_adapter",
    "fit_linear_map",
    "load_images",
    "sample_faces",
]


class LandmarkSource:
    """Something that puts landmarks on faces: points of `scheme` in image pixels for each box.

    `predict(image, boxes)`: image (H, W, 3) uint8 RGB, boxes (N, 4) float x1 y1 x2 y2 in pixels
    -> (N, K, 2) float32 x, y in image pixels."""

    name: str = ""
    scheme: Scheme
    install_hint: ClassVar[str] = ""

    def predict(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict_faces(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> np.ndarray:
        """One box per image (faces of many images at once) -> (N, K, 2); sources that can
        batch across images override it."""
        boxes = _check_faces(images, boxes)
        out = np.zeros((len(boxes), self.scheme.num_points, 2), np.float32)
        for i, image in enumerate(images):
            out[i] = self.predict(image, boxes[i : i + 1])[0]
        return out

    @property
    def size_mb(self) -> float:
        """Size of the model file(s) in MB (10^6 bytes)."""
        raise NotImplementedError

    @classmethod
    def available(cls) -> bool:
        """Whether everything this source needs is installed (no model is loaded)."""
        return True


# Peer sources by name; the classes register themselves in their files (dlib68.py, ...).
PEERS: Registry[type[LandmarkSource]] = Registry("peer")


class ModelSource(LandmarkSource):
    """A facepoints model as a source: crop each box with `margin`, one batched forward pass, map
    the points back to the image."""

    def __init__(
        self,
        model: torch.nn.Module,
        margin: float = DEFAULT_MARGIN,
        name: str = "",
        path: str | os.PathLike | None = None,
        scheme: str | None = None,
    ):
        self.model = model.eval()
        self.margin = float(margin)
        self.name = name or str(getattr(model, "config", {}).get("name", type(model).__name__))
        self.path = Path(path) if path is not None else None
        self.scheme = get_scheme(scheme or int(model.num_points))

    @classmethod
    def from_path(cls, spec: str | os.PathLike) -> ModelSource:
        """A shipped model's name, a .safetensors file, a checkpoint or a run folder."""
        from ..models.pretrained import resolve_model

        loaded = resolve_model(spec)
        return cls(loaded.model, loaded.margin, loaded.name, loaded.path, scheme=loaded.scheme.name)

    def predict(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        boxes = _as_boxes(boxes)
        return self.predict_faces([image] * len(boxes), boxes)

    def predict_faces(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> np.ndarray:
        boxes = _check_faces(images, boxes)
        if len(boxes) == 0:
            return np.zeros((0, self.scheme.num_points, 2), np.float32)
        size = int(self.model.input_size)
        crops, mats = zip(
            *(make_crop(im, b, size, self.margin) for im, b in zip(images, boxes, strict=True)),
            strict=True,
        )
        x = to_tensor(np.stack(crops), int(self.model.in_channels))
        return crop_to_image(self._forward(x), np.stack(mats), size).astype(np.float32)

    def _forward(self, x: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            return self.model(x).float().numpy()

    @property
    def size_mb(self) -> float:
        if self.path is not None and self.path.is_file():
            return self.path.stat().st_size / 1e6
        return sum(t.numel() * t.element_size() for t in self.model.state_dict().values()) / 1e6


class OnnxModelSource(ModelSource):
    """The same facepoints model run by ONNX Runtime (exported once to the user cache), or with
    `precision="int8"` its shipped int8 file."""

    def __init__(self, spec: str | os.PathLike, threads: int = 1, precision: str = "float32"):
        from ..inference.onnx_backend import OnnxRunner
        from ..inference.quantized import int8_file
        from ..models.pretrained import resolve_model

        loaded = resolve_model(spec)
        int8 = precision == "int8"
        file = int8_file(loaded.name) if int8 else None
        super().__init__(
            loaded.model,
            margin=loaded.margin,
            name=f"{loaded.name} (onnxruntime{' int8' if int8 else ''})",
            path=file or loaded.path,  # the size column: the file this row runs
            scheme=loaded.scheme.name,
        )
        self.runner = OnnxRunner(file or loaded, threads=threads)

    def _forward(self, x: torch.Tensor) -> np.ndarray:
        return np.asarray(self.runner(x.numpy()), dtype=np.float32)


@dataclass(frozen=True)
class BoxAdapter:
    """Turns a CUHK-convention box into the box a peer prefers: scale the box about its centre,
    then shift the centre by (dx, dy) fractions of the box's width and height."""

    scale: float = 1.0
    dx: float = 0.0
    dy: float = 0.0

    def __call__(self, boxes: np.ndarray) -> np.ndarray:
        b = _as_boxes(boxes).astype(np.float64)
        w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        cx = (b[:, 0] + b[:, 2]) / 2 + self.dx * w
        cy = (b[:, 1] + b[:, 3]) / 2 + self.dy * h
        hw, hh = self.scale * w / 2, self.scale * h / 2
        return np.stack([cx - hw, cy - hh, cx + hw, cy + hh], axis=1).astype(np.float32)

    @property
    def is_identity(self) -> bool:
        return self.scale == 1.0 and self.dx == 0.0 and self.dy == 0.0

    def as_dict(self) -> dict[str, float]:
        return {"scale": self.scale, "dx": self.dx, "dy": self.dy}

    def __str__(self) -> str:
        return f"box x{self.scale:.2f} dx{self.dx:+.3f} dy{self.dy:+.3f}"


class Linear5Map:
    """A learned map from a peer's K raw points to the target scheme's points (5 for CUHK).

    In box-normalised coordinates (origin at the box centre, unit = the box's larger side) each
    target point is a weighted sum of the raw points, the same weights for x and y, plus its own
    offset: out[j] = sum_i W[j, i] raw[i] + b[j]. Fitted by ridge least squares pulled towards
    the plain scheme projection, so few faces cannot send it far."""

    def __init__(self, weights: np.ndarray, offsets: np.ndarray, src: str, dst: str):
        self.weights = np.asarray(weights, dtype=np.float64)  # (K_dst, K_src)
        self.offsets = np.asarray(offsets, dtype=np.float64)  # (K_dst, 2)
        self.src, self.dst = get_scheme(src), get_scheme(dst)

    @classmethod
    def fit(
        cls,
        raw: np.ndarray,
        boxes: np.ndarray,
        target: np.ndarray,
        src: str | Scheme,
        dst: str | Scheme,
        ridge: float = 1e-2,
    ) -> Linear5Map:
        """Fit on raw (N, K_src, 2) and target (N, K_dst, 2) image points of the same boxes."""
        s, d = get_scheme(src), get_scheme(dst)
        r = _to_box(raw, boxes)  # (N, Ks, 2)
        t = _to_box(target, boxes)  # (N, Kd, 2)
        n, ks = r.shape[:2]
        if n < 2:
            raise ConfigError("a linear output map needs at least 2 training faces")
        # unknowns per target point: Ks weights, offset x, offset y; rows: every face's x and y
        a = np.zeros((2 * n, ks + 2))
        a[:n, :ks], a[n:, :ks] = r[..., 0], r[..., 1]
        a[:n, ks], a[n:, ks + 1] = 1.0, 1.0
        prior_w = _plain_matrix(s, d)
        lam = ridge * 2 * n * np.eye(ks + 2)
        lam[ks:, ks:] = 0.0  # offsets are free
        ata = a.T @ a + lam
        weights = np.zeros((d.num_points, ks))
        offsets = np.zeros((d.num_points, 2))
        for j in range(d.num_points):
            y = np.concatenate([t[:, j, 0], t[:, j, 1]])
            prior = np.concatenate([prior_w[j], [0.0, 0.0]])
            sol = np.linalg.solve(ata, a.T @ y + lam @ prior)
            weights[j], offsets[j] = sol[:ks], sol[ks:]
        return cls(weights, offsets, s.name, d.name)

    def __call__(self, raw: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Raw (N, K_src, 2) image points of `boxes` -> (N, K_dst, 2) image points."""
        r = _to_box(raw, boxes)
        out = np.einsum("ji,nid->njd", self.weights, r) + self.offsets[None]
        return _from_box(out, boxes)

    def __repr__(self) -> str:
        return f"Linear5Map({self.src.name} -> {self.dst.name})"


class AdaptedSource(LandmarkSource):
    """A peer seen through a box adapter and an output map to `scheme` (default: the plain scheme
    projection; or a fitted Linear5Map)."""

    def __init__(
        self,
        source: LandmarkSource,
        adapter: BoxAdapter | None = None,
        output_map: Linear5Map | None = None,
        scheme: str | Scheme = "cuhk5",
        name: str = "",
    ):
        self.source = source
        self.adapter = adapter or BoxAdapter()
        self.output_map = output_map
        self.scheme = get_scheme(scheme)
        self.name = name or source.name
        if output_map is not None and output_map.dst.name != self.scheme.name:
            raise ConfigError(f"output map gives {output_map.dst.name}, not {self.scheme.name}")

    def predict(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        boxes = _as_boxes(boxes)
        return self._map(self.source.predict(image, self.adapter(boxes)), boxes)

    def predict_faces(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> np.ndarray:
        boxes = _check_faces(images, boxes)
        return self._map(self.source.predict_faces(images, self.adapter(boxes)), boxes)

    def _map(self, raw: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        if self.output_map is not None:
            return self.output_map(raw, boxes)
        return project(raw, self.source.scheme, self.scheme)

    @property
    def size_mb(self) -> float:
        return self.source.size_mb

    @property
    def mapping(self) -> str:
        """How the raw points become this scheme's, in words."""
        if self.output_map is not None:
            return f"linear {self.source.scheme.num_points}->{self.scheme.num_points}"
        if self.source.scheme.name == self.scheme.name:
            return "as is"
        return f"plain {self.source.scheme.num_points}->{self.scheme.num_points}"


# --- fitting on training faces -------------------------------------------------------------------

DEFAULT_BOX_GRID: Mapping[str, Sequence[float]] = {
    "scale": tuple(np.round(np.arange(0.80, 1.501, 0.05), 3)),
    "dx": tuple(np.round(np.arange(-0.08, 0.081, 0.02), 3)),
    "dy": tuple(np.round(np.arange(-0.20, 0.201, 0.025), 3)),
}


def fit_box_adapter(
    source: LandmarkSource,
    train_records: FaceRecords,
    n: int = 300,
    grid: Mapping[str, Sequence[float]] | None = None,
    images: Sequence[np.ndarray] | None = None,
    rounds: int = 3,
    seed: int = 0,
) -> tuple[BoxAdapter, dict[str, Any]]:
    """The box scale and shift that minimise mean NME of `source` (plain projection to the
    records' scheme) on `n` faces of TRAINING records, by coordinate descent over `grid`
    (identity first, so the result is never worse than identity on these faces).

    Returns (adapter, info) with info = {"nme", "nme_identity", "faces", "evaluations"}.
    Pass `images` (decoded images of `train_records`, face by face) to skip sampling and
    decoding: then all of train_records is used."""
    from ..evaluation.metrics import nme_per_face

    grid = dict(DEFAULT_BOX_GRID if grid is None else grid)
    for key in grid:
        if key not in ("scale", "dx", "dy"):
            raise ConfigError(f"box grid keys are scale, dx, dy; got {key!r}")
    if images is None:
        train_records = sample_faces(train_records, n, seed=seed)
        images = load_images(train_records)
    target = train_records.scheme
    cache: dict[tuple[float, float, float], float] = {}

    def score(p: tuple[float, float, float]) -> float:
        if p not in cache:
            pred = source.predict_faces(images, BoxAdapter(*p)(train_records.boxes))
            pred = project(pred, source.scheme, target)
            cache[p] = float(np.mean(nme_per_face(pred, train_records.points, target)))
        return cache[p]

    best = (1.0, 0.0, 0.0)
    best_score = identity = score(best)
    keys = ("scale", "dy", "dx")
    for _ in range(max(1, rounds)):
        moved = False
        for key in keys:
            i = ("scale", "dx", "dy").index(key)
            for v in grid.get(key, ()):
                cand = list(best)
                cand[i] = float(v)
                cand_t = (cand[0], cand[1], cand[2])
                s = score(cand_t)
                if s < best_score - 1e-9:
                    best, best_score, moved = cand_t, s, True
        if not moved:
            break
    info = {
        "nme": best_score,
        "nme_identity": identity,
        "faces": len(train_records),
        "evaluations": len(cache),
    }
    return BoxAdapter(*best), info


def fit_linear_map(
    source: LandmarkSource,
    train_records: FaceRecords,
    adapter: BoxAdapter | None = None,
    n: int = 300,
    images: Sequence[np.ndarray] | None = None,
    seed: int = 0,
) -> Linear5Map:
    """A Linear5Map from `source`'s raw points (on boxes adapted by `adapter`) to the records'
    points, fitted on `n` TRAINING faces (all of them when `images` are given)."""
    adapter = adapter or BoxAdapter()
    if images is None:
        train_records = sample_faces(train_records, n, seed=seed)
        images = load_images(train_records)
    boxes = train_records.boxes
    raw = source.predict_faces(images, adapter(boxes))
    return Linear5Map.fit(raw, boxes, train_records.points, source.scheme, train_records.scheme)


def sample_faces(records: FaceRecords, n: int, seed: int = 0) -> FaceRecords:
    """A reproducible random subset of n faces (all of them, in order, when n >= len)."""
    if n >= len(records):
        return records
    idx = np.sort(np.random.default_rng(seed).choice(len(records), size=n, replace=False))
    return records.subset(idx)


def load_images(records: FaceRecords) -> list[np.ndarray]:
    """The decoded image of every face (each file decoded once, shared by its faces)."""
    seen: dict[Path, np.ndarray] = {}
    out = []
    for p in records.images:
        if p not in seen:
            seen[p] = load_image(p)
        out.append(seen[p])
    return out


# --- helpers -------------------------------------------------------------------------------------


def _as_boxes(boxes: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float32)
    if b.ndim == 1:
        b = b[None]
    if b.ndim != 2 or b.shape[1] != 4:
        raise ConfigError(f"boxes must be (N, 4) x1 y1 x2 y2, got shape {b.shape}")
    return b


def _check_faces(images: Sequence[np.ndarray], boxes: np.ndarray) -> np.ndarray:
    b = _as_boxes(boxes)
    if len(images) != len(b):
        raise ConfigError(f"one box per image expected: {len(images)} images, {len(b)} boxes")
    return b


def _box_frame(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    b = _as_boxes(boxes).astype(np.float64)
    centre = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], axis=1)
    side = np.maximum(np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]), 1e-6)
    return centre[:, None, :], side[:, None, None]


def _to_box(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    c, s = _box_frame(boxes)
    return (np.asarray(points, dtype=np.float64) - c) / s


def _from_box(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    c, s = _box_frame(boxes)
    return (points * s + c).astype(np.float32)


def _plain_matrix(src: Scheme, dst: Scheme) -> np.ndarray:
    try:
        return projection_matrix(src, dst).astype(np.float64)
    except ConfigError:
        return np.zeros((dst.num_points, src.num_points))
