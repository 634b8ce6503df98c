"""`facepoints eval-confidence`: each model's point confidence against plain baselines on the CUHK
test faces and the WFLW sample (per attribute), as tables (markdown, CSV, JSON) and plots.

Baselines, each Platt-calibrated on the model's own validation faces (so their ECE compares):
- "constant": every point gets the share of good validation points (AUROC 0.5, flat curve);
- "mean-shape distance": the farther a point lies from where the mean training face puts it in
  the crop, the less it is trusted;
- "heatmap peak" (heatmap heads): the raw score of the chosen cell, which costs nothing.
The models' NME is reported with and without the confidence in the same run.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FacepointsError
from .confidence import (
    COVERAGES,
    confidence_summary,
    fit_platt,
    platt,
    point_errors_in,
    predict_with_confidence,
)

__all__ = ["evaluate_confidence", "METHODS"]

METHODS = ("confidence", "heatmap peak", "mean-shape distance", "constant")
_SHOWN = (0.1, 0.5, 0.8, 1.0)  # coverages in the markdown tables


def evaluate_confidence(
    models: list,
    data_root=None,
    wflw_root=None,
    train_root=None,
    out_dir="runs/confidence",
    threshold: float = 0.10,
    max_faces: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate each model's confidence (and the baselines) on the CUHK test faces (their given
    boxes) and, with `wflw_root`, on WFLW's test list (CUHK-convention crops from the annotated
    geometry, as `facepoints eval --boxes points`; eye-centre norm through the 98 -> 5
    projection). Writes confidence.md/.json/.csv, risk_coverage.png and reliability.png into
    `out_dir`; returns {"results", "text", "out_dir"}."""
    from ..calibration import training_split
    from ..data import read_dataset
    from ..models.pretrained import resolve_model
    from .evaluate import crop_boxes
    from .report import write_json

    sets = []
    cuhk = read_dataset("cuhk5", "test", data_root)
    if max_faces:
        cuhk = cuhk.subset(slice(0, max_faces))
    sets.append(("CUHK test", cuhk))
    if wflw_root is not None:
        wflw = read_dataset("wflw", "test", wflw_root)
        wflw = crop_boxes(wflw, "points").apply(wflw)
        sets.append(("WFLW sample", wflw))

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    for spec in models:
        loaded = resolve_model(spec)
        saved = dict(loaded.metadata.get("train_config") or {})
        root = train_root
        if root is None and saved.get("dataset", "cuhk5") == "cuhk5" and data_root is not None:
            root = data_root
        parts = training_split(loaded, data_root=root)
        base = _fit_baselines(loaded, parts, threshold, progress)
        model_res: dict[str, Any] = {
            "confidence_kind": _kind(loaded),
            "confidence_info": getattr(loaded.confidence, "info", {}) or {},
            "baselines": {k: v for k, v in base.items() if k != "mean_shape"},
            "sets": {},
        }
        for label, records in sets:
            pred = predict_with_confidence(loaded, records, progress=progress)
            err, scheme, proj = point_errors_in(pred.points, records, loaded.scheme)
            plain, _, _ = point_errors_in(pred.plain, records, loaded.scheme)
            confs = _method_confidences(loaded, pred, base, records, proj)
            set_res: dict[str, Any] = {
                "faces": len(records),
                "scheme": scheme.name,
                "nme_with_confidence": float(err.mean()),
                "nme_without": float(plain.mean()),
                "methods": {m: confidence_summary(c, err, threshold) for m, c in confs.items()},
                "attributes": {},
            }
            for attr, mask in records.attributes.items():
                if mask.any():
                    set_res["attributes"][attr] = {
                        m: confidence_summary(c[mask], err[mask], threshold)
                        for m, c in confs.items()
                    }
            model_res["sets"][label] = set_res
        results[loaded.name] = model_res

    text = format_report(results, threshold)
    from ..io import atomic_write_bytes

    atomic_write_bytes(out / "confidence.md", (text + "\n").encode())
    atomic_write_bytes(out / "confidence.csv", _csv(results).encode())
    write_json(out / "confidence.json", results)
    plot_risk_coverage(results, out / "risk_coverage.png")
    plot_reliability(results, out / "reliability.png")
    return {"results": results, "text": text, "out_dir": out}


