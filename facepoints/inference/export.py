"""Export a landmark model to ONNX or TorchScript, with what a runtime needs to use it (input size,
channels, crop margin, points, scheme, model config) embedded in the file.

    from facepoints.inference.export import export_onnx
    export_onnx("cuhk5-resnet", "cuhk5-resnet.onnx")

Both formats take (B, C, S, S) float32 crops, normalised as `facepoints.data.dataset.to_tensor`
makes them, and give (B, K, 2) points normalised to the crop (pixel = value * S). ONNX files also
give "confidence" (B, K), each point's confidence in [0, 1] (`facepoints.models.confidence`;
the metadata's "confidence" says whether it is calibrated and on which faces)."""

from __future__ import annotations

import copy
import io
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CheckpointError, ConfigError
from ..io import atomic_write_bytes

__all__ = [
    "export_onnx",
    "export_torchscript",
    "export_metadata",
    "read_onnx_metadata",
    "load_torchscript",
    "compare_onnx",
    "INPUT_NAME",
    "OUTPUT_NAME",
    "CONFIDENCE_NAME",
    "NORMALISATION",
]

INPUT_NAME = "crops"
OUTPUT_NAME = "points"
CONFIDENCE_NAME = "confidence"
# what to_tensor does to uint8 RGB pixels; written into the files so other runtimes can copy it
NORMALISATION = (
    "(rgb / 255 - 0.5) / 0.25, NCHW float32; grey models: luma 0.299 R + 0.587 G + 0.114 B"
)
_TS_EXTRA = "facepoints.json"  # the TorchScript archive entry holding the metadata


def export_onnx(
    model: Any,
    path: str | os.PathLike,
    opset: int = 17,
    dynamic_batch: bool = True,
) -> Path:
    """Write `model` (a LoadedModel, a LandmarkModel, or a name/path for `resolve_model`) as an
    ONNX file at `path`, atomically; returns the path. The input is named "crops", the outputs
    "points" and "confidence"; `export_metadata` becomes the file's metadata_props. Without
    `dynamic_batch` the batch is fixed to 1."""
    import onnx
    import torch

    model = _resolve(model)
    net, meta = _prepare(model)
    both, meta["confidence"] = _with_confidence(model, net)
    meta["opset"] = int(opset)
    # a static export takes one face at a time; a dynamic one is traced at 2 so that no size-1
    # dimension gets folded into the graph as a constant
    x = torch.zeros(2 if dynamic_batch else 1, net.in_channels, net.input_size, net.input_size)
    names = [INPUT_NAME, OUTPUT_NAME, CONFIDENCE_NAME]
    axes = {n: {0: "batch"} for n in names} if dynamic_batch else None
    buf = io.BytesIO()
    # The TorchScript-based exporter (dynamo=False) needs nothing beyond torch and gives the same
    # numbers; the torch.export-based one needs onnxscript, which facepoints does not depend on.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                both,
                (x,),
                buf,
                dynamo=False,
                opset_version=int(opset),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME, CONFIDENCE_NAME],
                dynamic_axes=axes,
                do_constant_folding=True,
            )
        except Exception as e:  # torch raises many types for unsupported ops or opsets
            raise ConfigError(f"ONNX export failed (opset {opset}): {e}") from None
    proto = onnx.load_from_string(buf.getvalue())
    del proto.metadata_props[:]
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key = key
        entry.value = value if isinstance(value, str) else json.dumps(value)
    proto.producer_name = "facepoints"
    proto.doc_string = f"facepoints landmark model {meta.get('name', '')}".strip()
    onnx.checker.check_model(proto)
    out = Path(path)
    atomic_write_bytes(out, proto.SerializeToString())
    return out


