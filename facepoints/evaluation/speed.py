"""`facepoints bench --speed`: how long the calls users make take, on one CPU thread, for every
shipped model beside peers (dlib, MTCNN's ONet), in one run on the same faces.

Columns (medians; sources take turns every few calls, so background load hits all alike):
- ms/face at batch 1: `FaceLandmarker(model).landmarks(rgb, box)`, one given CUHK test box a call
  (a peer: `predict(rgb, box)`);
- ms/face at batch 32: `FaceLandmarker(model).detect(32 images, boxes=...)`, one box each, so the
  32 faces go through the model together (a peer: its own loop over the faces);
- ms per 640x480 photo holding 1 and 10 faces: `FaceLandmarker(model).detect(photo)`, detector
  included (a peer gets the same detector's boxes);
- video fps: a `FaceTracker` over 640x480 frames of one moving face (detector every 30 frames).

Models run as users get them: the default backend (ONNX Runtime where installed) and refine
choice; `backend` forces one. With one thread all the work runs on the calling thread, so the
default clock is that thread's CPU time (`time.thread_time`): the cost of the work itself, which a
busy machine hardly changes; clock="wall" takes wall-clock time instead (the two agree on a quiet
machine)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..schemes import Scheme

__all__ = ["DEFAULT_SPEED_PEERS", "run_speed", "format_speed", "speed_photo", "speed_video"]

DEFAULT_SPEED_PEERS = ("dlib68", "mtcnn-onet")
_CLOCKS = {"cpu": time.thread_time, "wall": time.perf_counter}
_W, _H = 640, 480
_BATCH = 32
_DETECT_EVERY = 30
_BLOCK = 10  # calls (or frames) a source makes in a row before the next source's turn


def run_speed(
    models: Sequence[str],
    peers: Sequence[str] = DEFAULT_SPEED_PEERS,
    data_root: str | None = None,
    faces: int = 200,
    photo_repeats: int = 20,
    frames: int = 150,
    backend: str = "auto",
    clock: str = "cpu",
    progress: bool = True,
) -> list[dict[str, Any]]:
    """One row per source (each model in `models`, then each installed peer) with ms_b1,
    ms_b32, ms_photo1, ms_photo10 and video_fps, on one thread; `vs_dlib_*`: dlib68's time over
    the row's (how many times faster), where dlib68 is among the peers."""
    import cv2
    import torch

    from ..data import read_dataset
    from ..inference.detectors import create_detector
    from ..inference.landmarker import FaceLandmarker
    from ..inference.quantized import int8_models
    from ..io import load_image
    from ..peers import PEERS, sample_faces

    if clock not in _CLOCKS:
        raise ConfigError(f"clock must be one of {', '.join(_CLOCKS)}, not {clock!r}")
    now = _CLOCKS[clock]
    if faces < _BATCH:
        raise ConfigError(f"--speed needs at least {_BATCH} faces, got {faces}")
    old = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    try:
        recs = sample_faces(read_dataset("cuhk5", "test", data_root=data_root), faces, seed=0)
        images = [load_image(p) for p in recs.images]
        detector = create_detector(None, min_size=20)
        sources: list[_Source] = []
        for m in models:
            lm = FaceLandmarker(m, backend=backend, threads=1, detector=detector)
            sources.append(_Source(f"{lm.name} ({lm.backend})", "facepoints", lm, lm))
            if lm.backend == "onnx" and m in int8_models():  # and its int8 file beside it
                q = FaceLandmarker(m, threads=1, detector=detector, precision="int8")
                sources.append(_Source(f"{q.name} (onnx, int8)", "facepoints", q, q))
        for name in peers:
            cls = PEERS.get(name)
            if cls.available():
                peer = _PeerLandmarker(cls(), detector)
                sources.append(_Source(name, "peer", peer, None))
            elif progress:
                _say(f"{name}: not installed ({cls.install_hint}); left out")
        rows = [{"source": s.name, "kind": s.kind} for s in sources]
        _say_if(progress, f"batch 1: {len(images)} faces x {len(sources)} sources")
        _merge(rows, "ms_b1", _time_batch1(sources, images, recs.boxes, now))
        _merge(rows, "ms_b32", _time_batch32(sources, images, recs.boxes, now))
        _say_if(progress, "photos: 1 and 10 faces")
        for n in (1, 10):
            photo = speed_photo(images, recs.boxes, n)
            _merge(rows, f"ms_photo{n}", _time_photo(sources, photo, photo_repeats, now))
        _say_if(progress, f"video: {frames} frames")
        video = speed_video(images[0], recs.boxes[0], frames)
        _merge(rows, "video_fps", _time_video(sources, video, now))
    finally:
        torch.set_num_threads(old[0])
        cv2.setNumThreads(old[1])
    dlib = next((r for r in rows if r["source"] == "dlib68"), None)
    for r in rows:
        for key in ("ms_b1", "ms_b32", "ms_photo1", "ms_photo10"):
            r[f"vs_dlib_{key[3:]}"] = dlib[key] / r[key] if dlib else float("nan")
        r["vs_dlib_video"] = r["video_fps"] / dlib["video_fps"] if dlib else float("nan")
        r["faces"], r["frames"], r["clock"] = len(images), frames, clock
    return rows