# --- baselines -----------------------------------------------------------------------------------


def _fit_baselines(loaded, parts, threshold: float, progress: bool) -> dict[str, Any]:
    """The mean training shape in the crop, and the Platt maps of the baselines fitted on the
    validation faces."""
    from ..geometry import apply, crop_matrix
    from ..schemes import project

    size, scheme = loaded.model.input_size, loaded.scheme
    train = parts.train
    pts = project(train.points, train.scheme, scheme)
    crop = np.stack(
        [
            apply(crop_matrix(b, size, loaded.margin), p)
            for b, p in zip(train.boxes, pts, strict=True)
        ]
    )
    mean_shape = crop.mean(axis=0) / size  # (K, 2), normalised to the crop
    val = predict_with_confidence(loaded, parts.val, progress=progress)
    err, _, _ = point_errors_in(val.points, parts.val, scheme)
    good = err <= threshold
    dist = np.linalg.norm(val.crop_points - mean_shape, axis=-1)
    out = {
        "mean_shape": mean_shape,
        "val_faces": len(parts.val),
        "constant": float(good.mean()),
        "mean_shape_platt": fit_platt(-dist, good),
    }
    if val.peak is not None:
        out["peak_platt"] = fit_platt(val.peak, good)
    return out


def _method_confidences(loaded, pred, base, records, proj) -> dict[str, np.ndarray]:
    """Each method's confidences (N, K_compared): the model's own, then the baselines; points
    projected to another scheme average the confidences of the points they average."""
    model_k = {"confidence": pred.confidence}
    if "peak_platt" in base:
        model_k["heatmap peak"] = platt(pred.peak, base["peak_platt"])
    dist = np.linalg.norm(pred.crop_points - base["mean_shape"], axis=-1)
    model_k["mean-shape distance"] = platt(-dist, base["mean_shape_platt"])
    model_k["constant"] = np.full(pred.confidence.shape, base["constant"])
    return {m: np.einsum("ij,nj->ni", proj, c.astype(np.float64)) for m, c in model_k.items()}


def _kind(loaded) -> str:
    from ..models.confidence import confidence_kind

    return confidence_kind(loaded.model, loaded.confidence)


# --- tables ----------------------------------------------------------------------------------------


