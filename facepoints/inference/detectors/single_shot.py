"""What the light single-shot detectors share (RetinaFace-MobileNet-0.25, ultra-light slim and
RFB): one network pass over the photo, anchors decoded into boxes, scores and 5 points, greedy
NMS; run with PyTorch or with ONNX Runtime (one session per detector, exported once into the
user cache folder from the shipped weights: a local export, never a download).

Weights: facepoints/weights/face-detector-1mb.safetensors (MIT, see its card), written once by
scripts/convert_face_detectors.py from the authors' state dicts."""

from __future__ import annotations

import functools
import hashlib
import math
from pathlib import Path

import numpy as np

from ...errors import CheckpointError, ConfigError
from .base import MAX_WORK_SIDE, FaceDetector, resize_by, torch_threads
from .priors import anchor_boxes, box_iou, decode_boxes, decode_points, nms

__all__ = ["SingleShotDetector", "WEIGHTS_FILE", "BACKENDS"]

WEIGHTS_FILE = Path(__file__).resolve().parents[2] / "weights" / "face-detector-1mb.safetensors"
BACKENDS = ("auto", "torch", "onnx")
MEAN_BGR = (104.0, 117.0, 123.0)  # the networks read BGR pixels minus these, not rescaled
PRE_NMS_TOP_K = 5000
# The working image (where a face of `min_size` px fills the network's window) is searched at
# several scales, PYRAMID_RATIO apart, down to `coarse_side` px. Each level's own faces measure
# HANDOFF px or more at its scale (any size at the finest) and less at the next coarser level's;
# a larger face stays only where that coarser level found it too (CONFIRM_IOU), whose box then
# goes first. The network sees faces up to its largest anchor (256 px) at the scale WIDER FACE
# taught it; a face many times larger than that, as in a large photo from a camera, gave dozens
# of false "faces" (parts of it, folds of cloth) at the working scale alone.
PYRAMID_RATIO = 5.0  # at most: HANDOFF times this stays inside the largest anchor (256 px)
HANDOFF = 50.0  # px, raw box side: 2.5 times the window (20 px), well inside the anchors
CONFIRM_IOU = 0.3  # a finer level's large face and a coarser level's box this close are one face
_EXPORT_VERSION = 1  # bump when export_onnx writes something different


