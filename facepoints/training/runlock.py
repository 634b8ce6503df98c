"""Guards of a run folder, checked before training starts: one writer at a time (a lock the
operating system drops when its process ends, even by kill -9), and a resume that continues the
same run (the settings saved in the folder's config.json, unless told to override them)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import BusyError, ConfigError

__all__ = ["LOCK_NAME", "run_lock", "changed_settings", "check_resume"]

LOCK_NAME = ".lock"


@contextmanager
def run_lock(run_dir: str | os.PathLike) -> Iterator[Path]:
    """Hold the run folder's lock for the block; BusyError (exit 7) when another process holds
    it. Under torchrun only rank 0 takes it (the other ranks write nothing there)."""
    from filelock import FileLock, Timeout

    out = Path(run_dir)
    if int(os.environ.get("RANK", "0") or 0) != 0:
        yield out
        return
    lock = FileLock(out / LOCK_NAME, timeout=0)
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except Timeout:
        raise BusyError(
            f"{out} is being written by another training; wait for it to end or choose another "
            "--out"
        ) from None
    except OSError as e:
        raise ConfigError(f"{out}: cannot write the run folder ({e.strerror or e})") from None
    try:
        yield out
    finally:
        lock.release()


def changed_settings(
    saved: dict[str, Any], wanted: dict[str, Any], ignore: tuple[str, ...] = ()
) -> dict[str, tuple[Any, Any]]:
    """name -> (saved value, wanted value) for every setting that differs, skipping `ignore`."""
    names = (set(saved) | set(wanted)) - set(ignore)
    return {
        n: (saved.get(n), wanted.get(n)) for n in sorted(names) if saved.get(n) != wanted.get(n)
    }


def check_resume(
    run_dir: str | os.PathLike, wanted: dict[str, Any], runtime: tuple[str, ...], override: bool
) -> dict[str, tuple[Any, Any]]:
    """Compare the settings a resume asks for with those saved in RUN/config.json. Raises
    ConfigError listing the changes (the run would silently keep its saved ones) unless
    `override`; returns the changes. `runtime`: fields a resume may change (threads, device...)."""
    path = Path(run_dir) / "config.json"
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}  # nothing saved: the training itself says there is nothing to resume
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot read the saved config ({e})") from None
    changes = changed_settings(saved, wanted, ignore=(*runtime, "out"))
    if changes and not override:
        shown = ", ".join(f"{n} {old!r} -> {new!r}" for n, (old, new) in changes.items())
        raise ConfigError(
            f"--resume continues {run_dir} with its saved settings, but these differ: {shown}; "
            "drop them, start a new run with another --out, or pass --override-settings"
        )
    return changes