def format_report(results: dict[str, Any], threshold: float) -> str:
    """The markdown report: one table of every model, set and method, the NME check, and the
    per-attribute table of each set that has attributes."""
    from .report import format_table

    t = f"{threshold:g}"
    rows = []
    for model, mr in results.items():
        for label, sr in mr["sets"].items():
            for method, s in sr["methods"].items():
                rc = dict(zip(s["coverages"], s["risk_coverage"], strict=True))
                rows.append(
                    {
                        "model": model,
                        "set": label,
                        "method": method + (" (shipped)" if method == "confidence" else ""),
                        "auroc": s["auroc"],
                        "ece": s["ece"],
                        "mean_conf": s["mean_confidence"],
                        "good": 1 - s["bad_share"],
                        **{f"rc{int(c * 100)}": rc[c] for c in _SHOWN},
                        "face_auroc": s.get("face_auroc"),
                    }
                )
    cols = [
        ("model", "Model", None),
        ("set", "Faces", None),
        ("method", "Confidence", None),
        ("auroc", f"AUROC (err > {t})", ".4f"),
        ("ece", "ECE", ".4f"),
        ("mean_conf", "Mean conf.", ".4f"),
        ("good", f"Points <= {t}", ".4f"),
        *[(f"rc{int(c * 100)}", f"NME@{int(c * 100)}%", _pct) for c in _SHOWN],
        ("face_auroc", "Face AUROC", ".4f"),
    ]
    parts = [
        f"Point confidence: AUROC for telling points with error > {t} of the normalising "
        "distance from the rest, expected calibration error (10 bins), mean confidence against "
        f"the share of points within {t}, NME of the most confident x% of points "
        "(risk-coverage), and the face-level AUROC of the mean confidence for faces with NME > "
        f"{t}.\n",
        format_table(rows, cols, "markdown"),
    ]
    nme_rows = [
        {
            "model": model,
            "set": label,
            "faces": sr["faces"],
            "without": sr["nme_without"],
            "with": sr["nme_with_confidence"],
            "diff": (sr["nme_with_confidence"] - sr["nme_without"]) / sr["nme_without"],
        }
        for model, mr in results.items()
        for label, sr in mr["sets"].items()
    ]
    parts += [
        "\nNME of the same models without and with the confidence head, in this run:\n",
        format_table(
            nme_rows,
            [
                ("model", "Model", None),
                ("set", "Faces", None),
                ("faces", "N", "d"),
                ("without", "NME without", _pct),
                ("with", "NME with confidence", _pct),
                ("diff", "Relative change", lambda v: f"{v:+.2%}"),
            ],
            "markdown",
        ),
    ]
    score_rows = [
        {
            "model": model,
            "set": label,
            "t": t,
            **sr["methods"]["confidence"]["landmark_score"][t],
        }
        for model, mr in results.items()
        for label, sr in mr["sets"].items()
        for t in sr["methods"]["confidence"].get("landmark_score", {})
    ]
    if score_rows:
        parts += [
            f"\nLandmark score (mean point confidence) below a threshold: the share of faces "
            f"flagged, the share of failures (NME > {t}) among them, and of the failures caught:\n",
            format_table(
                score_rows,
                [
                    ("model", "Model", None),
                    ("set", "Faces", None),
                    ("t", "Score below", ".1f"),
                    ("flagged", "Faces flagged", _pct),
                    ("precision", "Failures among them", _pct),
                    ("recall", "Failures caught", _pct),
                ],
                "markdown",
            ),
        ]
    attr_rows = []
    for model, mr in results.items():
        for label, sr in mr["sets"].items():
            for attr, methods in sr["attributes"].items():
                own = methods["confidence"]
                rc = dict(zip(own["coverages"], own["risk_coverage"], strict=True))
                row = {
                    "model": model,
                    "set": label,
                    "attr": attr,
                    "faces": own.get("faces"),
                    "good": 1 - own["bad_share"],
                    "mean_conf": own["mean_confidence"],
                    "ece": own["ece"],
                    "rc50": rc[0.5],
                    "rc100": rc[1.0],
                }
                for m, s in methods.items():
                    row[f"auroc:{m}"] = s["auroc"]
                attr_rows.append(row)
    if attr_rows:
        methods = [m for m in METHODS if any(f"auroc:{m}" in r for r in attr_rows)]
        cols = [
            ("model", "Model", None),
            ("attr", "Attribute", None),
            ("faces", "N", "d"),
            ("good", f"Points <= {t}", ".3f"),
            ("mean_conf", "Mean conf.", ".3f"),
            ("ece", "ECE", ".3f"),
            ("rc50", "NME@50%", _pct),
            ("rc100", "NME@100%", _pct),
            *[(f"auroc:{m}", f"AUROC {_short(m)}", ".3f") for m in methods],
        ]
        parts += [
            "\nPer attribute (the model's confidence; AUROC of each method):\n",
            format_table(attr_rows, cols, "markdown"),
        ]
    return "\n".join(parts)


def _short(method: str) -> str:
    return {
        "confidence": "shipped",
        "heatmap peak": "peak",
        "mean-shape distance": "mean shape",
    }.get(method, method)


def _pct(v: float) -> str:
    return f"{v:.2%}"


