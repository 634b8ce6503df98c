"""Landmarks on any photo: find faces, crop each the way the model was trained, run one batched
forward pass, map the points back to the image.

    from facepoints import FaceLandmarker
    faces = FaceLandmarker().detect("photo.jpg")      # list of Face, best first
    faces[0].landmarks                                # (K, 2) float32 image pixels, x then y
    faces[0].confidence, faces[0].landmark_score      # (K,) in [0, 1], and their mean
"""

from __future__ import annotations

import importlib.util
import math
import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CheckpointError, ConfigError
from ..geometry import crop_matrices, square_box, warp_into, warp_many
from ..io import array_to_rgb, load_image, to_rgb
from .boxes import box_from_points, roll_from_points
from .face import Face, make_faces

__all__ = [
    "Face",
    "FaceLandmarker",
    "MIRROR_BY_DEFAULT",
    "PARALLEL_BY_DEFAULT",
    "REFINE_AUTO",
    "as_rgb_image",
    "default_threads",
    "make_faces",
]

_BATCH = 32  # faces per forward pass
BACKENDS = ("auto", "onnx", "torch")
# refine="auto": whether a second pass runs, per box source. Chosen on CUHK validation faces
# (held-out training faces) by benchmarks/speed_refine.py; see docs/speed.md for its table.
REFINE_AUTO: dict[str, bool] = {"given": False, "detector": True}
# mirror=None: the shipped models that average each face with its mirror image by default (the
# accurate dense model, whose users want its points more than its speed: on 300-W validation
# faces its NME falls from 4.06% to 3.85% for twice the network's time; benchmarks/mirror_test.py)
MIRROR_BY_DEFAULT: frozenset[str] = frozenset({"dense98"})
# tta=True: the box scales each face is cut at and averaged over (about its box's centre, the
# points averaged in the image; on the last pass only). On validation faces (held-out training
# faces, whole photos through the default detector, dense98 with its mirror) they take 300-W's
# NME from 3.81% to 3.66% and the WFLW sample's tune half from 5.21% to 4.83%, for three times a
# detected face's time (benchmarks/validation_whole.py --tta, benchmarks/mirror_test.py --tta;
# docs/speed.md, "Scale averaging")
TTA_SCALES: tuple[float, ...] = (0.88, 0.94, 1.0, 1.06, 1.12)
# threads=None: the shipped models whose face takes long enough on one thread that more threads
# pay (ONNX Runtime splits each convolution): dense98's face takes 19.6 ms of wall time on one
# thread and 11.2 ms on two cores (benchmarks/threads_default.py); the small models gain little
# (dense68 1.39 -> 1.21 ms) and stay on one, where many landmarkers in one process lose nothing
PARALLEL_BY_DEFAULT: frozenset[str] = frozenset({"dense98"})
# parts=True: the part refiners shipped for a model (inference.parts), for the scheme they
# were trained in. parts=None: on for the models in PARTS_BY_DEFAULT, none so far: dense98's
# take its 68 points closer to 300-W's labels on 300-W's faces, and further from WFLW's on the
# WFLW sample's hard faces (facepoints/weights/dense98-parts.md)
PART_REFINERS: dict[str, str] = {"dense98": "dense98-parts"}
PARTS_BY_DEFAULT: frozenset[str] = frozenset()
MAX_DEFAULT_THREADS = 4
# the smallest face detected, as a share of a photo's longer side (besides `min_face` pixels)
MIN_FACE_SHARE = 0.01


def default_threads(model_name: str | None) -> int:
    """The ONNX Runtime threads a landmarker gets when `threads` is None: 1, or for the models
    in `PARALLEL_BY_DEFAULT` the cores this process may run on, at most MAX_DEFAULT_THREADS."""
    if model_name not in PARALLEL_BY_DEFAULT:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_DEFAULT_THREADS, cores))


