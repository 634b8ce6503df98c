"""`facepoints eval`: run models on an annotated split and report NME, FR, AUC, CED and pictures.

Models and data may use different schemes (a 98-point model on 5-point data): predictions or
ground truth are projected to the scheme both can reach, via `facepoints.schemes`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data import FaceRecords, read_dataset
from ..data.dataset import LandmarkDataset, crop_to_image
from ..errors import ConfigError
from ..schemes import Scheme, get_scheme, project
from .metrics import summarize_subsets

__all__ = ["predict_records", "common_scheme", "evaluate"]


def predict_records(
    loaded,
    records: FaceRecords,
    batch_size: int = 64,
    flip: bool = False,
    progress: bool = True,
) -> np.ndarray:
    """Landmarks (N, K_model, 2) in image pixels for every face of `records` (crops from their
    boxes). `loaded` is a `facepoints.models.pretrained.LoadedModel`. `flip` averages with the
    mirrored crop's prediction (test-time augmentation)."""
    from tqdm import tqdm

    model = loaded.model
    model.eval()
    size = model.input_size
    ds = LandmarkDataset(
        records, size, in_channels=model.in_channels, margin=loaded.margin, progress=progress
    )
    scheme = get_scheme(model.num_points)
    device = next(model.parameters()).device
    out = np.zeros((len(ds), model.num_points, 2), dtype=np.float32)
    mats = np.zeros((len(ds), 2, 3))
    starts = range(0, len(ds), batch_size)
    with torch.inference_mode():
        for s in tqdm(starts, desc=f"predict {loaded.name}", disable=not progress, leave=False):
            items = [ds[i] for i in range(s, min(s + batch_size, len(ds)))]
            x = torch.stack([it["image"] for it in items]).to(device)
            p = model(x)
            if flip:
                pf = model(torch.flip(x, dims=[3]))
                pf = pf[:, list(scheme.flip)]
                pf[..., 0] = (size - 1) / size - pf[..., 0]
                p = (p + pf) / 2
            out[s : s + len(items)] = p.float().cpu().numpy()
            mats[s : s + len(items)] = np.stack([it["matrix"].numpy() for it in items])
    return crop_to_image(out, mats, size)


def common_scheme(model_scheme: Scheme, data_scheme: Scheme) -> Scheme:
    """The scheme in which predictions of one and annotations of the other are compared."""
    if model_scheme.name == data_scheme.name:
        return data_scheme
    if data_scheme.name in model_scheme.projections:
        return data_scheme
    if model_scheme.name in data_scheme.projections:
        return model_scheme
    raise ConfigError(f"cannot compare a {model_scheme.name} model with {data_scheme.name} data")


def evaluate(
    models: list,
    data_root=None,
    dataset: str | None = None,
    split: str = "test",
    norm: str = "inter-ocular",
    thresholds: tuple[float, ...] = (0.1,),
    flip: bool = False,
    out_dir: str | Path = "runs/eval",
    grid: int = 16,
    worst: int = 16,
    seed: int = 0,
    max_faces: int | None = None,
    batch_size: int = 64,
    skip_bad: bool = False,
    progress: bool = True,
) -> dict:
    """Evaluate each model (names, files or run folders) on one split; write metrics.json, the
    table, a CED plot of all models, per-point plots and prediction grids (green) beside ground
    truth (red) into out_dir. Returns {"summaries": {model: {subset: summary}}, "table": str}."""
    from ..models.pretrained import resolve_model
    from .plots import plot_ced, plot_per_point
    from .report import metrics_table, write_json

    records = read_dataset(dataset, split, data_root=data_root, skip_bad=skip_bad)
    if max_faces:
        records = records.subset(slice(0, max_faces))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summaries: dict[str, dict] = {}
    curves: dict[str, np.ndarray] = {}
    tables = []
    for spec in models:
        loaded = resolve_model(spec)
        label = loaded.name + (" +flip" if flip else "")
        pred = predict_records(loaded, records, batch_size=batch_size, flip=flip, progress=progress)
        scheme = common_scheme(get_scheme(loaded.model.num_points), records.scheme)
        p = project(pred, get_scheme(loaded.model.num_points), scheme)
        g = project(records.points, records.scheme, scheme)
        subs = summarize_subsets(
            p, g, scheme, records.attributes, norm=norm, boxes=records.boxes, thresholds=thresholds
        )
        summaries[label] = subs
        curves[label] = subs["all"]["per_face"]
        tables.append(
            f"{label} on {records.name or split} ({len(records)} faces, {scheme.name}):\n"
            + metrics_table(subs)
        )
        stem = _safe(label)
        plot_per_point(subs["all"], scheme, out / f"per_point_{stem}.png")
        _pictures(records, p, g, subs["all"]["per_face"], out, stem, grid, worst, seed)
    plot_ced(curves, out / "ced.png", max_threshold=max(thresholds))
    overall = {m: s["all"] for m, s in summaries.items()}
    table = metrics_table(overall, label="Model", style="markdown")
    text = "\n\n".join(tables) + "\n\nAll models, all faces:\n" + table
    write_json(out / "metrics.json", summaries)
    from ..io import atomic_write_bytes

    atomic_write_bytes(out / "table.md", (table + "\n").encode())
    return {"summaries": summaries, "table": text, "out_dir": out}


def _pictures(records, pred, gt, nme, out, stem, grid, worst, seed) -> None:
    """Random faces and the worst faces: prediction green, ground truth red, NME as caption."""
    from ..draw import compare_image, make_grid
    from ..geometry import crop_matrix, warp
    from ..io import load_image, save_image

    rng = np.random.default_rng(seed)
    sets = {}
    if grid:
        sets["grid"] = rng.choice(len(records), size=min(grid, len(records)), replace=False)
    if worst:
        sets["worst"] = np.argsort(-nme)[: min(worst, len(records))]
    for kind, idx in sets.items():
        tiles, caps = [], []
        for i in idx:
            img = load_image(records.images[i])
            m = crop_matrix(records.boxes[i], 160, margin=0.5)
            from ..geometry import apply

            tile = compare_image(warp(img, m, 160), apply(m, pred[i]), apply(m, gt[i]))
            tiles.append(tile)
            caps.append(f"{records.images[i].name[:18]} {nme[i]:.1%}")
        save_image(
            out / f"{kind}_{stem}.jpg", make_grid(tiles, cols=min(8, len(tiles)), captions=caps)
        )


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)
