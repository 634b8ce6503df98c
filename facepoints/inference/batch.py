"""Landmarks on many image files: a DataLoader decodes the images and finds their faces in worker
processes while the main process runs the landmark model on the faces of several images at once.
Records come back in input order and are the same whatever the number of workers.

    from facepoints.inference.batch import predict_folder
    run = predict_folder({"model": "runs/train/best.safetensors"}, "photos/", workers=4)
    for record in run:          # one JSON-ready dict per image, as `facepoints predict` writes
        ...
    print(run.faces_per_s)

Why this split: face detection is most of the work on the CPU (MTCNN took about 50 ms a photo
here, a small landmark model about 1 ms a face) and it is per image, so it goes to the workers;
the landmark model batches best in one process (on a GPU, the one that holds it). Running the
whole FaceLandmarker in each worker measured the same here (about 15 faces/s either way, within
the noise of a 2-core machine busy with other work) and loads the model once per worker.
"""

from __future__ import annotations

import functools
import math
import multiprocessing
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..workers import init_worker
from .landmarker import Face, FaceLandmarker, _check_boxes, make_faces
from .sources import Input, collect_inputs, load_input, one_line

__all__ = ["predict_folder", "iter_faces", "FolderRun", "ImageResult"]

DEFAULT_BATCH = 8  # images per DataLoader batch: their faces go through the model together
AUTO_WORKERS_FROM = 8  # images: below this, starting workers costs more than they save
AUTO_WORKERS_MAX = 4


def auto_workers(images: int) -> int:
    """The workers a run over `images` images gets when none are asked for: one per CPU core
    this process may use (at most AUTO_WORKERS_MAX) from AUTO_WORKERS_FROM images up, where the
    fork start method exists; else 0 (all in this process)."""
    if images < AUTO_WORKERS_FROM or "fork" not in multiprocessing.get_all_start_methods():
        return 0
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        cores = os.cpu_count() or 1
    return min(cores, AUTO_WORKERS_MAX) if cores > 1 else 0


def predict_folder(
    landmarker: FaceLandmarker | dict | None,
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    workers: int | None = None,
    batch_size: int = DEFAULT_BATCH,
    recursive: bool = False,
) -> FolderRun:
    """The records of the images in `paths` (a folder, an image file, or a list of them; folders
    expand to their images, sorted), in that order, as they are computed: iterate the returned
    FolderRun once. `landmarker`: a FaceLandmarker, or a dict of FaceLandmarker arguments (None:
    the defaults). workers: DataLoader worker processes that decode and detect (0: all in this
    process; None: `auto_workers`, one per core for 8 images or more). batch_size: images per batch whose faces the model runs on together. A record is
    {"file", "width", "height", "faces": [Face.to_dict()], "annotated": None, "error"}: an image
    that fails gets its one-line error, and the others go on."""
    lm = _landmarker(landmarker)
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    # no output folder: Path(os.devnull) holds no image, so collect_inputs skips none
    inputs = collect_inputs([str(p) for p in paths], recursive, Path(os.devnull), demo=False)
    workers = auto_workers(len(inputs)) if workers is None else workers
    return FolderRun(iter_faces(lm, inputs, workers=workers, batch_size=batch_size))


@dataclass
class ImageResult:
    """One input's outcome: its `label` (the record's "file"), the decoded `image` (H, W, 3)
    uint8 RGB (None on error), its `faces`, and `error`, one line, or None."""

    index: int
    label: str
    image: np.ndarray | None = None
    faces: list[Face] = field(default_factory=list)
    error: str | None = None
    boxes: np.ndarray | None = None  # found (or given), before the model ran
    scores: np.ndarray | None = None
    detected: bool = False  # the boxes came from the detector (not given)
    seeds: np.ndarray | None = None  # the detector's five points per face, where it gives them

    def record(self) -> dict[str, Any]:
        """The JSON-ready record, as `facepoints predict` writes it (no drawing)."""
        h, w = (None, None) if self.image is None else map(int, self.image.shape[:2])
        faces = [] if self.error else [f.to_dict() for f in self.faces]
        return {
            "file": self.label,
            "width": w,
            "height": h,
            "faces": faces,
            "annotated": None,
            "error": self.error,
        }


