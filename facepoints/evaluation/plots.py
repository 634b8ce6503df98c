"""PNG plots of evaluations and training runs: CED curves, training curves, NME against training
time, and per-landmark error.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot, no global backend switch, safe
in threads and servers) and written atomically.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ..io import atomic_write_bytes
from ..schemes import Scheme, get_scheme
from .metrics import auc, ced_curve, failure_rate

__all__ = [
    "plot_ced",
    "plot_training_curves",
    "plot_time_to_nme",
    "plot_per_point",
    "read_training_log",
]

PathLike = str | os.PathLike


def plot_ced(
    curves: Mapping[str, np.ndarray],
    path: PathLike,
    max_threshold: float = 0.1,
    title: str = "Cumulative error distribution",
    xlabel: str = "NME (inter-ocular)",
) -> None:
    """CED curves of several models or checkpoints {label: per-face NME (N,)} on one plot; the
    legend gives each one's mean NME, FR and AUC at `max_threshold`."""
    fig, ax = _figure()
    t_pct = f"{max_threshold * 100:g}%"
    for label, nme in curves.items():
        e = np.asarray(nme, dtype=np.float64).ravel()
        t, f = ced_curve(e, max_threshold)
        mean = float(np.mean(e)) if e.size else float("nan")
        legend = (
            f"{label} (NME {mean:.2%}, FR@{t_pct} {failure_rate(e, max_threshold):.2%}, "
            f"AUC@{t_pct} {auc(e, max_threshold):.4f})"
        )
        ax.plot(t * 100, f, label=legend, linewidth=1.8)
    ax.set_xlim(0, max_threshold * 100)
    ax.set_ylim(0, 1.0)
    ax.set_xlabel(f"{xlabel}, %")
    ax.set_ylabel("fraction of faces")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if curves:
        ax.legend(loc="lower right", fontsize=8)
    _save(fig, path)


def plot_training_curves(csv_path: PathLike, path: PathLike, title: str | None = None) -> None:
    """Training loss and validation NME by epoch from a training log CSV (columns `epoch`,
    `train_loss`, `val_nme`, optionally `lr`); whatever of these the log lacks is left out.
    Raises DataError when it has neither a loss nor an NME column."""
    log = read_training_log(csv_path)
    x = log.get("epoch", np.arange(1, _length(log) + 1, dtype=np.float64))
    panels = [k for k in ("train_loss", "val_nme") if _has_data(log, k)]
    if not panels:
        raise DataError(csv_path, "training log has no train_loss or val_nme values to plot")
    fig, axes = _figure(ncols=len(panels), width=5.0 * len(panels))
    for ax, key in zip(np.atleast_1d(axes), panels, strict=True):
        y = log[key]
        ok = np.isfinite(x) & np.isfinite(y)
        if key == "train_loss":
            ax.plot(x[ok], y[ok], color="tab:blue", marker="." if ok.sum() < 60 else None)
            ax.set_ylabel("train loss")
            if np.all(y[ok] > 0):
                ax.set_yscale("log")
            if _has_data(log, "lr"):
                ax2 = ax.twinx()
                lr = log["lr"]
                okl = np.isfinite(x) & np.isfinite(lr)
                ax2.plot(x[okl], lr[okl], color="tab:gray", linestyle="--", linewidth=1)
                ax2.set_ylabel("learning rate", color="tab:gray")
        else:
            ax.plot(x[ok], y[ok] * 100, color="tab:green", marker=".")
            best = int(np.argmin(np.where(ok, y, np.inf)))
            ax.plot(x[best], y[best] * 100, "o", color="tab:red", fillstyle="none")
            ax.set_title(f"best {y[best]:.2%} at epoch {x[best]:g}", fontsize=9)
            ax.set_ylabel("validation NME, %")
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
    fig.suptitle(title or Path(csv_path).parent.name or "training")
    _save(fig, path)


