"""What every face detector shares: `Detection`, the `FaceDetector` base and `BoxMap`, the fitted
map from a detector's own box to the box convention the landmark models were trained on (CUHK)."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ...errors import ConfigError

__all__ = [
    "Detection",
    "FaceDetector",
    "BoxMap",
    "BOXMAPS_FILE",
    "load_box_map",
    "read_box_maps",
    "write_box_maps",
    "as_rgb",
    "torch_threads",
]

BOXMAPS_FILE = Path(__file__).with_name("boxmaps.json")
MAX_WORK_SIDE = 4096  # the detector never runs on an image larger than this (px, longer side)


@dataclass(frozen=True, eq=False)
class Detection:
    """One face found in an image. `box` (4,) float32 x1 y1 x2 y2 in image pixels, in the training
    (CUHK) box convention: the detector's own box after its BoxMap; `raw_box` the detector's own
    box; `score` the detector's confidence (its own scale: higher is surer); `points` (5, 2)
    float32 in image pixels (eye centres, nose tip, mouth corners, image-left first, as the
    cuhk5 scheme) for detectors that predict them, else None. Boxes may reach past the image
    border for faces the border cuts; crops pad such parts with black."""

    box: np.ndarray
    raw_box: np.ndarray
    score: float
    points: np.ndarray | None = None


@dataclass(frozen=True)
class BoxMap:
    """Raw detector box -> training box: the centre moves by (dx, dy) times the raw box's (w, h),
    the size scales by (sx, sy). Fitted once on training faces (`fit`), shipped as plain numbers."""

    dx: float = 0.0
    dy: float = 0.0
    sx: float = 1.0
    sy: float = 1.0

    def apply(self, boxes: np.ndarray) -> np.ndarray:
        """Map raw boxes (..., 4) to training boxes (..., 4) float32."""
        b = np.asarray(boxes, dtype=np.float64)
        w, h = b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]
        cx = (b[..., 0] + b[..., 2]) / 2 + self.dx * w
        cy = (b[..., 1] + b[..., 3]) / 2 + self.dy * h
        hw, hh = self.sx * w / 2, self.sy * h / 2
        return np.stack([cx - hw, cy - hh, cx + hw, cy + hh], axis=-1).astype(np.float32)

    def invert(self, boxes: np.ndarray) -> np.ndarray:
        """Training boxes (..., 4) -> the raw boxes this map sends to them."""
        b = np.asarray(boxes, dtype=np.float64)
        w, h = (b[..., 2] - b[..., 0]) / self.sx, (b[..., 3] - b[..., 1]) / self.sy
        cx = (b[..., 0] + b[..., 2]) / 2 - self.dx * w
        cy = (b[..., 1] + b[..., 3]) / 2 - self.dy * h
        return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1).astype(
            np.float32
        )

    @classmethod
    def fit(cls, raw: np.ndarray, target: np.ndarray) -> BoxMap:
        """The map sending matched raw boxes (N, 4) to target boxes (N, 4): per coordinate the
        median of the ratios, so a few wrong matches do not pull it."""
        r = np.asarray(raw, dtype=np.float64).reshape(-1, 4)
        t = np.asarray(target, dtype=np.float64).reshape(-1, 4)
        if len(r) == 0:
            raise ConfigError("cannot fit a box map on no matched faces")
        rw, rh = r[:, 2] - r[:, 0], r[:, 3] - r[:, 1]
        tw, th = t[:, 2] - t[:, 0], t[:, 3] - t[:, 1]
        dx = ((t[:, 0] + t[:, 2]) - (r[:, 0] + r[:, 2])) / 2 / rw
        dy = ((t[:, 1] + t[:, 3]) - (r[:, 1] + r[:, 3])) / 2 / rh
        return cls(
            dx=_round(np.median(dx)),
            dy=_round(np.median(dy)),
            sx=_round(np.median(tw / rw)),
            sy=_round(np.median(th / rh)),
        )

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> BoxMap:
        try:
            m = cls(**{k: float(d[k]) for k in ("dx", "dy", "sx", "sy")})
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"bad box map {d!r}: {e}") from None
        if not all(math.isfinite(v) for v in asdict(m).values()) or m.sx <= 0 or m.sy <= 0:
            raise ConfigError(f"bad box map {d!r}: scales must be positive and all finite")
        return m


class FaceDetector:
    """Base of the detectors. A subclass sets `name` (its registry name and its key in
    boxmaps.json), `window` (the smallest face side in pixels it finds at its native scale) and
    implements `_detect_raw`; the base scales the image so that faces of `min_size` pixels reach
    `window`, maps boxes to the training convention, drops faces below `min_size` and sorts.

    min_size: the smallest face kept, as the side of its (training-convention) box in pixels.
    threshold: the detector's own score threshold (None: its default).
    box_map: overrides the shipped map (e.g. while fitting one; BoxMap() is the identity)."""

    name: str = ""
    window: int = 24
    default_threshold: float = 0.0

    def __init__(
        self,
        min_size: float = 40,
        threshold: float | None = None,
        box_map: BoxMap | None = None,
    ):
        if not (min_size > 0 and math.isfinite(min_size)):
            raise ConfigError(f"min_size must be a positive number of pixels, not {min_size!r}")
        self.min_size = float(min_size)
        self.threshold = self.default_threshold if threshold is None else float(threshold)
        self.box_map = box_map if box_map is not None else load_box_map(self.name)

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in an RGB uint8 image (H, W, 3) (grey and RGBA are accepted too), best first."""
        rgb = as_rgb(image)
        scale = self._work_scale(rgb.shape[:2])
        work = resize_by(rgb, scale)
        found = self._detect_raw(work)
        fx, fy = work.shape[1] / rgb.shape[1], work.shape[0] / rgb.shape[0]
        raw = np.asarray(found[0], dtype=np.float64).reshape(-1, 4) / [fx, fy, fx, fy]
        scores = np.asarray(found[1], dtype=np.float64).reshape(-1)
        points = None
        if len(found) > 2 and found[2] is not None:  # detectors that also give 5 points
            points = np.asarray(found[2], np.float64).reshape(-1, 5, 2) / [fx, fy]
            points = points.astype(np.float32)
        boxes = self.box_map.apply(raw)
        side = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        keep = np.flatnonzero(side >= self.min_size)
        keep = keep[np.argsort(-scores[keep], kind="stable")]
        return [
            Detection(
                box=boxes[i],
                raw_box=raw[i].astype(np.float32),
                score=float(scores[i]),
                points=None if points is None else points[i],
            )
            for i in keep
        ]

    __call__ = detect

    def _detect_raw(self, rgb: np.ndarray) -> tuple:
        """Raw boxes (N, 4) x1 y1 x2 y2 and scores (N,) in the pixels of `rgb`, optionally
        followed by 5 points per face (N, 5, 2) in the same pixels."""
        raise NotImplementedError

    def _work_scale(self, hw: tuple[int, int]) -> float:
        """The factor the image is resized by before detection: a face of `min_size` pixels
        (training convention) becomes `window` pixels (raw convention), within MAX_WORK_SIDE."""
        raw_min = self.min_size / min(self.box_map.sx, self.box_map.sy)
        scale = self.window / raw_min
        return min(scale, MAX_WORK_SIDE / max(hw))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(min_size={self.min_size:g}, threshold={self.threshold:g}, "
            f"box_map={self.box_map})"
        )


