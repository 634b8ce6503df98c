"""Metric tables (plain text or Markdown) and JSON reports that survive NumPy values and crashes."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..io import atomic_write_bytes

__all__ = ["format_table", "metrics_rows", "metrics_columns", "metrics_table", "write_json"]

# a column: (row key, header, format) where format is a spec for format() (".2%" -> "3.12%"),
# a callable value -> str, or None for str()
Format = str | Callable[[Any], str] | None
Column = tuple[str, str, Format]
MISSING = "-"


def format_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], style: str = "plain"
) -> str:
    """Rows of values as an aligned text table. style "plain": header, a rule, one line per row;
    "markdown": a GitHub table. Numbers align right, text left; missing or NaN values show "-"."""
    if style not in ("plain", "markdown"):
        raise ConfigError(f"unknown table style {style!r}; known: plain, markdown")
    headers = [h for _, h, _ in columns]
    cells = [[_cell(row.get(key), fmt) for key, _, fmt in columns] for row in rows]
    right = [
        all(_is_number(row.get(key)) for row in rows if row.get(key) is not None) and len(rows) > 0
        for key, _, _ in columns
    ]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True)
        ]
        if style == "markdown":
            return "| " + " | ".join(parts) + " |"
        return "  ".join(parts).rstrip()

    if style == "markdown":
        rule = (
            "|"
            + "|".join(
                ("-" * (w + 1) + ":") if r else ("-" * (w + 2))
                for w, r in zip(widths, right, strict=True)
            )
            + "|"
        )
    else:
        rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule] + [line(r) for r in cells])


def metrics_rows(summaries: Mapping[str, Mapping[str, Any]]) -> list[dict]:
    """One row per summary (from metrics.summarize_subsets, or {label: summarize(...)}): subset,
    n, nme, nme_median and every fr@t / auc@t key; arrays such as per_face are left out."""
    rows = []
    for name, s in summaries.items():
        row: dict[str, Any] = {"subset": name}
        for k, v in s.items():
            if k in ("n", "nme", "nme_median") or k.startswith(("fr@", "auc@")):
                row[k] = v
        rows.append(row)
    return rows


def metrics_columns(rows: Sequence[Mapping[str, Any]], label: str = "Subset") -> list[Column]:
    """Columns for `metrics_rows` output: NME and FR as percent, AUC as a fraction (PIPNet's
    tables), one FR and AUC column per threshold present."""
    cols: list[Column] = [("subset", label, None), ("n", "N", "d"), ("nme", "NME", ".2%")]
    keys = list(dict.fromkeys(k for r in rows for k in r))
    for k in keys:
        if k.startswith("fr@"):
            cols.append((k, f"FR@{_pct(k)}", ".2%"))
    for k in keys:
        if k.startswith("auc@"):
            cols.append((k, f"AUC@{_pct(k)}", ".4f"))
    return cols


def metrics_table(
    summaries: Mapping[str, Mapping[str, Any]], style: str = "plain", label: str = "Subset"
) -> str:
    """The usual evaluation table of several summaries in one call."""
    rows = metrics_rows(summaries)
    return format_table(rows, metrics_columns(rows, label), style)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as indented JSON atomically. NumPy scalars and arrays become numbers and
    lists, paths become strings, and NaN or infinity become null (JSON has no NaN)."""
    text = json.dumps(_jsonable(obj), indent=2, ensure_ascii=False, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode("utf-8"))


# --- helpers -------------------------------------------------------------------------------------


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _cell(v: Any, fmt: Format) -> str:
    if v is None or (_is_number(v) and not math.isfinite(float(v))):
        return MISSING
    if callable(fmt):
        return fmt(v)
    if fmt:
        return format(int(v) if fmt.endswith("d") else v, fmt)
    return f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v)


def _pct(key: str) -> str:
    """ "fr@0.10" -> "10%"."""
    t = float(key.split("@", 1)[1])
    return f"{t * 100:g}%"


def _jsonable(o: Any) -> Any:
    if isinstance(o, Mapping):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, np.ndarray):
        return _jsonable(o.tolist())
    if isinstance(o, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in o]
    if isinstance(o, (bool, np.bool_)):
        return bool(o)
    if isinstance(o, (int, np.integer)):
        return int(o)
    if isinstance(o, (float, np.floating)):
        f = float(o)
        return f if math.isfinite(f) else None
    if isinstance(o, Path):
        return str(o)
    if o is None or isinstance(o, str):
        return o
    raise TypeError(f"cannot write {type(o).__name__} as JSON")
