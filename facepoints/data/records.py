"""`FaceRecords`: the in-memory form of any annotated face list, whatever file it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..schemes import Scheme

__all__ = ["FaceRecords", "BadLine"]


@dataclass
class BadLine:
    """A line that a reader skipped (with --skip-bad): where and why."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class FaceRecords:
    """N annotated faces. `boxes` (N, 4) float32 x1 y1 x2 y2 in pixels; `points` (N, K, 2) float32
    x, y in pixels; `images` absolute paths; `sources` a short origin tag per face (e.g. "lfw");
    `attributes` name -> (N,) bool flags (WFLW); `skipped` lines a lenient read dropped."""

    scheme: Scheme
    images: list[Path]
    boxes: np.ndarray
    points: np.ndarray
    sources: list[str] = field(default_factory=list)
    attributes: dict[str, np.ndarray] = field(default_factory=dict)
    name: str = ""
    skipped: list[BadLine] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.images)
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(n, 4)
        self.points = np.asarray(self.points, dtype=np.float32).reshape(
            n, self.scheme.num_points, 2
        )
        if not self.sources:
            self.sources = [""] * n
        assert len(self.sources) == n
        for k, v in self.attributes.items():
            self.attributes[k] = np.asarray(v, dtype=bool).reshape(n)

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index) -> FaceRecords:
        """The faces at `index` (a slice, an index array or a boolean mask)."""
        idx = np.arange(len(self))[index]
        return FaceRecords(
            scheme=self.scheme,
            images=[self.images[i] for i in idx],
            boxes=self.boxes[idx],
            points=self.points[idx],
            sources=[self.sources[i] for i in idx],
            attributes={k: v[idx] for k, v in self.attributes.items()},
            name=self.name,
        )

    def split(self, val_fraction: float, seed: int = 0) -> tuple[FaceRecords, FaceRecords]:
        """A reproducible random (train, validation) split of these faces."""
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(self))
        n_val = int(round(len(self) * val_fraction))
        return self.subset(np.sort(order[n_val:])), self.subset(np.sort(order[:n_val]))

    def split_by_image(self, fraction: float, seed: int = 0) -> tuple[FaceRecords, FaceRecords]:
        """A reproducible random split (rest, part) where `part` holds about `fraction` of the
        faces and every photo's faces fall on one side (for lists with several faces a photo)."""
        photos = sorted({str(p) for p in self.images})
        order = np.random.default_rng(seed).permutation(len(photos))
        chosen = {photos[i] for i in order[: int(round(len(photos) * fraction))]}
        part = np.array([str(p) in chosen for p in self.images], dtype=bool)
        return self.subset(~part), self.subset(part)
