"""Part refiners: a second look at each part of a face at a finer scale.

The whole-face model sees a face at 128 px. A part refiner cuts a small patch around one part
(an eye, a brow, the nose, the mouth, one side of the jaw) from the photo itself, turned upright
by the eye line and scaled to the eye distance, and a small network places that part's points in
it; its answer is blended with the whole-face model's. It is the second level of Sun et al.'s
cascade (CVPR 2013), with one network per kind of part: the right eye is the left eye mirrored,
and each part is read both as it is and mirrored, the two answers averaged.

`PartRefiner("dense98-parts")` loads the shipped refiners (every part's network and settings in
one safetensors file); `refine(rgb, points)` moves the points of faces given in the refiners'
scheme (300-W's 68 points for `dense98-parts`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import CheckpointError, ConfigError
from ..schemes import Scheme, get_scheme
from .detectors.base import torch_threads

__all__ = [
    "PartSpec",
    "PartRefiner",
    "part_instances",
    "part_matrices",
    "cut_patches",
    "load_part_nets",
    "save_part_nets",
]


@dataclass(frozen=True)
class PartSpec:
    """One kind of part. `points`: its point names in the scheme (the image's left one where a
    part comes in a pair: its mirror image gives the other); `side`: the patch's side in eye
    distances (the scheme's normalising pair); `size`: the patch's side in pixels; `blend`: the
    share of the refiner's answer in the points it returns (the rest is the points it was given)."""

    name: str
    points: tuple[str, ...]
    side: float
    size: int
    blend: float = 0.5

    def to_dict(self) -> dict:
        return {**asdict(self), "points": list(self.points)}

    @classmethod
    def from_dict(cls, d: dict) -> PartSpec:
        try:
            return cls(
                name=str(d["name"]),
                points=tuple(str(p) for p in d["points"]),
                side=float(d["side"]),
                size=int(d["size"]),
                blend=float(d.get("blend", 0.5)),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"a part needs name, points, side and size: {d!r} ({e})") from None


def part_instances(spec: PartSpec, scheme: Scheme) -> list[tuple[np.ndarray, bool]]:
    """The part's point indices as read (mirrored False) and, mirrored (True), its mirror
    image's indices in the same order: the other eye of a pair, the same nose read mirrored."""
    try:
        idx = np.array([scheme.index(p) for p in spec.points])
    except (KeyError, ValueError) as e:
        raise ConfigError(f"part {spec.name}: {e}") from None
    flip = np.asarray(scheme.flip)
    return [(idx, False), (flip[idx], True)]


def part_matrices(
    points: np.ndarray,
    idx: np.ndarray,
    mirror: bool,
    spec: PartSpec,
    scheme: Scheme,
    jitter: np.ndarray | None = None,
) -> np.ndarray:
    """(N, 2, 3) maps from image pixels to each face's patch for the part at `idx` of points
    (N, K, 2): centred on the part's points, upright by the eye line (the scheme's normalising
    pair), `spec.side` eye distances wide, mirrored left to right if `mirror`. `jitter` (N, 4):
    shifts (x, y in eye distances), turn (radians) and log scale, for training."""
    p = np.asarray(points, np.float64)
    a, b = scheme.norm_pair
    d = p[:, list(b)].mean(1) - p[:, list(a)].mean(1)
    eye = np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-6)
    angle = np.arctan2(d[:, 1], d[:, 0])
    centre = p[:, idx].mean(1)
    side = spec.side * eye
    if jitter is not None:
        centre = centre + jitter[:, :2] * eye[:, None]
        angle = angle + jitter[:, 2]
        side = side * np.exp(jitter[:, 3])
    s = spec.size / side
    cos, sin = np.cos(angle) * s, np.sin(angle) * s
    m = np.zeros((len(p), 2, 3))
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = cos, sin, -sin, cos
    if mirror:
        m[:, 0, :2] *= -1
    m[:, :, 2] = (spec.size - 1) / 2 - np.einsum("nij,nj->ni", m[:, :, :2], centre)
    return m