def load_box_map(name: str, path: str | Path | None = None) -> BoxMap:
    """The shipped box map of detector `name` (identity for a detector not fitted yet)."""
    maps = read_box_maps(path)
    return maps.get(name, BoxMap())


def read_box_maps(path: str | Path | None = None) -> dict[str, BoxMap]:
    """All box maps in a JSON file (default: the one shipped beside the detectors)."""
    p = Path(path) if path is not None else BOXMAPS_FILE
    if not p.is_file():
        return {}
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"{p}: not a readable box-map file ({e})") from None
    maps = data.get("maps", data) if isinstance(data, dict) else None
    if not isinstance(maps, dict):
        raise ConfigError(f"{p}: expected a JSON object of detector name -> box map")
    return {k: BoxMap.from_dict(v) for k, v in maps.items()}


def write_box_maps(maps: dict[str, BoxMap], path: str | Path | None = None, note: str = "") -> Path:
    """Write (merge into) a box-map JSON file; other detectors' maps already there are kept."""
    from ...io import atomic_write

    p = Path(path) if path is not None else BOXMAPS_FILE
    merged = read_box_maps(p) if p.is_file() else {}
    merged.update(maps)
    doc = {
        "about": note
        or "raw detector box -> CUHK training box: centre + (dx*w, dy*h), size * (sx, sy)",
        "maps": {k: merged[k].to_dict() for k in sorted(merged)},
    }
    with atomic_write(p, "w") as f:
        f.write(json.dumps(doc, indent=2) + "\n")
    return p


def as_rgb(image: np.ndarray) -> np.ndarray:
    """An (H, W, 3) uint8 contiguous view/copy of a grey, grey+1, RGB or RGBA uint8 array."""
    from ...io import array_to_rgb

    return array_to_rgb(image)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the body with `n` torch threads, restoring the number after (n <= 0: unchanged)."""
    import torch

    before = torch.get_num_threads()
    if n <= 0 or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def resize_by(rgb: np.ndarray, scale: float) -> np.ndarray:
    """`rgb` scaled by `scale` (area averaging to shrink, linear to enlarge; itself within 0.1%)."""
    if abs(scale - 1.0) < 1e-3:
        return rgb
    import cv2

    h, w = rgb.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(rgb, size, interpolation=interp)


def _round(v: float) -> float:
    return round(float(v), 4)