def plot_time_to_nme(
    csv_path_or_dict: PathLike | Mapping[str, PathLike | Mapping[str, Any]],
    path: PathLike,
    reference: Mapping[str, float] | None = None,
    title: str = "Validation NME against training time",
) -> None:
    """Validation NME against elapsed training minutes for one run (a log CSV path) or several
    ({label: CSV path or {"elapsed_s": ..., "val_nme": ...}}), with dashed horizontal lines at
    `reference` NMEs ({label: nme}, e.g. peers' published or measured numbers)."""
    if isinstance(csv_path_or_dict, Mapping):
        runs = dict(csv_path_or_dict)
    else:
        runs = {Path(csv_path_or_dict).parent.name or "run": csv_path_or_dict}
    fig, ax = _figure()
    for label, src in runs.items():
        log = (
            {k: np.asarray(v, dtype=np.float64) for k, v in src.items()}
            if isinstance(src, Mapping)
            else read_training_log(src)
        )
        where = src if not isinstance(src, Mapping) else label
        for key in ("elapsed_s", "val_nme"):
            if not _has_data(log, key):
                raise DataError(where, f"training log has no {key} values")
        x, y = log["elapsed_s"] / 60.0, log["val_nme"]
        ok = np.isfinite(x) & np.isfinite(y)
        ax.plot(x[ok], y[ok] * 100, marker=".", label=f"{label} (best {np.min(y[ok]):.2%})")
    for i, (label, nme) in enumerate((reference or {}).items()):
        color = f"C{(len(runs) + i) % 10}"
        ax.axhline(nme * 100, linestyle="--", linewidth=1, color=color, label=f"{label}: {nme:.2%}")
    ax.set_xlabel("training time, minutes")
    ax.set_ylabel("validation NME, %")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_per_point(summary: Mapping[str, Any], scheme: Scheme | str | int, path: PathLike) -> None:
    """Bar chart of each landmark's mean NME (summary["per_point"]), coloured by group."""
    from ..draw import group_colors

    s = get_scheme(scheme)
    v = np.asarray(summary["per_point"], dtype=np.float64) * 100
    if v.shape != (s.num_points,):
        raise DataError(
            "<summary>", f"per_point has shape {v.shape}, scheme {s.name} has {s.num_points} points"
        )
    colors = group_colors(s) / 255.0
    groups = s.group_of()
    fig, ax = _figure(width=max(6.0, min(18.0, 0.16 * s.num_points + 3)))
    seen: set[str] = set()
    for i in range(s.num_points):
        label = groups[i] if groups[i] not in seen else None
        seen.add(groups[i])
        ax.bar(i, v[i], color=colors[i], label=label, width=0.8)
    if s.num_points <= 20:
        ax.set_xticks(range(s.num_points), s.names, rotation=45, ha="right", fontsize=8)
    else:
        ax.set_xticks(range(0, s.num_points, 5))
        ax.set_xlabel("landmark index")
    nme = summary.get("nme")
    if nme is not None and math.isfinite(nme):
        ax.axhline(nme * 100, color="black", linestyle="--", linewidth=1, label=f"mean {nme:.2%}")
    ax.set_ylabel("NME, %")
    ax.set_xlim(-0.7, s.num_points - 0.3)
    top = np.nanmax(v) if np.isfinite(v).any() else 1.0
    ax.set_ylim(0, top * 1.25 if top > 0 else 1.0)  # headroom for the legend
    ax.set_title(f"Per-landmark NME ({s.name}, n={summary.get('n', '?')})")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncols=min(4, len(seen) + 1))
    _save(fig, path)


def read_training_log(csv_path: PathLike) -> dict[str, np.ndarray]:
    """A training log CSV as {column: float array}; empty or non-numeric cells become NaN."""
    p = Path(csv_path)
    try:
        with p.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            fields = reader.fieldnames or []
    except FileNotFoundError:
        raise DataError(p, "no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(p, f"cannot read training log: {e}") from None
    if not fields:
        raise DataError(p, "training log is empty")
    return {k.strip(): np.array([_float(r.get(k)) for r in rows]) for k in fields if k}


# --- helpers -------------------------------------------------------------------------------------


def _figure(ncols: int = 1, width: float = 7.0, height: float = 4.5):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols)
    return fig, axes


def _save(fig, path: PathLike) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())


def _float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _length(log: Mapping[str, np.ndarray]) -> int:
    return max((len(v) for v in log.values()), default=0)


def _has_data(log: Mapping[str, np.ndarray], key: str) -> bool:
    return key in log and bool(np.isfinite(log[key]).any())
