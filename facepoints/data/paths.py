"""Where datasets live: --data-root, else $FACEPOINTS_DATA/<name>, else a per-user cache folder."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["user_cache_dir", "default_data_root", "resolve_data_root"]


def user_cache_dir() -> Path:
    """facepoints' per-user cache folder ($FACEPOINTS_CACHE, else $XDG_CACHE_HOME/facepoints,
    else ~/.cache/facepoints). Decoded crop caches and downloads go here, never into ../shared."""
    if os.environ.get("FACEPOINTS_CACHE"):
        return Path(os.environ["FACEPOINTS_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "facepoints"


def default_data_root(name: str) -> Path:
    """Where dataset `name` lives when no --data-root is given."""
    if os.environ.get("FACEPOINTS_DATA"):
        return Path(os.environ["FACEPOINTS_DATA"]).expanduser() / name
    return user_cache_dir() / "data" / name


def resolve_data_root(name: str, data_root: str | os.PathLike | None = None) -> Path:
    """The folder of dataset `name`: `data_root` itself, or `data_root/name` when that holds it."""
    if data_root is None:
        return default_data_root(name)
    root = Path(data_root).expanduser()
    if (root / name).is_dir() and not any(root.glob("*ImageList.txt")):
        return root / name
    return root