class FaceLandmarker:
    """Faces and their landmarks in images, in one call.

    model: a shipped name, a .safetensors / .pt / run folder / .onnx path, or a LoadedModel
        (None: the default shipped model). detector: a detector name, an object with
        `detect(rgb) -> [Detection]`, or None (the default detector), created at first use.
    backend: "auto" (ONNX Runtime where it is installed and the model is a name or a file on the
        CPU, else PyTorch), "onnx" or "torch". device: torch device ("cpu", "cuda").
    threads: CPU threads, set once here (torch: process-wide; onnx: the session's; None: 1,
        where per-face work is fastest, except for the models in `PARALLEL_BY_DEFAULT`, which
        get up to 4 of the process's cores). refine: run a second pass on a box derived from the
        first pass's points (`boxes.box_from_points`): True, False, or "auto", where it pays
        (`REFINE_AUTO`: measured per box source on validation faces).
    min_face: detected faces whose box side is below this many pixels are dropped (the detector
        looks down to that size). min_face_share: and those below this share of the photo's
        longer side (0.01: 40 px in a 4000 px photo from a camera, where 20 px faces would have
        the detector search a copy four times the size, for four times the time, and find ears
        and hands of 20 px; photos up to 2000 px are not touched; 0: off). max_faces: keep at
        most this many detected faces per image, best first (None: all). scheme: the points returned (any the model's projects onto).
    seed_crops: where the detector gives five points (RetinaFace, MTCNN), cut the first crop from
        them, as the second pass cuts its crop from the first pass's points, instead of from the
        detector's box. upright: turn each crop cut from points so the eyes are level (the roll
        is undone, and redone on the points). Both on by default: on the WFLW sample's tune
        half (whole photos) they take dense68's NME from 7.7% to 7.3%, and leave CUHK and 300-W
        validation faces as they were (docs/speed.md, "Crops from points").
    mirror: also run each face's crop mirrored (left and right points swapped back) and average
        the two: lower error for twice the network's time. None: on for the models in
        `MIRROR_BY_DEFAULT`.
    precision: "float32", or "int8" for a shipped model with an int8 file
        (`inference.quantized`: ONNX Runtime, several times faster on CPUs with 8-bit dot
        products, its points within its card's figures of the float model's).
    tta: cut each face at several box scales (about the box's centre) and average the points
        in the image, on the last pass: True for `TTA_SCALES` (about 4% lower error for three
        times a detected face's time), a sequence of scales (1.0: the box as it is), or False
        (one scale).
    parts: look again at each part of a face (eyes, brows, mouth, jaw) on patches cut from
        the photo at a finer scale and blend the part refiners' points in (`inference.parts`):
        True: the model's shipped refiners (`PART_REFINERS`: dense98's, for its 68 points),
        required; None: on for the models in `PARTS_BY_DEFAULT` (none so far) where the scheme
        asked for is the refiners'; False: off; or a refiner file."""

    def __init__(
        self,
        model: Any = None,
        detector: Any = None,
        backend: str = "auto",
        device: str = "cpu",
        threads: int | None = None,
        refine: bool | str = "auto",
        min_face: float = 20,
        min_face_share: float = MIN_FACE_SHARE,
        max_faces: int | None = None,
        batch_size: int = _BATCH,
        scheme: str | int | None = None,
        seed_crops: bool = True,
        upright: bool = True,
        mirror: bool | None = None,
        precision: str = "float32",
        tta: bool | Sequence[float] = False,
        parts: bool | str | None = None,
    ):
        from .quantized import PRECISIONS

        if precision not in PRECISIONS:
            raise ConfigError(
                f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}"
            )
        if backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        if refine != "auto" and not isinstance(refine, (bool, np.bool_)):
            raise ConfigError(f"refine must be True, False or 'auto', not {refine!r}")
        if threads is not None and int(threads) < 1:
            raise ConfigError(f"threads must be >= 1, got {threads!r}")
        if not (float(min_face) > 0 and math.isfinite(float(min_face))):
            raise ConfigError(f"min_face must be a positive number of pixels, not {min_face!r}")
        if not 0.0 <= float(min_face_share) < 1.0:
            raise ConfigError(f"min_face_share must be in [0, 1), not {min_face_share!r}")
        if max_faces is not None and int(max_faces) < 1:
            raise ConfigError(f"max_faces must be >= 1 or None, got {max_faces!r}")
        self.tta = _tta_scales(tta)
        self.refine = refine if refine == "auto" else bool(refine)
        self.seed_crops = bool(seed_crops)
        self.upright = bool(upright)
        self.min_face = float(min_face)
        self.min_face_share = float(min_face_share)
        self.max_faces = None if max_faces is None else int(max_faces)
        self.batch_size = max(1, int(batch_size))
        self._want_scheme = scheme
        from ..device import check_device

        self.device = check_device(device)
        self.backend = _pick_backend(backend, model, self.device)
        self.precision = precision
        if precision == "int8" and self.backend != "onnx":
            raise ConfigError("precision='int8' runs with ONNX Runtime on the CPU (backend='onnx')")
        if isinstance(detector, str):
            from .detectors import DETECTORS

            DETECTORS.get(detector)  # an unknown name fails here, with its "did you mean"
        self._load(model, threads, fallback=backend == "auto" and precision == "float32")
        self.mirror = self.name in MIRROR_BY_DEFAULT if mirror is None else bool(mirror)
        self._flip = np.asarray(self.model_scheme.flip, np.intp)
        self._parts = self._load_parts(parts)
        self._detector_spec = detector
        self._detector = None if detector is None or isinstance(detector, str) else detector

    # --- public -------------------------------------------------------------------------------

    @property
    def detector(self):
        """The face detector, created on first use (so given boxes never need one)."""
        if self._detector is None:
            from .detectors import create_detector

            self._detector = create_detector(self._detector_spec, min_size=self.min_face)
        return self._detector

    def detect(
        self, image: Any, boxes: np.ndarray | Sequence | None = None, color: str = "rgb"
    ) -> list[Face] | list[list[Face]]:
        """Faces in `image`: a path, a PIL image, or a uint8 array (H, W, 3) in `color` order
        ("rgb", or "bgr" for OpenCV frames), (H, W, 4) or (H, W) grey. With `boxes` (N, 4) x1 y1
        x2 y2, those faces are used as given (no detection, no min_face/max_faces).

        Several images at once: a list (or tuple) of them, or a stacked (B, H, W, 3) array, gives
        a list of face lists, one per image, all faces through the model together (`boxes` then
        holds one entry per image, as in `detect_batch`)."""
        if isinstance(image, (list, tuple)) or (isinstance(image, np.ndarray) and image.ndim == 4):
            return self.detect_batch(list(image), boxes, color=color)
        return self.detect_batch([image], None if boxes is None else [boxes], color=color)[0]

    def detect_batch(
        self,
        images: Sequence[Any],
        boxes: Sequence[np.ndarray | Sequence | None] | None = None,
        color: str = "rgb",
    ) -> list[list[Face]]:
        """`detect` over several images, their faces run through the model together. `boxes`:
        None, or one entry per image (None to detect that image's faces)."""
        if boxes is not None and len(boxes) != len(images):
            raise ConfigError(f"{len(boxes)} box lists for {len(images)} images")
        rgbs = [as_rgb_image(im, color) for im in images]
        per_boxes, per_scores, detected, seeds = [], [], [], []
        for i, rgb in enumerate(rgbs):
            given = None if boxes is None else boxes[i]
            seed = None
            if given is None:
                b, s, seed = self._detect_boxes(rgb)
            else:
                b = _check_boxes(given)
                s = np.full(len(b), np.nan)
            per_boxes.append(b)
            per_scores.append(s)
            detected.append(given is None)
            seeds.append(seed)
        points, confidences = self._points(rgbs, per_boxes, self.refine, detected, seeds)
        return [
            make_faces(b, s, p, c, self.scheme)
            for b, s, p, c in zip(per_boxes, per_scores, points, confidences, strict=True)
        ]

    def landmarks(
        self, image_rgb: np.ndarray, boxes: np.ndarray | Sequence, refine: bool | str | None = None
    ) -> np.ndarray:
        """(N, K, 2) float32 image pixels for faces `boxes` (N, 4) of an RGB uint8 image, in one
        batched pass (two with `refine`; "auto": as for given boxes; None: the landmarker's
        setting)."""
        return self.landmarks_with_confidence(image_rgb, boxes, refine)[0]

    def landmarks_with_confidence(
        self, image_rgb: np.ndarray, boxes: np.ndarray | Sequence, refine: bool | str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """`landmarks` and each point's confidence: ((N, K, 2) float32 image pixels, (N, K)
        float32 in [0, 1])."""
        rgb = as_rgb_image(image_rgb, "rgb")
        b = _check_boxes(boxes)
        refine = self.refine if refine is None else refine
        if len(b) == 1 and self._refine_mask(refine, None, _ONE_FACE, 1) is None:
            pts, conf = self._forward([rgb], _ONE_FACE, b)  # one face, one pass: the commonest
            if self._parts is not None:
                pts = self._parts.refine(rgb, pts)
            return pts, conf
        pts, conf = self._points([rgb], [b], refine, [False])
        return pts[0], conf[0]

    def __repr__(self) -> str:
        return (
            f"FaceLandmarker(model={self.name!r}, scheme={self.scheme.name}, "
            f"backend={self.backend!r}, input_size={self.input_size}, margin={self.margin:g}, "
            f"refine={self.refine}, min_face={self.min_face:g})"
        )

    # --- model ---------------------------------------------------------------------------------

    def _load(self, model: Any, threads: int | None, fallback: bool = False) -> None:
        from ..schemes import get_scheme

        if self.backend == "onnx" and str(self.device) != "cpu":
            raise ConfigError("the onnx backend runs on the CPU only; use backend='torch'")
        loaded = None
        onnx_file = isinstance(model, (str, os.PathLike)) and str(model).lower().endswith(".onnx")
        if not onnx_file:
            loaded = _resolve(model, self.device)
        runner = None
        if self.backend == "onnx":
            try:
                from .onnx_backend import OnnxRunner
            except ImportError as e:
                raise ConfigError(f"the onnx backend is not available here ({e})") from None
            try:
                # one session per landmarker, its threads set once (None: by the model)
                name = None if loaded is None else loaded.name
                source = model if loaded is None else loaded
                if self.precision == "int8":
                    source = _int8_source(model, loaded)
                runner = OnnxRunner(source, threads=threads or default_threads(name))
            except (CheckpointError, ConfigError) as e:
                if not fallback:
                    raise
                warnings.warn(
                    f"ONNX Runtime cannot run this model ({e}); using PyTorch", stacklevel=3
                )
                self.backend = "torch"
        if runner is not None:
            self.runner = runner
            self._run = runner.run_with_confidence
            self.input_size, self.in_channels = runner.input_size, runner.in_channels
            self.margin, self.name = float(runner.margin), runner.name
            self.scheme = get_scheme(runner.scheme or runner.num_points)
            self.confidence_kind = runner.confidence_kind
        else:
            import torch

            from ..models.confidence import confidence_kind

            if threads is not None:
                torch.set_num_threads(int(threads))
            net = loaded.model
            self._run = self._torch_runner(loaded.confident())
            self.input_size, self.in_channels = int(net.input_size), int(net.in_channels)
            self.margin, self.name, self.scheme = float(loaded.margin), loaded.name, loaded.scheme
            self.confidence_kind = confidence_kind(net, loaded.confidence)
        self.loaded = loaded
        self._to_pixels = np.array([[self.input_size] * 2 + [1.0]] * 2)  # scales a (2, 3) map
        self._set_output_scheme()

    def _set_output_scheme(self) -> None:
        """`scheme` is the points' scheme users get: the one asked for (`scheme=`, any the model's
        projects onto: 98 -> 68 -> 5), else the model's own (a composite model's first block);
        `model_scheme` is the one the network predicts."""
        from ..schemes import get_scheme, primary_scheme, projection_matrix

        self.model_scheme = self.scheme
        want = self._want_scheme
        self.scheme = primary_scheme(self.model_scheme) if want is None else get_scheme(want)
        self._projection = None
        if self.scheme.name != self.model_scheme.name:
            try:
                self._projection = projection_matrix(self.model_scheme, self.scheme)
            except ConfigError:
                raise ConfigError(
                    f"model {self.name} predicts {self.model_scheme.name} points; it cannot give "
                    f"{self.scheme.name} points"
                ) from None

    def _torch_runner(self, both):
        import torch

        both.to(self.device).eval()

        def run(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            with torch.inference_mode():
                t = torch.from_numpy(x).to(self.device)
                points, confidence = both(t)
                return points.float().cpu().numpy(), confidence.float().cpu().numpy()

        return run

    # --- points --------------------------------------------------------------------------------

    def _detect_boxes(
        self, rgb: np.ndarray, max_side: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The detector's boxes (N, 4), scores (N,) and five points (N, 5, 2) (None where the
        detector gives none), best first, min_face and max_faces applied; in `rgb`'s pixels,
        found on a copy at most `max_side` px long (None: any) and where `min_face_share` of
        the photo is `min_face` px."""
        long_side = max(rgb.shape[:2])
        f = min(1.0, self.min_face / max(self.min_face_share * long_side, 1e-9))
        if max_side is not None:
            f = min(f, max_side / long_side)
        from .detectors.base import resize_by  # the detectors load on first use

        # a large photo: no face under min_face_share of it (or past max_side), so a smaller copy
        small = resize_by(rgb, f)
        fx, fy = small.shape[1] / rgb.shape[1], small.shape[0] / rgb.shape[0]
        dets = list(self.detector.detect(small))
        boxes = np.array([np.asarray(d.box, dtype=np.float32) for d in dets], dtype=np.float32)
        boxes = boxes.reshape(-1, 4) / np.array([fx, fy, fx, fy], np.float32)
        scores = np.array([float(d.score) for d in dets], dtype=np.float64)
        side = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        keep = np.flatnonzero(side >= self.min_face)
        keep = keep[np.argsort(-scores[keep], kind="stable")]  # best first, whatever the detector
        if self.max_faces is not None:
            keep = keep[: self.max_faces]
        seeds = None
        if dets and all(getattr(d, "points", None) is not None for d in dets):
            seeds = np.stack([np.asarray(d.points, np.float32).reshape(5, 2) for d in dets])[keep]
            seeds = seeds / np.array([fx, fy], np.float32)
        return boxes[keep], scores[keep], seeds

    def _points(
        self,
        rgbs: list[np.ndarray],
        boxes: list[np.ndarray],
        refine: bool | str,
        detected: Sequence[bool] | None = None,
        seeds: Sequence[np.ndarray | None] | None = None,
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Landmarks (N_i, K, 2) and their confidences (N_i, K) per image for its boxes (N_i, 4),
        all faces batched together. `detected[i]`: image i's boxes came from the detector (for
        refine="auto"; None: all given). `seeds[i]`: the detector's five points (N_i, 5, 2) of
        image i's faces, or None; where given (and `seed_crops`), the first crop is cut from
        them as a second pass cuts it from the first pass's points."""
        if not boxes:
            return [], []
        sizes = [len(b) for b in boxes]
        if len(boxes) == 1:  # the common call: one image
            flat = np.asarray(boxes[0]).reshape(-1, 4)
            owner = _owners(len(flat))
        else:
            flat = np.concatenate(boxes).reshape(-1, 4)
            owner = np.repeat(np.arange(len(boxes)), sizes)
        crop, angles = flat, None
        five = _seed_points(seeds, sizes) if self.seed_crops else None
        if five is not None:
            has = np.isfinite(five).all(axis=(1, 2))
            if has.any():
                seeded = box_from_points(five[has], "cuhk5")
                ok = _sane(seeded, flat[has])
                idx = np.flatnonzero(has)[ok]
                crop = flat.copy()
                crop[idx] = seeded[ok]
                if self.upright:
                    angles = np.zeros(len(flat))
                    angles[idx] = roll_from_points(five[idx], "cuhk5")
        again = self._refine_mask(refine, detected, owner, len(boxes))
        # `tta` on the last pass only: a first pass that only places the second's crop runs once
        plain = again is not None and bool(again.all()) and len(self.tta) > 1
        pts, conf = self._forward(rgbs, owner, crop, angles, tta=not plain)
        if again is not None:
            second = box_from_points(pts[again], self.scheme)
            ok = _sane(second, flat[again])
            idx = np.flatnonzero(again)[ok]
            if len(idx):
                turn = roll_from_points(pts[idx], self.scheme) if self.upright else None
                pts[idx], conf[idx] = self._forward(rgbs, owner[idx], second[ok], turn)
            if plain and not ok.all():  # no second crop: their first one, at every scale
                rest = np.flatnonzero(again)[~ok]
                turns = None if angles is None else angles[rest]
                pts[rest], conf[rest] = self._forward(rgbs, owner[rest], crop[rest], turns)
        if self._parts is not None:
            for u in np.unique(owner):
                sel = owner == u
                pts[sel] = self._parts.refine(rgbs[u], pts[sel])
        return self._split(pts, conf, sizes)

    def _load_parts(self, parts: bool | str | None):
        """The part refiner for `parts` (see the class), or None."""
        if parts is False or (parts is None and self.name not in PARTS_BY_DEFAULT):
            return None
        from ..models.pretrained import WEIGHTS_DIR
        from .parts import PartRefiner

        if parts is None or parts is True:
            name = PART_REFINERS.get(self.name)
            if name is None or not (WEIGHTS_DIR / f"{name}.safetensors").is_file():
                if parts is True:
                    raise ConfigError(f"model {self.name} has no shipped part refiners")
                return None
            refiner = PartRefiner(name, threads=1)
            if refiner.scheme.name != self.scheme.name:
                if parts is True:
                    raise ConfigError(
                        f"{name} refines {refiner.scheme.name} points, not {self.scheme.name} "
                        f"(ask for scheme={refiner.scheme.name})"
                    )
                return None
            return refiner
        refiner = PartRefiner(parts, threads=1)
        if refiner.scheme.name != self.scheme.name:
            raise ConfigError(
                f"{parts} refines {refiner.scheme.name} points, not {self.scheme.name}"
            )
        return refiner

    @staticmethod
    def _split(
        pts: np.ndarray, conf: np.ndarray, sizes: list[int]
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        if len(sizes) == 1:
            return [pts], [conf]
        splits = np.cumsum(sizes)[:-1]
        return np.split(pts, splits), np.split(conf, splits)

    def _refine_mask(
        self, refine: bool | str, detected: Sequence[bool] | None, owner: np.ndarray, images: int
    ) -> np.ndarray | None:
        """Which faces get a second pass: all, none, or (refine="auto") those whose box source
        REFINE_AUTO says it pays for; None where no face does."""
        if refine != "auto":
            return np.ones(len(owner), bool) if refine else None
        if not REFINE_AUTO["given"] and (detected is None or not any(detected)):
            return None  # given boxes only (the common call): nothing to decide per face
        det = [False] * images if detected is None else [bool(d) for d in detected]
        per_image = np.array([REFINE_AUTO["detector" if d else "given"] for d in det])
        return per_image[owner] if per_image.any() else None

    def _forward(
        self,
        rgbs: list[np.ndarray],
        owner: np.ndarray,
        boxes: np.ndarray,
        angles: np.ndarray | None = None,
        tta: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """One forward pass per `batch_size` faces: each face warped once (turned by its
        `angles`, degrees), straight to the input size, into a reused buffer; points mapped back
        to the image in one batched product. With the landmarker's `tta` (and `tta` here), each
        face at each of its box scales, all in the same batches, the points and confidences
        averaged over the scales."""
        n, scales = len(boxes), self.tta
        if n and tta and len(scales) > 1:
            # the crop spans a box's longer side: its square, scaled, cuts the same crop
            many = np.concatenate([square_box(boxes, k) for k in scales])
            turns = None if angles is None else np.tile(angles, len(scales))
            pts, conf = self._forward_once(rgbs, np.tile(owner, len(scales)), many, turns)
            pts = pts.reshape(len(scales), n, *pts.shape[1:]).mean(axis=0, dtype=np.float64)
            conf = conf.reshape(len(scales), n, -1).mean(axis=0, dtype=np.float64)
            return pts.astype(np.float32), conf.astype(np.float32)
        return self._forward_once(rgbs, owner, boxes, angles)

    def _forward_once(
        self,
        rgbs: list[np.ndarray],
        owner: np.ndarray,
        boxes: np.ndarray,
        angles: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """`_forward` at the boxes as they are."""
        k, size, n = self.model_scheme.num_points, self.input_size, len(boxes)
        if not n:  # no face: no points, in the scheme users get
            out = self.scheme.num_points
            return np.zeros((0, out, 2), np.float32), np.zeros((0, out), np.float32)
        mats, inv = crop_matrices(boxes, size, self.margin, angles, inverse=True)
        one = self._single_run() if n == 1 and not self.mirror else None
        if one is not None:  # the commonest call: one face, through the bound run
            return self._one_face(rgbs[owner[0]], mats[0], inv, one)
        if n <= self.batch_size:  # one batch: the model's own output arrays, no copies
            out, conf = self._batch(rgbs, owner, mats)
        else:
            out = np.empty((n, k, 2), dtype=np.float32)
            conf = np.empty((n, k), dtype=np.float32)
            for start in range(0, n, self.batch_size):
                sl = slice(start, start + self.batch_size)
                out[sl], conf[sl] = self._batch(rgbs, owner[sl], mats[sl])
        return self._to_image(out, conf, inv)

    def _one_face(
        self, rgb: np.ndarray, mat: np.ndarray, inv: np.ndarray, one: tuple
    ) -> tuple[np.ndarray, np.ndarray]:
        """`_forward` for one face through the bound run `one` (`_single_run`): its crop warped by
        `mat` (2, 3), normalised and run in the buffers made once; points back by `inv`."""
        crop, x, run = one
        warp_into(rgb, mat, crop[0])
        _normalise(crop, x)
        out, conf = run()  # the bound arrays: only new arrays are made from them below
        return self._to_image(out, conf, inv)

    def _to_image(
        self, out: np.ndarray, conf: np.ndarray, inv: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The model's points (n, K, 2) in crop units -> image pixels by the crops' inverse maps
        `inv` (n, 2, 3), confidences clipped to [0, 1] (0 where a point is not finite), then
        projected to the scheme asked for; new float32 arrays."""
        conf = np.minimum(np.maximum(conf, _ZERO), _ONE)  # np.clip's wrappers cost more
        if not math.isfinite(out.sum()):  # a point the model could not place has no confidence
            conf[~np.isfinite(out).all(axis=-1)] = 0.0
        if len(out) == 1:  # one C call: NumPy's stacked product costs more for a single face
            import cv2

            # crop units -> image pixels: the map's 2x2 part scaled by the input size
            out = cv2.transform(out, inv[0] * self._to_pixels)  # (1, K, 2): K 2-channel pixels
        else:
            inv[:, :, :2] *= self.input_size  # crop units -> image pixels, one product per face
            out = out @ inv[:, :, :2].transpose(0, 2, 1) + inv[:, None, :, 2]
        if self._projection is not None:  # the scheme asked for (98 -> 68 -> 5, or a block)
            out = np.einsum("ij,njd->nid", self._projection, out)
            conf = conf @ self._projection.T
        return out.astype(np.float32, copy=False), conf.astype(np.float32, copy=False)

    def _batch(
        self, rgbs: list[np.ndarray], owner: np.ndarray, mats: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The model's (points (n, K, 2) in crop units, confidence (n, K)) for one batch of
        faces, each warped by its map into a reused buffer."""
        n, k = len(mats), self.model_scheme.num_points
        runs = 2 * n if self.mirror else n
        x = self._cut(rgbs, owner, mats, runs)
        if self.mirror:  # the same crops mirrored, in the same forward pass
            x[n:] = x[:n, :, :, ::-1]
        y, c = self._run(x)
        y, c = np.asarray(y, dtype=np.float32), np.asarray(c, dtype=np.float32)
        if y.shape != (runs, k, 2) or c.shape != (runs, k):
            raise CheckpointError(
                f"model {self.name} returned shapes {y.shape} and {c.shape}, expected "
                f"({runs}, {k}, 2) and ({runs}, {k})"
            )
        if self.mirror:
            y, c = _unmirror(y, c, self._flip, self.input_size)
        return y, c

    def model_input(self, image_rgb: np.ndarray, boxes: np.ndarray | Sequence) -> np.ndarray:
        """(N, C, S, S) float32: the network's input for faces `boxes` (N, 4) of an RGB image,
        cut and normalised as a first pass cuts them (a copy; e.g. to calibrate or export)."""
        b = _check_boxes(boxes)
        mats = crop_matrices(b, self.input_size, self.margin)
        return self._cut([as_rgb_image(image_rgb)], _owners(len(b)), mats, len(b)).copy()

    def _cut(self, rgbs: list[np.ndarray], owner: np.ndarray, mats: np.ndarray, runs: int):
        """The first len(mats) faces warped by their maps and normalised into the reused input
        buffer of `runs` rows; returns that buffer (runs, C, S, S)."""
        n = len(mats)
        crops, x = self._buffers(runs)
        warp_many(rgbs, owner, mats, crops[:n])
        _normalise(crops[:n], x[:n])
        return x

    def _single_run(self):
        """(crop (1, S, S, 3) uint8, input (1, C, S, S) float32, run) for one face, made once per
        thread: `run()` runs the ONNX session on that input, bound once (`OnnxRunner.bind`), and
        returns its (points, confidence) arrays, which the next run overwrites. None where the
        model has no bound run (PyTorch, or a file whose outputs cannot be bound)."""
        local = self._thread_local()
        one = getattr(local, "one", False)
        if one is False:
            s, c = self.input_size, self.in_channels
            crop, x = np.empty((1, s, s, 3), np.uint8), np.empty((1, c, s, s), np.float32)
            run = self.runner.bind(x) if self.backend == "onnx" else None
            one = local.one = None if run is None else (crop, x, run)
        return one

    def _thread_local(self) -> threading.local:
        """This landmarker's per-thread state (a served landmarker runs in several threads)."""
        # made once: setdefault's argument would make a new threading.local on every call
        return self.__dict__.get("_local") or self.__dict__.setdefault("_local", threading.local())

    def _buffers(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(crops (n, S, S, 3) uint8, model input (n, C, S, S) float32), views of buffers kept per
        thread (a served landmarker runs in several) and grown when a call needs more."""
        local = self._thread_local()
        if getattr(local, "crops", None) is None or len(local.crops) < n:
            s, c = self.input_size, self.in_channels
            local.crops = np.empty((n, s, s, 3), np.uint8)
            local.x = np.empty((n, c, s, s), np.float32)
        return local.crops[:n], local.x[:n]


def as_rgb_image(image: Any, color: str = "rgb") -> np.ndarray:
    """An (H, W, 3) uint8 RGB array from a path, a PIL image, or a uint8 array (H, W), (H, W, 1),
    (H, W, 3) or (H, W, 4) whose channels are in `color` order ("rgb" or "bgr")."""
    if color not in ("rgb", "bgr"):
        raise ConfigError(f"color must be 'rgb' or 'bgr', not {color!r}")
    if isinstance(image, np.ndarray):  # the common call first
        return array_to_rgb(image, color=color)
    if isinstance(image, (str, os.PathLike)):
        return load_image(image)
    if hasattr(image, "convert") and hasattr(image, "mode"):  # a PIL image
        return to_rgb(image)
    return array_to_rgb(image, color=color)


# --- helpers -------------------------------------------------------------------------------------


def _resolve(model: Any, device: str):
    from ..models.pretrained import DEFAULT_MODEL, LoadedModel, list_pretrained, resolve_model

    if isinstance(model, LoadedModel):
        model.model.to(device)
        return model
    if hasattr(model, "num_points") and hasattr(model, "forward"):  # a bare LandmarkModel
        name = getattr(model, "config", {}).get("name", type(model).__name__)
        return LoadedModel(model=model.to(device), name=name, path=Path(""))
    if model is None and DEFAULT_MODEL not in list_pretrained():
        raise CheckpointError(
            f"no model given and the default model {DEFAULT_MODEL!r} is not shipped yet; pass "
            "model=<a .safetensors file, a .pt checkpoint or a training run folder>"
        )
    return resolve_model(model, device=device)


def _check_boxes(boxes: Any) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float32)
    if b.shape == (1, 4) or b.shape == (4,):  # the common call, one box: plain float checks
        x1, y1, x2, y2 = b.reshape(4).tolist()
        if not (x2 > x1 and y2 > y1 and math.isfinite(x1 + y1 + x2 + y2)):
            raise ConfigError("boxes must be finite with x2 > x1 and y2 > y1")
        return b.reshape(1, 4)
    if b.size == 0:
        return np.zeros((0, 4), dtype=np.float32)
    if b.ndim == 1:
        b = b[None]
    if b.ndim != 2 or b.shape[1] != 4:
        raise ConfigError(f"boxes must be (N, 4) x1 y1 x2 y2, got shape {np.shape(boxes)}")
    if not (b[:, 2:] > b[:, :2]).all() or not np.isfinite(b).all():  # NaN fails the first too
        raise ConfigError("boxes must be finite with x2 > x1 and y2 > y1")
    return b


def _int8_source(model: Any, loaded: Any) -> Path:
    """The int8 ONNX file of a shipped model given by its name (ConfigError for anything else)."""
    from .quantized import int8_file

    if loaded is None or (model is not None and model != loaded.name):
        raise ConfigError(
            f"precision='int8' needs a shipped model's name, not {str(model)!r}; "
            "`python scripts/quantize_model.py` makes an int8 file"
        )
    return int8_file(loaded.name)


def _pick_backend(backend: str, model: Any, device: str) -> str:
    """The backend "auto" stands for: ONNX Runtime for a shipped name or a model file on the CPU
    where onnxruntime is installed; PyTorch for models in memory (training, experiments: their
    weights change, and each new export costs a second) and for other devices."""
    is_file = isinstance(model, (str, os.PathLike))
    if is_file and Path(model).suffix.lower() == ".onnx":
        return "onnx"  # an exported file runs only with ONNX Runtime
    if backend != "auto":
        return backend
    if str(device) != "cpu" or not (model is None or is_file):
        return "torch"
    return "onnx" if importlib.util.find_spec("onnxruntime") is not None else "torch"


_ZERO, _ONE = np.float32(0.0), np.float32(1.0)
_OWNERS = np.zeros(_BATCH, np.intp)
_OWNERS.flags.writeable = False


_ONE_FACE = _OWNERS[:1]


def _tta_scales(tta: Any) -> tuple[float, ...]:
    """`tta` as the box scales to average over: True -> TTA_SCALES, False/None -> (1.0,)."""
    if tta is None or isinstance(tta, (bool, np.bool_)):
        return TTA_SCALES if tta else (1.0,)
    try:
        scales = tuple(float(k) for k in tta)
    except (TypeError, ValueError):
        raise ConfigError(
            f"tta must be True, False or a sequence of box scales, not {tta!r}"
        ) from None
    if not scales or not all(math.isfinite(k) and 0.25 <= k <= 4 for k in scales):
        raise ConfigError(f"tta's box scales must lie in [0.25, 4], got {tta!r}")
    return scales


def _owners(n: int) -> np.ndarray:
    """(n,) zeros: every face from image 0 (a shared read-only array for the common sizes)."""
    return _OWNERS[:n] if n <= len(_OWNERS) else np.zeros(n, np.intp)


def _normalise(crops: np.ndarray, out: np.ndarray) -> np.ndarray:
    """uint8 RGB crops (N, S, S, 3) -> model input (N, C, S, S) float32 in `out`, as
    `data.dataset.to_tensor` makes it: (rgb / 255 - 0.5) / 0.25; grey models get the luma (its
    weights carry the scale, so one product does both)."""
    if out.shape[1] == 1 and len(out) == 1:  # one face: OpenCV's channel mix, in one pass
        import cv2

        cv2.transform(crops[0].astype(np.float32), _LUMA_SHIFTED, dst=out[0, 0])
        return out
    if out.shape[1] == 1:
        np.matmul(crops, _LUMA_SCALED, out=out[:, 0])
    else:
        np.multiply(crops.transpose(0, 3, 1, 2), np.float32(1 / 63.75), out=out)
    out -= 2.0
    return out


_LUMA_SCALED = np.array([0.299, 0.587, 0.114], np.float32) / np.float32(63.75)
_LUMA_SHIFTED = np.append(_LUMA_SCALED, np.float32(-2.0))[None]  # (1, 4): the mix, then - 2


def _unmirror(
    y: np.ndarray, c: np.ndarray, flip: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """The mean of each face's points (crop units) and confidences with those of its mirrored
    crop, given as the second half of `y` (2n, K, 2) and `c` (2n, K): the mirror's points go
    back through the scheme's left/right pairs and x -> (S - 1) / S - x (pixel x -> S - 1 - x)."""
    n = len(y) // 2
    back = y[n:][:, flip]
    back[..., 0] = (size - 1) / size - back[..., 0]
    return (y[:n] + back) / 2, (c[:n] + c[n:][:, flip]) / 2


def _seed_points(seeds: Sequence[np.ndarray | None] | None, sizes: list[int]) -> np.ndarray | None:
    """The images' seed points as one (N, 5, 2) array, NaN for faces without; None if none."""
    if seeds is None or all(s is None for s in seeds):
        return None
    parts = [
        np.full((n, 5, 2), np.nan, np.float64) if s is None else np.asarray(s, np.float64)
        for s, n in zip(seeds, sizes, strict=True)
    ]
    return np.concatenate(parts).reshape(-1, 5, 2)


def _sane(new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """Refined boxes worth a second pass: finite, and within a factor 2 in size and half a side
    in position of the first box (points from a failed first pass can land anywhere)."""
    ns = np.maximum(new[:, 2] - new[:, 0], new[:, 3] - new[:, 1])
    os_ = np.maximum(old[:, 2] - old[:, 0], old[:, 3] - old[:, 1])
    shift = np.abs((new[:, :2] + new[:, 2:]) / 2 - (old[:, :2] + old[:, 2:]) / 2).max(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = ns / os_
        return np.isfinite(new).all(axis=1) & (ratio > 0.5) & (ratio < 2) & (shift < 0.5 * os_)