def export_torchscript(model: Any, path: str | os.PathLike) -> Path:
    """Write `model` as a traced TorchScript archive at `path`, atomically, with the same metadata
    as the ONNX export in its extra file "facepoints.json"; returns the path."""
    import torch

    net, meta = _prepare(model)
    x = torch.zeros(2, net.in_channels, net.input_size, net.input_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            traced = torch.jit.trace(net, (x,), check_trace=False)
        buf = io.BytesIO()
        torch.jit.save(traced, buf, _extra_files={_TS_EXTRA: json.dumps(meta)})
    out = Path(path)
    atomic_write_bytes(out, buf.getvalue())
    return out


def load_torchscript(path: str | os.PathLike) -> tuple[Any, dict[str, Any]]:
    """(module, metadata) of a TorchScript archive written by `export_torchscript`."""
    import torch

    extra = {_TS_EXTRA: ""}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except (RuntimeError, ValueError, OSError) as e:
        raise CheckpointError(f"{path}: not a readable TorchScript archive ({e})") from None
    raw = extra[_TS_EXTRA]
    meta = json.loads(raw) if raw else {}
    return module.eval(), meta


def export_metadata(model: Any, margin: float = 0.2, name: str = "", scheme: str = "") -> dict:
    """What an exported file carries: JSON-friendly values keyed by name."""
    import facepoints

    return {
        "format": "facepoints-landmarks",
        "facepoints_version": facepoints.__version__,
        "name": name,
        "input_size": int(model.input_size),
        "in_channels": int(model.in_channels),
        "num_points": int(model.num_points),
        "margin": float(margin),
        "scheme": scheme,
        "normalisation": NORMALISATION,
        "output": "(B, K, 2) x, y normalised to the crop: pixel = value * input_size",
        "model_config": dict(getattr(model, "config", {}) or {}),
    }


def read_onnx_metadata(source: Any) -> dict[str, Any]:
    """The metadata of an ONNX file (a path) or an onnxruntime session, JSON-decoded."""
    if isinstance(source, (str, os.PathLike)):
        import onnx

        try:
            proto = onnx.load(str(source), load_external_data=False)
        except Exception as e:  # protobuf's DecodeError and friends
            raise CheckpointError(f"{source}: not a readable ONNX file ({e})") from None
        raw = {p.key: p.value for p in proto.metadata_props}
    else:
        raw = dict(source.get_modelmeta().custom_metadata_map)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value  # plain text (ours are JSON, another tool's may not be)
    return out


def compare_onnx(
    model: Any,
    onnx_path: str | os.PathLike,
    batch: int = 4,
    seed: int = 0,
    confidence: bool = False,
) -> float:
    """Max |ONNX Runtime - PyTorch| over a batch of random crops: of the points, in normalised
    crop units, or with `confidence` of the point confidences."""
    import torch

    from .onnx_backend import OnnxRunner

    model = _resolve(model)
    net, _ = _prepare(model)
    both, _ = _with_confidence(model, net)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, net.in_channels, net.input_size, net.input_size))
    x = x.astype(np.float32)
    with torch.no_grad():
        ref_points, ref_conf = (t.numpy() for t in both(torch.from_numpy(x)))
    got_points, got_conf = OnnxRunner(onnx_path, threads=1).run_with_confidence(x)
    if confidence:
        return float(np.abs(got_conf - ref_conf).max())
    return float(np.abs(got_points - ref_points).max())


# --- helpers -------------------------------------------------------------------------------------


def _prepare(model: Any) -> tuple[Any, dict]:
    """A CPU eval copy of the network and its metadata, from whatever names a model."""
    from ..models.base import LandmarkModel
    from ..models.pretrained import LoadedModel, resolve_model

    if isinstance(model, (str, os.PathLike)):
        model = resolve_model(model)
    if isinstance(model, LoadedModel):
        net, margin, name = model.model, model.margin, model.name
        try:
            scheme = model.scheme.name
        except ConfigError:  # a point count with no registered scheme
            scheme = ""
    elif isinstance(model, LandmarkModel):
        net, margin, name = model, 0.2, str(model.config.get("name", ""))
        scheme = _scheme_name(model.num_points)
    else:
        raise ConfigError(f"cannot export {type(model).__name__}; give a model or a LoadedModel")
    net = copy.deepcopy(net).cpu().eval()
    return net, export_metadata(net, margin=margin, name=name, scheme=scheme)


def _resolve(model: Any) -> Any:
    if isinstance(model, (str, os.PathLike)):
        from ..models.pretrained import resolve_model

        return resolve_model(model)
    return model


def _with_confidence(model: Any, net: Any) -> tuple[Any, dict]:
    """The export copy `net` with its confidence (a copy of a LoadedModel's head, or the
    fallback) as one module, and what the metadata says about that confidence."""
    from ..models.confidence import ConfidentModel, confidence_kind
    from ..models.pretrained import LoadedModel

    head = model.confidence if isinstance(model, LoadedModel) else None
    head = copy.deepcopy(head).cpu().eval() if head is not None else None
    # the fitted head folded into fewer steps (the same numbers): a few microseconds a face
    fold = getattr(head, "folded", None)
    both = ConfidentModel(net, fold(getattr(net, "head", None)) if fold else head).eval()
    info = {"kind": confidence_kind(net, head)}
    if head is not None:
        info.update(
            {k: head.info[k] for k in ("threshold", "fitted_on", "validation") if k in head.info}
        )
    return both, info


def _scheme_name(num_points: int) -> str:
    from ..schemes import get_scheme

    try:
        return get_scheme(num_points).name
    except ConfigError:
        return ""