class SingleShotDetector(FaceDetector):
    """A single-shot detector with 5 points. Subclasses set `name` (registry and box-map key,
    and the network's name in `lightnets.NETWORKS`), `steps` and `min_sizes` (the anchors).

    min_size: smallest face kept (training-convention box side, px). threshold: face
        probability to keep a detection (None: the class default, chosen on training photos).
    long_side: None (default): the photo is resized so that a face of `min_size` px becomes
        `window` px for the network, so large minimum sizes run fast and small ones find tiny
        faces; a number: the photo is resized so that its longer side has that many pixels (the
        authors evaluated at 640), and enlarged further only when `upscale` and `min_size` ask.
    upscale: allow enlarging the photo (up to 4096 px a side) for faces smaller than the
        network's window; False keeps at most the photo's own size (or `long_side`).
    max_faces: keep at most this many faces, best first (None: all). nms_iou: overlap above
        which the lower-scored of two boxes is dropped. backend: "onnx" (ONNX Runtime), "torch",
        or "auto" (the default): ONNX Runtime where it is installed (on 1024 px crowd photos it
        finds the same faces as PyTorch in about half the time), else PyTorch.
    Working images over twice `coarse_side` (320) px long are searched as a pyramid, each level
    at most PYRAMID_RATIO (5) times smaller down to `coarse_side`, each keeping its own band of face
    sizes (HANDOFF), so that a face is found at a scale where it fits the network's anchors
    (a 24-megapixel photo of one face gives that face, not dozens of its parts).
    threads: CPU threads while detecting (torch: set around each call and restored; onnx: the
        session's, set once)."""

    steps: tuple[int, ...] = ()
    min_sizes: tuple[tuple[int, ...], ...] = ()
    window = 20  # raw box side (px) found reliably at the network input (benchmark --tune)
    default_threshold = 0.5
    coarse_side = 320  # px: the pyramid's smallest level (working images over twice this long)

    def __init__(
        self,
        min_size: float = 40,
        threshold: float | None = None,
        box_map=None,
        long_side: int | None = None,
        upscale: bool = True,
        max_faces: int | None = None,
        nms_iou: float = 0.4,
        backend: str = "auto",
        threads: int = 1,
    ):
        super().__init__(min_size=min_size, threshold=threshold, box_map=box_map)
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"threshold must be a probability in [0, 1], not {threshold!r}")
        if long_side is not None and not (int(long_side) >= 32):
            raise ConfigError(f"long_side must be at least 32 pixels or None, not {long_side!r}")
        if max_faces is not None and int(max_faces) < 1:
            raise ConfigError(f"max_faces must be >= 1 or None, not {max_faces!r}")
        if not 0.0 < float(nms_iou) <= 1.0:
            raise ConfigError(f"nms_iou must be in (0, 1], not {nms_iou!r}")
        if backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        if int(threads) < 1:
            raise ConfigError(f"threads must be >= 1, not {threads!r}")
        self.long_side = None if long_side is None else int(long_side)
        self.upscale = bool(upscale)
        self.max_faces = None if max_faces is None else int(max_faces)
        self.nms_iou = float(nms_iou)
        if backend == "auto":  # ONNX Runtime where installed: the same faces in half the time
            import importlib.util

            backend = "onnx" if importlib.util.find_spec("onnxruntime") is not None else "torch"
        self.backend = backend
        self.threads = int(threads)
        self._net = load_network(self.name)
        self._session = self._onnx_session() if backend == "onnx" else None
        self._anchors: dict[tuple[int, int], np.ndarray] = {}

    def detect(self, image: np.ndarray):
        """Faces in an RGB uint8 image (H, W, 3), best first, each with its 5 points."""
        found = super().detect(image)
        return found if self.max_faces is None else found[: self.max_faces]

    __call__ = detect

    def export_onnx(self, path: str | Path, opset: int = 17) -> Path:
        """Write the network as ONNX (input "image" (1, 3, H, W) BGR minus MEAN_BGR, any H, W;
        outputs "boxes" (1, A, 4), "scores" (1, A), "points" (1, A, 10) as anchor offsets),
        atomically; returns the path."""
        import io
        import json
        import warnings

        import onnx
        import torch

        from ...io import atomic_write_bytes

        buf = io.BytesIO()
        x = torch.zeros(1, 3, 240, 320)
        with warnings.catch_warnings(), torch_threads(self.threads):
            warnings.simplefilter("ignore")
            try:
                torch.onnx.export(
                    self._net,
                    (x,),
                    buf,
                    dynamo=False,
                    opset_version=int(opset),
                    input_names=["image"],
                    output_names=["boxes", "scores", "points"],
                    dynamic_axes={
                        "image": {2: "height", 3: "width"},
                        "boxes": {1: "anchors"},
                        "scores": {1: "anchors"},
                        "points": {1: "anchors"},
                    },
                    do_constant_folding=True,
                )
            except Exception as e:  # torch raises many types for unsupported ops or opsets
                raise ConfigError(f"ONNX export of {self.name} failed: {e}") from None
        proto = onnx.load_from_string(buf.getvalue())
        meta = {
            "name": self.name,
            "mean_bgr": list(MEAN_BGR),
            "steps": list(self.steps),
            "min_sizes": [list(s) for s in self.min_sizes],
            "variances": [0.1, 0.2],
        }
        for key, value in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, json.dumps(value)
        proto.producer_name = "facepoints"
        onnx.checker.check_model(proto)
        atomic_write_bytes(path, proto.SerializeToString())
        return Path(path)

    # --- detection -----------------------------------------------------------------------------

    def _work_scale(self, hw: tuple[int, int]) -> float:
        # the raw box's smaller side for a face of min_size: the map stretches raw boxes by
        # different factors in x and y, and the square anchors follow the smaller side
        raw_min = self.min_size / max(self.box_map.sx, self.box_map.sy)
        need = self.window / raw_min  # the scale at which a min_size face fills the window
        if self.long_side is None:
            scale = need if self.upscale else min(need, 1.0)
        else:
            scale = self.long_side / max(hw)
            if self.upscale:
                scale = max(scale, need)
        return min(scale, MAX_WORK_SIDE / max(hw))

    def _detect_raw(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        levels = self._levels(rgb.shape[:2])
        found = [self._level(rgb, g) for g in levels]
        boxes, scores, points, home = [], [], [], []
        for i, (b, s, p) in enumerate(found):
            side = _sides(b)
            keep = np.ones(len(b), dtype=bool)
            if i > 0:  # smaller faces are the finer levels' to find
                keep &= side * levels[i] >= HANDOFF
            large = np.zeros(len(b), dtype=bool)
            if i + 1 < len(levels):
                # a face of HANDOFF px or more at the next coarser level is that level's: kept
                # here only where that level found it too, and there its box goes first
                large = keep & (side * levels[i + 1] >= HANDOFF)
                coarser = found[i + 1][0]
                if large.any():
                    seen = box_iou(b[large], coarser).max(axis=1) if len(coarser) else 0.0
                    keep[large] = seen >= CONFIRM_IOU
            boxes.append(b[keep])
            scores.append(s[keep])
            points.append(p[keep])
            home.append(~large[keep])
        b = np.concatenate(boxes).astype(np.float32)
        s = np.concatenate(scores)
        p = np.concatenate(points).astype(np.float32)
        # faces at their own level first (scores are probabilities: + 1 ranks them above)
        kept = nms(b, s + np.concatenate(home), self.nms_iou)
        return b[kept], s[kept], p[kept]

    def _level(self, rgb: np.ndarray, g: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One pyramid level: the candidates on the image scaled by `g`, after NMS, in the
        working image's pixels."""
        small = resize_by(rgb, g)
        b, s, p = self._candidates(small)
        if small is not rgb:
            fx, fy = small.shape[1] / rgb.shape[1], small.shape[0] / rgb.shape[0]
            b, p = b / [fx, fy, fx, fy], p / [fx, fy]
        kept = nms(b, s, self.nms_iou)
        return b[kept].astype(np.float32), s[kept], p[kept].astype(np.float32)

    def _levels(self, hw: tuple[int, int]) -> list[float]:
        """The pyramid's scales relative to the working image, finest (1.0) first, down to
        `coarse_side` px on the longer side in equal steps of at most PYRAMID_RATIO; a working
        image at most twice `coarse_side` long gets only its own."""
        span = float(max(hw)) / self.coarse_side
        if span <= 2.0:
            return [1.0]
        steps = max(1, math.ceil(math.log(span, PYRAMID_RATIO)))
        return [span ** (-k / steps) for k in range(steps + 1)]

    def _candidates(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One network pass: decoded boxes, scores and points above the threshold (no NMS)."""
        h, w = rgb.shape[:2]
        loc, prob, pts = self._forward(network_input(rgb))
        keep = np.flatnonzero(prob > self.threshold)
        if len(keep) > PRE_NMS_TOP_K:
            keep = keep[np.argsort(-prob[keep], kind="stable")[:PRE_NMS_TOP_K]]
        anchors = self._anchor_grid(h, w)[keep]
        return decode_boxes(loc[keep], anchors), prob[keep], decode_points(pts[keep], anchors)

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(1, 3, H, W) float32 -> offsets (A, 4), face probabilities (A,), points (A, 10)."""
        if self._session is not None:
            loc, prob, pts = self._session.run(None, {"image": x})
            return loc[0], prob[0], pts[0]
        import torch

        with torch.inference_mode(), torch_threads(self.threads):
            loc, prob, pts = self._net(torch.from_numpy(x))
        return loc[0].numpy(), prob[0].numpy(), pts[0].numpy()

    def _anchor_grid(self, h: int, w: int) -> np.ndarray:
        key = (h, w)
        if key not in self._anchors:
            if len(self._anchors) > 8:  # videos keep one size; photos of many sizes do not
                self._anchors.clear()
            self._anchors[key] = anchor_boxes(h, w, self.steps, self.min_sizes)
        return self._anchors[key]

    def _onnx_session(self):
        """The ONNX Runtime session for this network, exporting it into the cache first."""
        import onnxruntime as ort

        from ...data.paths import user_cache_dir
        from ..onnx_backend import cpu_session_options

        path = user_cache_dir() / "onnx" / f"detector-{self.name}-{_weights_hash()}.onnx"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            self.export_onnx(path)
        opts = cpu_session_options(self.threads or None)  # 0: ONNX Runtime's default
        try:
            return ort.InferenceSession(
                str(path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph types
            raise CheckpointError(f"{path}: ONNX Runtime cannot load it ({e})") from None

    def __repr__(self) -> str:
        side = "auto" if self.long_side is None else str(self.long_side)
        return (
            f"{type(self).__name__}(min_size={self.min_size:g}, threshold={self.threshold:g}, "
            f"long_side={side}, upscale={self.upscale}, max_faces={self.max_faces}, "
            f"backend={self.backend!r}, box_map={self.box_map})"
        )


def network_input(rgb: np.ndarray) -> np.ndarray:
    """The networks' input for an RGB uint8 image: (1, 3, H, W) float32, BGR minus MEAN_BGR.
    OpenCV's blob maker does the swap, the subtraction and the layout in one pass, about four
    times faster than the same steps in NumPy on a 640 x 480 photo."""
    import cv2

    return cv2.dnn.blobFromImage(rgb, 1.0, None, MEAN_BGR, swapRB=True, crop=False)


def load_network(name: str):
    """The torch network `name` of lightnets.NETWORKS with its shipped weights, in eval mode."""
    from safetensors import safe_open

    from .lightnets import NETWORKS

    make, prefix = NETWORKS[name]
    if not WEIGHTS_FILE.is_file():
        raise CheckpointError(
            f"{WEIGHTS_FILE} is missing (reinstall facepoints, or run "
            "scripts/convert_face_detectors.py)"
        )
    try:
        with safe_open(str(WEIGHTS_FILE), framework="pt") as f:
            state = {k[len(prefix) :]: f.get_tensor(k) for k in f.keys() if k.startswith(prefix)}
        net = make()
        net.load_state_dict(state, strict=True)
    except Exception as e:  # safetensors and torch raise several types for damaged files
        raise CheckpointError(f"{WEIGHTS_FILE}: cannot load the {name} weights ({e})") from None
    return net.eval()


@functools.lru_cache(maxsize=1)
def _weights_hash() -> str:
    """A short hash of the shipped weights, torch's version and the export's version."""
    import torch

    h = hashlib.sha1(f"{_EXPORT_VERSION} {torch.__version__}".encode())
    h.update(WEIGHTS_FILE.read_bytes())
    return h.hexdigest()[:16]


def _sides(boxes: np.ndarray) -> np.ndarray:
    """(N,) the shorter side of boxes (N, 4) x1 y1 x2 y2."""
    return np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
