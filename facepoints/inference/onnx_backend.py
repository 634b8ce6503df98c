"""Run a landmark model with ONNX Runtime on the CPU: the same (B, C, S, S) -> (B, K, 2) contract
as the PyTorch model, usually faster for one face at a time on few threads; `run_with_confidence`
also returns each point's confidence (B, K), the export's second output.

A loaded PyTorch model is exported once to the user cache folder (`<cache>/onnx/<hash>.onnx`, the
hash covering weights and config), a local export and never a download."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CheckpointError, ConfigError

__all__ = ["OnnxRunner", "cached_onnx_path", "cpu_session_options"]

_EXPORT_VERSION = 4  # bump when export_onnx changes what it writes (2: confidence; 3: lean
# decode; 4: the confidence head folded)


class OnnxRunner:
    """An ONNX Runtime session for one landmark model, callable on crops.

    source: a LoadedModel, a LandmarkModel, an .onnx file written by `export_onnx`, or a name or
    path that `resolve_model` understands. threads: ONNX Runtime's intra-op threads (None: its
    default, one per core)."""

    def __init__(self, source: Any, threads: int | None = None):
        import onnxruntime as ort

        path = _onnx_file(source)
        opts = cpu_session_options(threads)
        try:
            self.session = ort.InferenceSession(
                str(path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph types
            raise CheckpointError(f"{path}: ONNX Runtime cannot load it ({e})") from None
        from .export import read_onnx_metadata

        self.path = path
        self.metadata = read_onnx_metadata(self.session)
        inp = self.session.get_inputs()[0]
        self._input_name = inp.name
        shape = inp.shape  # [batch, C, S, S]; batch may be a name
        self.in_channels = int(self.metadata.get("in_channels", shape[1]))
        self.input_size = int(self.metadata.get("input_size", shape[2]))
        out_shape = self.session.get_outputs()[0].shape
        self.num_points = int(self.metadata.get("num_points", out_shape[1]))
        self.margin = float(self.metadata.get("margin", 0.2))
        self.scheme = str(self.metadata.get("scheme", "")) or None
        self.name = str(self.metadata.get("name", "")) or Path(path).stem
        self._fixed_batch = shape[0] if isinstance(shape[0], int) else None
        from ..models.confidence import UNKNOWN

        outputs = [o.name for o in self.session.get_outputs()]
        self._conf_index = outputs.index("confidence") if "confidence" in outputs else None
        # the points, then the confidence where the file has it: asked by name on every run
        self._outputs = [outputs[0]] + ([] if self._conf_index is None else ["confidence"])
        self._unknown = UNKNOWN
        # an export without the confidence output (before facepoints had one) says nothing
        self.confidence_kind = (
            str((self.metadata.get("confidence") or {}).get("kind", "constant"))
            if self._conf_index is not None
            else "constant"
        )

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """(B, C, S, S) float32 crops (as `to_tensor` makes them) -> (B, K, 2) float32 points,
        normalised to the crop. A torch tensor is accepted too."""
        return self.run_with_confidence(crops)[0]

    def run_with_confidence(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(points (B, K, 2), confidence (B, K) float32 in [0, 1]) for (B, C, S, S) crops; a file
        exported without a confidence output gives UNKNOWN (0.5) for every point."""
        x = crops.detach().cpu().numpy() if hasattr(crops, "detach") else crops
        x = np.ascontiguousarray(x, dtype=np.float32)
        want = (self.in_channels, self.input_size, self.input_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != want:
            raise ConfigError(
                f"{self.name} expects input (B, {want[0]}, {want[1]}, {want[2]}), got {x.shape}"
            )
        if len(x) == 0:
            k = self.num_points
            return np.zeros((0, k, 2), dtype=np.float32), np.zeros((0, k), dtype=np.float32)
        if self._fixed_batch is not None and len(x) != self._fixed_batch:
            if self._fixed_batch != 1:
                raise ConfigError(
                    f"{self.path} was exported for batch {self._fixed_batch}, got {len(x)}"
                )
            parts = [self._run(x[i : i + 1]) for i in range(len(x))]
            return (
                np.concatenate([p for p, _ in parts]),
                np.concatenate([c for _, c in parts]),
            )
        return self._run(x)

    def bind(self, x: np.ndarray) -> Callable[[], tuple[np.ndarray, np.ndarray]] | None:
        """A run bound once to the input buffer `x` (B, C, S, S) float32, C-contiguous, kept
        alive by the caller: each call reads `x` as it then is and returns (points (B, K, 2),
        confidence (B, K)) in arrays made once, which the next call overwrites. Skips the
        checks, the input's wrapping and the outputs' allocation of a plain run: for the
        smallest models, where those are a tenth of a face's time. None where the file's
        outputs are not float32 or its batch is fixed to another size (use the plain run)."""
        import onnxruntime as ort

        b, k = len(x), self.num_points
        types = {o.name: o.type for o in self.session.get_outputs()}
        if any(types[name] != "tensor(float)" for name in self._outputs) or (
            self._fixed_batch is not None and self._fixed_batch != b
        ):
            return None
        if (
            x.dtype != np.float32
            or not x.flags.c_contiguous
            or x.shape[1:]
            != (
                self.in_channels,
                self.input_size,
                self.input_size,
            )
        ):
            raise ConfigError(f"{self.name}: cannot bind an input of {x.dtype} {x.shape}")
        io = self.session.io_binding()
        io.bind_ortvalue_input(self._input_name, ort.OrtValue.ortvalue_from_numpy(x))
        points = np.empty((b, k, 2), np.float32)
        confidence = np.full((b, k), self._unknown, np.float32)
        io.bind_ortvalue_output(self._outputs[0], ort.OrtValue.ortvalue_from_numpy(points))
        if self._conf_index is not None:
            io.bind_ortvalue_output("confidence", ort.OrtValue.ortvalue_from_numpy(confidence))
        run = self.session.run_with_iobinding

        def call() -> tuple[np.ndarray, np.ndarray]:
            run(io)
            return points, confidence

        return call

    def _run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = self.session.run(self._outputs, {self._input_name: x})
        points = out[0].astype(np.float32, copy=False)
        if len(out) == 1:
            return points, np.full(points.shape[:2], self._unknown, dtype=np.float32)
        return points, out[1].astype(np.float32, copy=False)

    def __repr__(self) -> str:
        return (
            f"OnnxRunner({self.name!r}, input_size={self.input_size}, "
            f"in_channels={self.in_channels}, num_points={self.num_points})"
        )


def cpu_session_options(threads: int | None = None):
    """ONNX Runtime session options for one CPU session: sequential, every graph optimisation,
    `threads` intra-op threads (None: ONNX Runtime's default, one per core), idle threads not
    spinning."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.inter_op_num_threads = 1
    if threads is not None:
        if int(threads) < 1:
            raise ConfigError(f"threads must be >= 1, got {threads!r}")
        opts.intra_op_num_threads = int(threads)
    # idle worker threads spin by default; on shared CPUs that steals time from the rest
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def cached_onnx_path(model: Any) -> Path:
    """Where the cached ONNX export of a LoadedModel or LandmarkModel lives (it may not exist)."""
    from ..data.paths import user_cache_dir

    return user_cache_dir() / "onnx" / f"{_model_hash(model)}.onnx"


def _onnx_file(source: Any) -> Path:
    """The .onnx file for `source`, exporting a PyTorch model into the cache on first use."""
    from ..models.base import LandmarkModel
    from ..models.pretrained import LoadedModel, resolve_model

    if isinstance(source, (str, os.PathLike)):
        p = Path(source)
        if p.suffix.lower() == ".onnx":
            if not p.is_file():
                raise CheckpointError(f"{p}: no such ONNX file")
            return p
        source = resolve_model(source)
    if not isinstance(source, (LoadedModel, LandmarkModel)):
        raise ConfigError(f"cannot run {type(source).__name__} with ONNX Runtime")
    path = cached_onnx_path(source)
    if not path.is_file():
        from .export import export_onnx

        export_onnx(source, path)  # atomic: a concurrent user sees the old state or the whole file
    return path


def _model_hash(model: Any) -> str:
    import torch

    from ..models.pretrained import LoadedModel

    net = model.model if isinstance(model, LoadedModel) else model
    margin = model.margin if isinstance(model, LoadedModel) else 0.2
    name = model.name if isinstance(model, LoadedModel) else ""
    conf = model.confidence if isinstance(model, LoadedModel) else None
    scheme = model.metadata.get("scheme") if isinstance(model, LoadedModel) else None
    h = hashlib.sha1()
    head = {"v": _EXPORT_VERSION, "torch": torch.__version__, "margin": margin, "name": name}
    if scheme:  # the export records it: another scheme is another file
        head["scheme"] = scheme
    h.update(json.dumps(head, sort_keys=True).encode())
    h.update(json.dumps(getattr(net, "config", {}), sort_keys=True).encode())
    state = dict(net.state_dict())
    if conf is not None:  # a new calibration is a new export
        state.update({f"confidence.{k}": v for k, v in conf.state_dict().items()})
    for key, t in state.items():
        h.update(key.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:20]
