"""Model weights as safetensors: tensors plus the model's config (and any extra metadata) as JSON
in the file's metadata, so a file alone rebuilds its model. No pickle is ever loaded.

A model's confidence head (`facepoints.models.confidence`), when it has one, lives in the same
file: its tensors under "confidence.", its config and calibration record in the metadata key
"confidence"; `load_model` leaves them out, `load_confidence` reads them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as _to_bytes

from ..errors import CheckpointError, ConfigError, FacepointsError
from ..io import atomic_write_bytes
from .base import LandmarkModel
from .registry import create_model

__all__ = ["save_model", "load_model", "load_confidence", "read_metadata"]

_RESERVED = ("format", "config")
_CONFIDENCE = "confidence"  # metadata key, and tensor prefix + "."


def save_model(
    model: LandmarkModel,
    path: str | os.PathLike,
    metadata: dict[str, Any] | None = None,
    confidence: torch.nn.Module | None = None,
) -> None:
    """Write `model`'s weights and config to `path` atomically; `metadata` values become JSON.
    `confidence`: a fitted `ConfidenceHead` saved beside the model (the "confidence" metadata
    entry is written from it alone: one given in `metadata` is dropped)."""
    if not getattr(model, "config", None):
        raise ConfigError("the model has no config; build it with create_model() to save it")
    meta = {"format": "pt", "config": json.dumps(model.config)}
    for key, value in (metadata or {}).items():
        if key == _CONFIDENCE:
            continue  # stale without its tensors; written from `confidence` below
        if key in _RESERVED:
            raise ConfigError(f"metadata key {key!r} is reserved")
        try:
            meta[str(key)] = json.dumps(value)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"metadata {key!r} is not a JSON value ({e})") from None
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    if confidence is not None and hasattr(confidence, "describe"):
        meta[_CONFIDENCE] = json.dumps(confidence.describe())
        for k, v in confidence.state_dict().items():
            tensors[f"{_CONFIDENCE}.{k}"] = v.detach().to("cpu").contiguous()
    atomic_write_bytes(path, _to_bytes(tensors, metadata=meta))


def load_model(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> LandmarkModel:
    """Rebuild the model saved at `path`, load its weights (strictly) and put it in eval mode."""
    p = Path(path)
    meta, tensors = _read(p, with_tensors=True)
    if "config" not in meta:
        raise CheckpointError(f"{p}: no model config in its metadata; not a facepoints model")
    try:
        config = json.loads(meta["config"])
        model = create_model(**config)
    except (ValueError, TypeError, FacepointsError) as e:
        raise CheckpointError(f"{p}: cannot build its model ({e})") from None
    tensors = {k: v for k, v in tensors.items() if not k.startswith(_CONFIDENCE + ".")}
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        detail = " ".join(str(e).split())[:400]
        raise CheckpointError(
            f"{p}: weights do not fit model {config['name']!r}: {detail}"
        ) from None
    return model.to(map_location).eval()


def load_confidence(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> torch.nn.Module | None:
    """The confidence head saved in the weights file at `path` (eval mode), or None when the
    file has none."""
    from .confidence import ConfidenceHead

    p = Path(path)
    meta, _ = _read(p, with_tensors=False)
    if _CONFIDENCE not in meta:
        return None
    meta, tensors = _read(p, with_tensors=True)
    prefix = _CONFIDENCE + "."
    try:
        record = json.loads(meta[_CONFIDENCE])
        head = ConfidenceHead(**record["config"])
        head.load_state_dict(
            {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}, strict=True
        )
    except (ValueError, TypeError, KeyError, RuntimeError, FacepointsError) as e:
        detail = " ".join(str(e).split())[:300]
        raise CheckpointError(f"{p}: its confidence head cannot be loaded ({detail})") from None
    head.info = {k: v for k, v in record.items() if k not in ("kind", "config")}
    return head.to(map_location).eval()


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The config and extra metadata of a weights file, JSON-decoded, without loading tensors."""
    meta, _ = _read(Path(path), with_tensors=False)
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if key == "format":
            continue
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value  # written by another tool: keep the text
    return out


def _read(p: Path, with_tensors: bool) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    if not p.is_file():
        raise CheckpointError(f"{p}: no such weights file")
    try:
        with safe_open(str(p), framework="pt", device="cpu") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()} if with_tensors else {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{p}: not a readable safetensors file ({e})") from None
    return meta, tensors
