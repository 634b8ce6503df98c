"""The benchmark: facepoints models and their peers on the same test faces and boxes, with
accuracy (NME, median NME, FR and AUC at 10%), milliseconds per face on one CPU thread and model
size, one row per source.

Peers get a fair chance, fitted on TRAINING faces only: the box scale and shift that suit each
best, and for 68-point peers, besides the plain 68 -> 5 projection, a linear map ("-linear")."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..schemes import project
from .report import format_table

__all__ = ["DEFAULT_PEERS", "LINEAR_SUFFIX", "run_bench", "format_bench", "format_attributes"]

DEFAULT_PEERS = ("dlib68", "dlib68-linear", "mtcnn-onet")
LINEAR_SUFFIX = "-linear"  # "<peer>-linear": the peer with a linear output map
_WARMUP = 5
_CHUNK = 64  # faces per batched call in the accuracy pass
_THRESHOLD = 0.1


def run_bench(
    model_paths: Sequence[str | os.PathLike],
    data_root: str | os.PathLike | None = None,
    split: str = "test",
    max_faces: int | None = None,
    threads: int = 1,
    peers: Sequence[str] = DEFAULT_PEERS,
    fit_faces: int = 300,
    timing_faces: int = 200,
    dataset: str = "cuhk5",
    fit_split: str = "train",
    progress: bool = True,
    onnx: bool = True,
) -> list[dict[str, Any]]:
    """Benchmark each model (shipped name, .safetensors file or run folder) and each peer by name
    on the faces of `split` (a fixed random `max_faces` of them when given).

    Every source sees the same decoded images and boxes (each image decoded once). Accuracy comes
    from one pass with `threads` torch threads; ms/face is the median over the first
    `timing_faces` faces, one face per call, on one thread (torch and OpenCV), sources
    interleaved face by face so background load hits all alike; decoding is not timed. A peer
    that is not installed gets a row that says so. With `onnx`, each model also gets a row run by
    ONNX Runtime (same weights, exported once to the user cache)."""
    from ..data import read_dataset
    from ..inference.quantized import int8_models
    from ..peers import PEERS, ModelSource, sample_faces

    wanted = [_split_peer_name(p) for p in peers]
    for base, _ in wanted:
        PEERS.get(base)  # unknown names fail before any work
    if not model_paths and not wanted:
        raise ConfigError("nothing to benchmark: no model given or shipped, and no peers")
    records = read_dataset(dataset, split, data_root=data_root)
    if max_faces is not None:
        if max_faces < 1:
            raise ConfigError(f"--max-faces must be at least 1, got {max_faces}")
        records = sample_faces(records, max_faces, seed=0)

    rows: list[dict[str, Any]] = []
    sources = []
    for spec in model_paths:
        src = ModelSource.from_path(spec)
        rows.append(_row(src.name, "facepoints", notes=f"PyTorch; margin {src.margin:g}"))
        sources.append(src)
        if onnx:
            from ..peers.base import OnnxModelSource

            rows.append(_row(f"{src.name} (onnxruntime)", "facepoints", notes="ONNX Runtime"))
            sources.append(OnnxModelSource(spec, threads=1))
            if str(spec) in int8_models():  # a shipped model's int8 file, measured beside it
                q = OnnxModelSource(spec, threads=1, precision="int8")
                rows.append(_row(q.name, "facepoints", notes="ONNX Runtime, int8"))
                sources.append(q)

    fitted = _fit_peers(wanted, dataset, fit_split, data_root, fit_faces, threads, progress)
    for base, linear in wanted:
        name = base + LINEAR_SUFFIX if linear else base
        got = fitted.get(base)
        if got is None:
            hint = PEERS.get(base).install_hint
            rows.append(
                _row(name, "peer", status="not installed", notes=f"not installed: `{hint}`")
            )
            sources.append(None)
            continue
        src = got["linear"] if linear else got["plain"]
        rows.append(
            _row(
                name,
                "peer",
                notes=f"{src.mapping}; {src.adapter} (fit on {got['faces']} {fit_split} faces)",
                box=src.adapter.as_dict(),
                mapping=src.mapping,
                fit=got["info"],
            )
        )
        sources.append(src)

    live = [(row, src) for row, src in zip(rows, sources, strict=True) if src is not None]
    preds, timing_images = _predict_all(
        records, [s for _, s in live], threads, timing_faces, progress
    )
    times = _time_all(records, timing_images, [s for _, s in live])

    from .metrics import summarize, summarize_subsets

    for (row, src), pred, ms in zip(live, preds, times, strict=True):
        pred = project(pred, src.scheme, records.scheme)
        s = summarize(pred, records.points, records.scheme, thresholds=(_THRESHOLD,))
        row.update({k: v for k, v in s.items() if k != "per_face" and not _is_array(v)})
        if records.attributes:  # WFLW: NME and FR of each attribute's faces
            subsets = summarize_subsets(
                pred, records.points, records.scheme, records.attributes, thresholds=(_THRESHOLD,)
            )
            row["attributes"] = {
                name: {k: sub[k] for k in ("n", "nme", f"fr@{_THRESHOLD:.2f}")}
                for name, sub in subsets.items()
                if name != "all"
            }
        row["ms_per_face"] = ms
        row["timed_faces"] = len(timing_images)
        row["size_mb"] = float(src.size_mb)
    for row in rows:
        row["dataset"], row["split"] = dataset, split
    return rows


def format_bench(rows: Sequence[dict[str, Any]]) -> str:
    """The benchmark as a Markdown table: NME, median NME and FR as percent, AUC as a fraction."""
    t = f"{_THRESHOLD * 100:g}%"
    key = f"{_THRESHOLD:.2f}"
    columns = [
        ("source", "Source", None),
        ("nme", "NME", ".2%"),
        ("nme_median", "Median NME", ".2%"),
        (f"fr@{key}", f"FR@{t}", ".2%"),
        (f"auc@{key}", f"AUC@{t}", ".4f"),
        ("ms_per_face", "ms/face (1 thread)", ".2f"),
        ("size_mb", "Size MB", ".2f"),
        ("notes", "Notes", None),
    ]
    return format_table(rows, columns, style="markdown")


def format_attributes(rows: Sequence[dict[str, Any]]) -> str:
    """NME (and FR) of each source on each attribute's faces, as a Markdown table; empty when
    the faces carry no attributes."""
    live = [r for r in rows if r.get("attributes")]
    if not live:
        return ""
    names = list(live[0]["attributes"])
    fr = f"fr@{_THRESHOLD:.2f}"
    head = ["Source", "All"] + [f"{n} ({live[0]['attributes'][n]['n']})" for n in names]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in live:
        cells = [r["source"], f"{r['nme']:.2%} / {r[fr]:.1%}"]
        cells += [f"{r['attributes'][n]['nme']:.2%} / {r['attributes'][n][fr]:.1%}" for n in names]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\nEach cell: NME / FR@10%.\n"


# --- helpers -------------------------------------------------------------------------------------


def _row(name: str, kind: str, status: str = "ok", **extra: Any) -> dict[str, Any]:
    return {"source": name, "kind": kind, "status": status, **extra}


def _split_peer_name(name: str) -> tuple[str, bool]:
    name = name.strip()
    if name.endswith(LINEAR_SUFFIX):
        return name[: -len(LINEAR_SUFFIX)], True
    return name, False


def _fit_peers(wanted, dataset, fit_split, data_root, fit_faces, threads, progress) -> dict:
    """Each installed peer, once per base name: its box adapter (and linear map when asked),
    fitted on the same `fit_faces` training faces, decoded once."""
    from ..data import read_dataset
    from ..peers import (
        PEERS,
        AdaptedSource,
        fit_box_adapter,
        fit_linear_map,
        load_images,
        sample_faces,
    )

    bases = list(dict.fromkeys(b for b, _ in wanted if PEERS.get(b).available()))
    if not bases:
        return {}
    train = sample_faces(read_dataset(dataset, fit_split, data_root=data_root), fit_faces, seed=0)
    images = load_images(train)
    out = {}
    with _threads(threads):
        for base in bases:
            if progress:
                _say(f"fitting {base}'s box on {len(train)} {fit_split} faces")
            peer = PEERS.get(base)()
            adapter, info = fit_box_adapter(peer, train, images=images)
            got = {
                "plain": AdaptedSource(peer, adapter, scheme=train.scheme, name=base),
                "info": info,
                "faces": len(train),
            }
            if any(b == base and lin for b, lin in wanted):
                lmap = fit_linear_map(peer, train, adapter, images=images)
                got["linear"] = AdaptedSource(
                    peer, adapter, lmap, scheme=train.scheme, name=base + LINEAR_SUFFIX
                )
            out[base] = got
    return out


def _predict_all(records, sources, threads, timing_faces, progress):
    """Predictions of every source on every face, in chunks of faces whose images are decoded
    once for all sources; and the decoded images of the first `timing_faces` faces, for timing."""
    from tqdm import tqdm

    from ..io import load_image

    n = len(records)
    preds = [np.zeros((n, s.scheme.num_points, 2), np.float32) for s in sources]
    by_image: dict[Path, list[int]] = {}
    for i, p in enumerate(records.images):
        by_image.setdefault(p, []).append(i)
    chunks: list[list[tuple[Path, list[int]]]] = [[]]
    for item in by_image.items():
        if sum(len(ix) for _, ix in chunks[-1]) >= _CHUNK:
            chunks.append([])
        chunks[-1].append(item)
    timing_images: dict[int, np.ndarray] = {}
    with _threads(threads), tqdm(total=n, desc="bench", disable=not progress, leave=False) as bar:
        for chunk in chunks:
            idx, images = [], []
            for path, ix in chunk:
                image = load_image(path)
                idx += ix
                images += [image] * len(ix)
            for s, out in zip(sources, preds, strict=True):
                out[idx] = s.predict_faces(images, records.boxes[idx])
            timing_images.update(
                (i, im) for i, im in zip(idx, images, strict=True) if i < timing_faces
            )
            bar.update(len(idx))
    ordered = [timing_images[i] for i in sorted(timing_images)]
    return preds, ordered


def _time_all(records, images, sources) -> list[float]:
    """Median milliseconds per face of each source, one face per call, on one thread."""
    if not sources:
        return []
    laps: list[list[float]] = [[] for _ in sources]
    boxes = records.boxes
    with _threads(1):
        for i in range(min(_WARMUP, len(images))):
            for s in sources:
                s.predict(images[i], boxes[i : i + 1])
        for i, image in enumerate(images):
            for s, lap in zip(sources, laps, strict=True):
                t0 = time.perf_counter()
                s.predict(image, boxes[i : i + 1])
                lap.append((time.perf_counter() - t0) * 1e3)
    return [statistics.median(lap) if lap else float("nan") for lap in laps]


@contextmanager
def _threads(n: int):
    """torch and OpenCV limited to `n` threads inside the block, restored after."""
    import cv2
    import torch

    if n < 1:
        raise ConfigError(f"threads must be at least 1, got {n}")
    old_torch, old_cv = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(n)
    cv2.setNumThreads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old_torch)
        cv2.setNumThreads(old_cv)


def _is_array(v: Any) -> bool:
    return isinstance(v, (np.ndarray, list, tuple, dict))


def _say(msg: str) -> None:
    import sys

    print(msg, file=sys.stderr, flush=True)