def cut_patches(grey: np.ndarray, mats: np.ndarray, size: int) -> np.ndarray:
    """(N, 1, size, size) float32 network input: each map's patch of a grey uint8 image,
    bilinear, edges repeated, each patch scaled to zero mean and about unit spread."""
    import cv2

    out = np.empty((len(mats), 1, size, size), np.float32)
    for i, m in enumerate(mats):
        out[i, 0] = cv2.warpAffine(
            grey, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
    return normalise_patches(out)


def normalise_patches(x: np.ndarray) -> np.ndarray:
    """Patches (N, 1, S, S) float32 in grey levels -> zero mean, spread about one (in place)."""
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    std = x.std(axis=(1, 2, 3), keepdims=True)
    x -= mean
    x /= std + 8.0
    return x


def to_grey(image: np.ndarray) -> np.ndarray:
    """A grey uint8 (H, W) view of an RGB, RGBA or grey uint8 image."""
    import cv2

    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[..., 0]
    code = cv2.COLOR_RGBA2GRAY if image.shape[2] == 4 else cv2.COLOR_RGB2GRAY
    return cv2.cvtColor(np.ascontiguousarray(image), code)


def save_part_nets(
    path: str | Path, scheme: str, parts: list[tuple[PartSpec, torch.nn.Module]], meta: dict
) -> None:
    """One safetensors file holding every part's network (its tensors under "NAME."), its spec
    and model config, written whole or not at all."""
    from safetensors.torch import save

    from ..io import atomic_write_bytes

    tensors, specs = {}, []
    for spec, net in parts:
        for k, v in net.state_dict().items():
            tensors[f"{spec.name}.{k}"] = v.detach().cpu().contiguous()
        specs.append({**spec.to_dict(), "model": net.config})
    info = {"scheme": scheme, "parts": specs, **meta}
    atomic_write_bytes(path, save(tensors, metadata={"part_refiners": json.dumps(info)}))


def load_part_nets(source: str | Path) -> tuple[dict, list[tuple[PartSpec, torch.nn.Module]]]:
    """(metadata, [(spec, network in eval mode)]) from a file `save_part_nets` wrote, or a
    shipped name ("dense98-parts")."""
    from safetensors import SafetensorError, safe_open

    from ..models import create_model

    path = Path(source)
    if not path.suffix:
        from ..models.pretrained import WEIGHTS_DIR

        path = WEIGHTS_DIR / f"{source}.safetensors"
    if not path.is_file():
        raise CheckpointError(f"{source}: no part refiners there (no such file {path})")
    try:
        with safe_open(str(path), "pt") as f:
            raw = (f.metadata() or {}).get("part_refiners")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path}: cannot read it as safetensors ({e})") from None
    if raw is None:
        raise CheckpointError(f"{path}: not a part refiner file (no 'part_refiners' metadata)")
    info = json.loads(raw)
    parts = []
    for d in info["parts"]:
        spec = PartSpec.from_dict(d)
        net = create_model(**d["model"])
        prefix = spec.name + "."
        state = {k[len(prefix) :]: v.float() for k, v in tensors.items() if k.startswith(prefix)}
        try:
            net.load_state_dict(state)
        except RuntimeError as e:
            raise CheckpointError(f"{path}: part {spec.name}: {e}") from None
        parts.append((spec, net.eval()))
    return info, parts