def format_speed(rows: Sequence[dict[str, Any]]) -> str:
    """The speed table as Markdown; each time with its ratio to dlib68 (x times faster)."""
    has_dlib = any(r["source"] == "dlib68" for r in rows)
    head = ["Source", "ms/face, batch 1", "ms/face, batch 32", "ms/photo, 1 face"]
    head += ["ms/photo, 10 faces", "video fps (tracking)"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "--:|" * (len(head) - 1)]
    for r in rows:
        cells = [r["source"]]
        for key in ("b1", "b32", "photo1", "photo10"):
            cells.append(_cell(r[f"ms_{key}"], r[f"vs_dlib_{key}"], ".2f", has_dlib))
        cells.append(_cell(r["video_fps"], r["vs_dlib_video"], ".0f", has_dlib))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def speed_photo(images: Sequence[np.ndarray], boxes: np.ndarray, n: int) -> np.ndarray:
    """A 640x480 RGB photo of `n` (1 to 10) faces: each face's square of twice its box side,
    scaled into one cell of a 5 x 2 grid (one face: a 240 px square in the middle)."""
    import cv2

    if not 1 <= n <= 10:
        raise ConfigError(f"a speed photo holds 1 to 10 faces, not {n}")
    photo = np.full((_H, _W, 3), 96, np.uint8)
    side = 240 if n == 1 else 120
    for j in range(n):
        x1, y1, x2, y2 = (float(v) for v in boxes[j])
        half = max(x2 - x1, y2 - y1)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        s = side / (2 * half)
        if n == 1:
            ox, oy = (_W - side) / 2, (_H - side) / 2
        else:
            ox, oy = (j % 5) * 128 + 4, (j // 5) * 240 + 60
        m = np.array([[s, 0, -s * (cx - half)], [0, s, -s * (cy - half)]])
        ox, oy = int(ox), int(oy)
        photo[oy : oy + side, ox : ox + side] = cv2.warpAffine(images[j], m, (side, side))
    return photo


def speed_video(image: np.ndarray, box: np.ndarray, frames: int) -> list[np.ndarray]:
    """`frames` BGR 640x480 frames (as OpenCV reads them) of one face (its box scaled to about
    150 px) moving a few pixels a frame along a figure eight."""
    import cv2

    x1, y1, x2, y2 = (float(v) for v in box)
    s = 150 / max(x2 - x1, y2 - y1)
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    t = np.arange(frames) / 30.0
    out = []
    for dx, dy in zip(40 * np.sin(0.4 * np.pi * t), 20 * np.sin(0.8 * np.pi * t), strict=True):
        tx = _W / 2 + dx - s * (x1 + x2) / 2
        ty = _H / 2 + dy - s * (y1 + y2) / 2
        m = np.array([[s, 0, tx], [0, s, ty]])
        out.append(cv2.warpAffine(bgr, m, (_W, _H), borderValue=(96, 96, 96)))
    return out


# --- helpers -------------------------------------------------------------------------------------


class _Source:
    def __init__(self, name: str, kind: str, landmarker: Any, api: Any):
        self.name, self.kind, self.landmarker, self.api = name, kind, landmarker, api


class _PeerLandmarker:
    """A peer behind the landmarker calls the benchmark and the tracker make: `landmarks`,
    `detect` (the shared detector's boxes, then the peer), `scheme`, `detector`."""

    def __init__(self, peer: Any, detector: Any):
        self.peer, self.detector = peer, detector
        self.scheme: Scheme = peer.scheme
        self.min_face, self.max_faces = 20.0, None

    def landmarks(self, rgb: np.ndarray, boxes: np.ndarray, refine: Any = None) -> np.ndarray:
        return self.peer.predict(rgb, np.asarray(boxes, np.float32).reshape(-1, 4))

    def detect_many(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> np.ndarray:
        return self.peer.predict_faces(images, boxes)  # the peer's own batching, if it has one

    def detect(self, rgb: np.ndarray) -> np.ndarray:
        found = [d.box for d in self.detector.detect(rgb)]
        return self.peer.predict(rgb, np.asarray(found, np.float32).reshape(-1, 4))


def _time_batch1(sources, images, boxes, now) -> list[float]:
    calls = [(lambda i, s=s: s.landmarker.landmarks(images[i], boxes[i : i + 1])) for s in sources]
    return _interleaved(calls, range(len(images)), 1, now)


def _time_batch32(sources, images, boxes, now) -> list[float]:
    starts = range(0, len(images) - _BATCH + 1, _BATCH)

    def call(s):
        if s.api is None:
            return lambda i: s.landmarker.detect_many(images[i : i + _BATCH], boxes[i : i + _BATCH])
        return lambda i: s.api.detect(
            images[i : i + _BATCH], boxes=[boxes[j : j + 1] for j in range(i, i + _BATCH)]
        )

    return _interleaved([call(s) for s in sources], starts, _BATCH, now)


def _time_photo(sources, photo: np.ndarray, repeats: int, now) -> list[float]:
    calls = [(lambda _, s=s: s.landmarker.detect(photo)) for s in sources]
    return _interleaved(calls, range(repeats), 1, now)


def _time_video(sources, frames: list[np.ndarray], now) -> list[float]:
    """Frames per second of a FaceTracker per source, the sources taking turns every `_BLOCK`
    frames."""
    from ..inference.tracking import FaceTracker

    trackers = [FaceTracker(s.landmarker, detect_every=_DETECT_EVERY) for s in sources]
    for tr in trackers:  # warm-up, then start again
        tr.update(frames[0], color="bgr")
        tr.reset()
    total = [0.0] * len(trackers)
    for lo in range(0, len(frames), _BLOCK):
        for k, tr in enumerate(trackers):
            for f in frames[lo : lo + _BLOCK]:
                t0 = now()
                tr.update(f, color="bgr")
                total[k] += now() - t0
    return [len(frames) / t for t in total]


def _interleaved(calls: list[Callable[[int], Any]], items, per: int, now) -> list[float]:
    """Median ms per `per` faces of each call over `items`. The calls take turns every `_BLOCK`
    items, each after a warm-up call: a user's loop over faces keeps its model in the CPU's
    caches, and turns spread any drift in the machine's load over all sources alike."""
    items = list(items)
    laps: list[list[float]] = [[] for _ in calls]
    for lo in range(0, len(items), _BLOCK):
        for c, lap in zip(calls, laps, strict=True):
            c(items[lo])
            for i in items[lo : lo + _BLOCK]:
                t0 = now()
                c(i)
                lap.append((now() - t0) * 1e3 / per)
    return [statistics.median(lap) for lap in laps]


def _merge(rows: list[dict], key: str, values: list[float]) -> None:
    for r, v in zip(rows, values, strict=True):
        r[key] = float(v)


def _cell(value: float, ratio: float, fmt: str, has_dlib: bool) -> str:
    if not has_dlib or not np.isfinite(ratio):
        return format(value, fmt)
    return f"{value:{fmt}} ({ratio:.1f}x)"


def _say_if(progress: bool, msg: str) -> None:
    if progress:
        _say(msg)


def _say(msg: str) -> None:
    import sys

    print(msg, file=sys.stderr, flush=True)