def _csv(results: dict[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "model",
            "set",
            "subset",
            "method",
            "points",
            "auroc",
            "ece",
            "mean_confidence",
            "bad_share",
            "face_auroc",
        ]
        + [f"nme@{int(c * 100)}%" for c in COVERAGES]
    )
    for model, mr in results.items():
        for label, sr in mr["sets"].items():
            subsets = {"all": sr["methods"], **sr["attributes"]}
            for sub, methods in subsets.items():
                for m, s in methods.items():
                    w.writerow(
                        [
                            model,
                            label,
                            sub,
                            m,
                            s["points"],
                            _f(s["auroc"]),
                            _f(s["ece"]),
                            _f(s["mean_confidence"]),
                            _f(s["bad_share"]),
                            _f(s.get("face_auroc")),
                        ]
                        + [_f(v) for v in s["risk_coverage"]]
                    )
    return buf.getvalue()


def _f(v) -> str:
    return "" if v is None or not np.isfinite(v) else f"{float(v):.6g}"


# --- plots -----------------------------------------------------------------------------------------


def plot_risk_coverage(results: dict[str, Any], path) -> None:
    """One panel per model and set: NME of the most confident x% of points, per method."""
    fig, axes = _grid(results)
    for r, (model, mr) in enumerate(results.items()):
        for c, (label, sr) in enumerate(mr["sets"].items()):
            ax = axes[r][c]
            for m, s in sr["methods"].items():
                x = np.asarray(s["coverages"]) * 100
                style = {"linewidth": 2.4} if m == "confidence" else {"linewidth": 1.3}
                name = f"{_short(m)} (AUROC {s['auroc']:.3f})" if m != "constant" else m
                ax.plot(
                    x, np.asarray(s["risk_coverage"]) * 100, marker="o", ms=3, label=name, **style
                )
            ax.set_title(f"{model}: {label}", fontsize=10)
            ax.set_xlabel("coverage: most confident points, %")
            ax.set_ylabel("NME of those points, %")
            ax.set_xlim(5, 102)
            ax.set_ylim(bottom=0)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7, loc="upper left")
    _save_fig(fig, path)


def plot_reliability(results: dict[str, Any], path) -> None:
    """One panel per model and set: accuracy (share of points within the threshold) against the
    mean confidence of each bin, for the model's confidence, with each bin's point count."""
    fig, axes = _grid(results)
    for r, (model, mr) in enumerate(results.items()):
        for c, (label, sr) in enumerate(mr["sets"].items()):
            ax = axes[r][c]
            ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
            for m in ("confidence", "heatmap peak"):
                s = sr["methods"].get(m)
                if s is None:
                    continue
                rel = s["reliability"]
                used = rel["count"] > 0
                ax.plot(
                    rel["confidence"][used],
                    rel["accuracy"][used],
                    marker="o" if m == "confidence" else "s",
                    linewidth=2.2 if m == "confidence" else 1.2,
                    label=f"{_short(m)} (ECE {s['ece']:.4f})",
                )
                if m == "confidence":
                    for x, y, n in zip(
                        rel["confidence"][used],
                        rel["accuracy"][used],
                        rel["count"][used],
                        strict=True,
                    ):
                        ax.annotate(
                            str(int(n)),
                            (x, y),
                            fontsize=6,
                            xytext=(3, -9),
                            textcoords="offset points",
                        )
            ax.set_title(f"{model}: {label}", fontsize=10)
            ax.set_xlabel("mean confidence in bin")
            ax.set_ylabel("share of points within threshold")
            ax.set_xlim(0, 1.02)
            ax.set_ylim(0, 1.02)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7, loc="upper left")
    _save_fig(fig, path)


def _grid(results: dict[str, Any]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = max(1, len(results))
    cols = max([len(mr["sets"]) for mr in results.values()] or [1])
    if not results:
        raise FacepointsError("no models to plot")
    fig = Figure(figsize=(5.2 * cols, 4.0 * rows), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, axes


def _save_fig(fig, path) -> None:
    from ..io import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())