class PartRefiner:
    """Moves the points of whole faces by looking again at each part. source: a shipped name
    or a file written by `save_part_nets`. threads: CPU threads while refining (None: ONNX
    Runtime's default, or as the process has them for PyTorch). backend: "auto" (ONNX Runtime
    where it is installed: about three times faster on these small networks), "onnx" or
    "torch"."""

    def __init__(
        self, source: str | Path = "dense98-parts", threads: int | None = 1, backend: str = "auto"
    ):
        import importlib.util

        if backend not in ("auto", "onnx", "torch"):
            raise ConfigError(f"backend must be auto, onnx or torch, not {backend!r}")
        self.info, self.parts = load_part_nets(source)
        self.scheme = get_scheme(self.info["scheme"])
        self.threads = threads
        self._instances = [part_instances(spec, self.scheme) for spec, _ in self.parts]
        if backend == "auto":
            backend = "onnx" if importlib.util.find_spec("onnxruntime") else "torch"
        self.backend = backend
        self._runs = [
            _onnx_run(net, spec.size, threads) if backend == "onnx" else _torch_run(net)
            for spec, net in self.parts
        ]

    def refine(self, image: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Points (N, K, 2) of faces in `image` (RGB, RGBA or grey uint8), in the refiners'
        scheme, each part moved towards where its network places it; a new float32 array.
        Faces whose points are not all finite are returned as given."""
        pts = np.asarray(points, np.float32)
        if pts.ndim != 3 or pts.shape[1:] != (self.scheme.num_points, 2):
            raise ConfigError(
                f"part refiners for {self.scheme.name} need points (N, "
                f"{self.scheme.num_points}, 2), got {pts.shape}"
            )
        out = pts.copy()
        ok = np.isfinite(pts).all(axis=(1, 2))
        if not ok.any():
            return out
        grey = to_grey(image)
        good = pts[ok].astype(np.float64)
        new = good.copy()
        n = len(good)
        torch_n = self.threads if self.backend == "torch" and self.threads else 0
        with torch_threads(torch_n):  # ONNX Runtime has its threads in its session
            for (spec, _), run, instances in zip(
                self.parts, self._runs, self._instances, strict=True
            ):
                mats = [part_matrices(good, idx, mir, spec, self.scheme) for idx, mir in instances]
                x = cut_patches(grey, np.concatenate(mats), spec.size)
                y = run(x).astype(np.float64) * spec.size
                readings = [
                    (idx, _back(mats[j], y[j * n : (j + 1) * n]))
                    for j, (idx, _) in enumerate(instances)
                ]
                blend_readings(new, good, readings, spec.blend)
        out[ok] = new.astype(np.float32)
        return out

    def __repr__(self) -> str:
        names = ", ".join(s.name for s, _ in self.parts)
        return f"PartRefiner({self.scheme.name}: {names})"


def blend_readings(
    out: np.ndarray, points: np.ndarray, readings: list[tuple[np.ndarray, np.ndarray]], blend: float
) -> None:
    """Set the read points of `out` (N, K, 2) to `points` moved a `blend` share towards the
    readings: (indices, image points (N, k, 2)) per reading of a part. Each reading answers for
    its own indices (the two eyes of a pair), and points read twice (the mouth as it is and
    mirrored) take the mean of the two."""
    total = np.zeros_like(points)
    count = np.zeros(points.shape[1])
    for idx, back in readings:
        total[:, idx] += back
        count[idx] += 1
    done = count > 0
    seen = total[:, done] / count[done, None]
    out[:, done] = (1 - blend) * points[:, done] + blend * seen


def _torch_run(net: torch.nn.Module):
    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return net(torch.from_numpy(x)).numpy()

    return run


def _onnx_run(net: torch.nn.Module, size: int, threads: int | None):
    """The network exported to ONNX in memory and run in an ONNX Runtime session."""
    import io
    import warnings

    import onnxruntime as ort

    from .onnx_backend import cpu_session_options

    buf = io.BytesIO()
    with warnings.catch_warnings():  # the tracer's notes on the head's constants
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            torch.zeros(2, 1, size, size),
            buf,
            input_names=["patches"],
            output_names=["points"],
            dynamic_axes={"patches": {0: "n"}, "points": {0: "n"}},
            dynamo=False,
        )
    session = ort.InferenceSession(
        buf.getvalue(), cpu_session_options(threads), providers=["CPUExecutionProvider"]
    )

    def run(x: np.ndarray) -> np.ndarray:
        return session.run(None, {"patches": x})[0]

    return run


def _back(m: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Patch pixels (N, K, 2) back to image pixels through the inverses of maps m (N, 2, 3)."""
    n = len(m)
    inv = np.linalg.inv(np.concatenate([m, np.tile([[[0.0, 0.0, 1.0]]], (n, 1, 1))], 1))
    return np.einsum("nij,nkj->nki", inv[:, :2, :2], y) + inv[:, None, :2, 2]