def iter_faces(
    landmarker: FaceLandmarker,
    inputs: Sequence[Input],
    boxes: Sequence[Any] | None = None,
    workers: int = 0,
    batch_size: int = DEFAULT_BATCH,
) -> Iterator[ImageResult]:
    """An ImageResult per input, in order. `boxes`: None, or per input its given face boxes
    (N, 4) x1 y1 x2 y2, or None to detect them. Workers need the fork start method (Linux,
    macOS); they inherit the landmarker, so nothing is pickled but the results."""
    from torch.utils.data import DataLoader

    workers, batch_size = int(workers), int(batch_size)
    if workers < 0:
        raise ConfigError(f"workers must be 0 or more, got {workers}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be 1 or more, got {batch_size}")
    if boxes is not None and len(boxes) != len(inputs):
        raise ConfigError(f"{len(boxes)} box lists for {len(inputs)} inputs")
    extra: dict[str, Any] = {}
    if workers:
        if "fork" not in multiprocessing.get_all_start_methods():
            raise ConfigError("workers need the fork start method, which this platform lacks")
        extra = {
            "multiprocessing_context": "fork",
            "worker_init_fn": functools.partial(init_worker, os.getpid()),
            "prefetch_factor": 4,
        }
    loader = DataLoader(
        _Images(landmarker, list(inputs), boxes),
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=list,
        **extra,
    )
    scheme = landmarker.scheme
    for batch in loader:
        ok = [r for r in batch if r.error is None]
        points, confidences = landmarker._points(
            [r.image for r in ok],
            [r.boxes for r in ok],
            landmarker.refine,
            [r.detected for r in ok],
            [r.seeds for r in ok],
        )
        for r, pts, conf in zip(ok, points, confidences, strict=True):
            r.faces = make_faces(r.boxes, r.scores, pts, conf, scheme)
        yield from batch


class FolderRun:
    """The records of `predict_folder`, computed while iterated (once), and the numbers so far:
    `images`, `faces`, `errors`, `elapsed_s` (since iteration began) and `faces_per_s`."""

    def __init__(self, results: Iterator[ImageResult]):
        self._results = results
        self.images = self.faces = self.errors = 0
        self.elapsed_s = 0.0
        self._started = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self._started:
            raise ConfigError("a FolderRun can be iterated once; call predict_folder again")
        self._started = True
        t0 = time.perf_counter()
        for res in self._results:
            self.images += 1
            self.faces += len(res.faces)
            self.errors += res.error is not None
            self.elapsed_s = time.perf_counter() - t0
            yield res.record()
        self.elapsed_s = time.perf_counter() - t0

    @property
    def faces_per_s(self) -> float:
        return self.faces / self.elapsed_s if self.elapsed_s > 0 else math.nan

    def __repr__(self) -> str:
        return (
            f"FolderRun(images={self.images}, faces={self.faces}, errors={self.errors}, "
            f"elapsed_s={self.elapsed_s:.2f}, faces_per_s={self.faces_per_s:.1f})"
        )


# --- helpers -------------------------------------------------------------------------------------


class _Images:
    """Input i -> its ImageResult with the image decoded and the faces found (or given), in
    whichever process the DataLoader runs it. Errors become the result's one-line message, as
    exceptions of facepoints' types do not survive the trip between processes."""

    def __init__(self, lm: FaceLandmarker, inputs: list[Input], boxes: Sequence[Any] | None):
        self.lm = lm
        self.inputs = inputs
        self.boxes = boxes

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i: int) -> ImageResult:
        item = self.inputs[i]
        res = ImageResult(index=i, label=item.label)
        try:
            rgb = load_input(item)
            res.label = item.label  # the demo learns its name when loaded
            given = None if self.boxes is None else self.boxes[i]
            if given is None:
                res.boxes, res.scores, res.seeds = self.lm._detect_boxes(rgb)
                res.detected = True
            else:
                res.boxes = _check_boxes(given)
                res.scores = np.full(len(res.boxes), np.nan)
            res.image = rgb
        except Exception as e:  # one bad input never stops the others
            res.error = one_line(e, item.label)
        return res


def _landmarker(spec: FaceLandmarker | dict | None) -> FaceLandmarker:
    if isinstance(spec, FaceLandmarker):
        return spec
    if spec is None:
        return FaceLandmarker()
    if isinstance(spec, dict):
        return FaceLandmarker(**spec)
    raise ConfigError(f"landmarker must be a FaceLandmarker or a dict of its arguments: {spec!r}")
