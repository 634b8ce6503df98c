"""A run folder's log (log.csv): one row per epoch appended, read back, trimmed to the epochs a
resumed run keeps, and plotted (curves.png)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..io import atomic_write

__all__ = [
    "LOG_COLUMNS",
    "append_log",
    "cell",
    "epoch_line",
    "last_log_row",
    "plot_curves",
    "read_rows",
    "trim_log",
]

LOG_COLUMNS = (
    "epoch",
    "step",
    "train_loss",
    "train_nme",
    "val_nme",
    "val_fr",
    "lr",
    "elapsed_s",
)


def epoch_line(row: dict[str, Any], epochs: int, improved: bool) -> str:
    val = (
        "" if row["val_nme"] is None else f", val NME {row['val_nme']:.2%}, FR {row['val_fr']:.2%}"
    )
    return (
        f"epoch {row['epoch']}/{epochs}: loss {row['train_loss']:.4g}, train NME "
        f"{row['train_nme']:.2%}{val}, lr {row['lr']:.3g}, {row['elapsed_s']:.0f} s"
        + (" (best)" if improved else "")
    )


def append_log(path: Path, row: dict[str, Any]) -> None:
    new = not path.is_file() or path.stat().st_size == 0
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(LOG_COLUMNS)
        w.writerow([cell(row[c]) for c in LOG_COLUMNS])


def read_rows(path: Path) -> list[dict[str, str]]:
    """A CSV file's rows as dicts of strings (none where the file is missing)."""
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def last_log_row(path: Path) -> dict[str, Any]:
    """The log's last row, numbers as floats (empty cells None); {} before the first epoch."""
    rows = read_rows(path)
    return {k: float(v) if v else None for k, v in rows[-1].items()} if rows else {}


def cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.8g}"
    return str(v)


def trim_log(path: Path, epochs_done: int) -> None:
    """Keep the log rows of the first `epochs_done` epochs: a resumed run continues the log, and a
    row written after the checkpoint it resumes from is dropped rather than repeated."""
    if not path.is_file():
        return
    keep = [
        r
        for r in read_rows(path)
        if r.get("epoch", "").isdigit() and int(r["epoch"]) <= epochs_done
    ]
    with atomic_write(path, "w") as f:
        w = csv.DictWriter(f, fieldnames=LOG_COLUMNS, extrasaction="ignore", lineterminator="\r\n")
        w.writeheader()
        w.writerows(keep)


def plot_curves(log_path: Path, path: Path, say: Callable[[str], None]) -> None:
    try:
        from ..evaluation.plots import plot_training_curves

        plot_training_curves(log_path, path)
    except Exception as e:  # a plot is a convenience; it never stops a run
        say(f"(training curves not plotted: {type(e).__name__}: {e})")
