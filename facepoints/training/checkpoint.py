"""Training checkpoints: written atomically with `torch.save`, read back with
`torch.load(weights_only=True)`, so loading one runs no code: only tensors, numbers, strings,
lists and dicts come back, and a file holding anything else is refused.

A checkpoint of `train` holds: model (state_dict), model_config, optimizer, scheduler, epoch
(epochs done), step (batches done within that epoch), global_step, best (metric and epoch),
epoch_stats (running sums of the unfinished epoch), elapsed_s, rng (see `rng_state`) and config
(the TrainConfig dict)."""

from __future__ import annotations

import pickle
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointError
from ..io import atomic_write

__all__ = ["save_checkpoint", "load_checkpoint", "rng_state", "set_rng_state"]


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write `state` to `path` atomically: readers see the old file or the new one, never half.
    A write that fails (disk full, no permission) raises CheckpointError; the old file stays."""
    try:
        with atomic_write(path, "wb") as f:
            torch.save(state, f)
    except OSError as e:
        raise CheckpointError(
            f"{path}: cannot write the checkpoint ({e.strerror or e}); the previous one is intact"
        ) from None


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The state dict saved at `path`, tensors on the CPU. Raises CheckpointError for a missing
    or damaged file and for one that would need to run code (a pickled object) to load."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: no such checkpoint")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"{p}: refused: the checkpoint holds more than tensors and plain values, and loading "
            "it could run code; facepoints loads weights only (re-save it as a state dict or "
            ".safetensors from code you trust)"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as e:
        detail = " ".join(str(e).split())[:300]  # one line, whatever torch says
        raise CheckpointError(
            f"{p}: not a readable checkpoint ({type(e).__name__}: {detail})"
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{p}: a checkpoint must hold a dict, found {type(state).__name__}")
    return state


def rng_state() -> dict[str, Any]:
    """The random states of torch (CPU and CUDA), NumPy's global generator and Python's `random`,
    as tensors and lists, so a weights-only load can read them back."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": {"version": int(version), "state": list(internal), "gauss": gauss_next},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the random states `rng_state` returned."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(
        (
            n["kind"],
            n["keys"].numpy().astype(np.uint32),
            int(n["pos"]),
            int(n["has_gauss"]),
            float(n["gauss"]),
        )
    )
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        cuda = list(state["cuda"])[: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(cuda)
