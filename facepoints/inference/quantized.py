"""Shipped models in int8: `facepoints/weights/NAME.int8.onnx`, the model's ONNX export quantized
statically (weights int8 per output channel, activations uint8) by `scripts/quantize_model.py`
on its training faces. On CPUs with 8-bit dot products (x86 VNNI or AMX, Arm dot product) it runs
several times faster than the float export; how close its points stay is measured in the model's
card. `FaceLandmarker(NAME, precision="int8")` runs it.

Each file records the SHA-1 of the weights it was made from; a file made from other weights (the
model shipped again since) is not used."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from ..errors import ConfigError

__all__ = ["PRECISIONS", "SOURCE_KEY", "int8_file", "int8_models", "weights_sha1"]

PRECISIONS = ("float32", "int8")
SOURCE_KEY = "source_weights_sha1"  # the ONNX metadata entry naming the weights it came from


def _weights_dir() -> Path:
    from ..models.pretrained import WEIGHTS_DIR

    return Path(WEIGHTS_DIR)


def weights_sha1(name: str) -> str:
    """The SHA-1 of shipped model `name`'s weights file."""
    path = _weights_dir() / f"{name}.safetensors"
    if not path.is_file():
        raise ConfigError(f"{name!r} is not a shipped model")
    st = path.stat()
    return _sha1(str(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _sha1(path: str, size: int, mtime_ns: int) -> str:  # the file's identity as the cache key
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def int8_models() -> list[str]:
    """The shipped models that have an int8 file made from their current weights."""
    return sorted(
        p.name[: -len(".int8.onnx")]
        for p in _weights_dir().glob("*.int8.onnx")
        if _current(p, p.name[: -len(".int8.onnx")])
    )


def int8_file(name: str) -> Path:
    """Shipped model `name`'s int8 ONNX file; ConfigError where there is none, or where it was
    made from other weights than the shipped ones."""
    path = _weights_dir() / f"{name}.int8.onnx"
    if not path.is_file():
        have = ", ".join(int8_models()) or "none"
        raise ConfigError(
            f"model {name!r} has no int8 file (shipped in int8: {have}); use precision='float32'"
        )
    if not _current(path, name):
        raise ConfigError(
            f"{path} was made from other weights than the shipped {name}; remake it with "
            f"`python scripts/quantize_model.py {name} ...` or use precision='float32'"
        )
    return path


def _current(path: Path, name: str) -> bool:
    try:
        st = path.stat()
        return _source_of(str(path), st.st_size, st.st_mtime_ns) == weights_sha1(name)
    except Exception:  # a damaged file or a name without weights: not usable
        return False


@functools.lru_cache(maxsize=32)
def _source_of(path: str, size: int, mtime_ns: int) -> str | None:  # read once per file version
    import onnx

    meta = {p.key: p.value for p in onnx.load(path, load_external_data=False).metadata_props}
    return meta.get(SOURCE_KEY)
