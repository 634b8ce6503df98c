"""`facepoints eval`: run models on an annotated split and report NME, FR, AUC, CED and pictures.

Models and data may use different schemes (a 98-point model on 5-point data): predictions or
ground truth are projected to the scheme both can reach, via `facepoints.schemes`.

Where the crops come from (`boxes`), for any dataset:
- "given": the dataset's own boxes (CUHK: its training convention; WFLW's sample: the 98 points'
  extent, jaw and brows included, a looser box than the CUHK models were trained on);
- "points": `box_from_points` of the annotation's 5-point geometry (98 -> 5 projected): a
  CUHK-convention box with constants fitted on CUHK training faces. It places the crop with the
  ground-truth points, like a tracker that follows the face, so it is an upper bound of what
  detection gives;
- "detector" or "detector:NAME": the face detector's boxes (already in the CUHK convention through
  its fitted BoxMap), matched to the annotated faces; faces it misses are counted as missed and
  left out of NME, FR and AUC, which cover the faces found.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data import FaceRecords, read_dataset
from ..data.dataset import LandmarkDataset, crop_to_image
from ..errors import ConfigError, FacepointsError
from ..schemes import Scheme, project
from .metrics import summarize_subsets

__all__ = [
    "BOX_SOURCES",
    "CropBoxes",
    "crop_boxes",
    "predict_records",
    "common_scheme",
    "describe_norm",
    "evaluate",
]

BOX_SOURCES = ("given", "points", "detector")  # "detector:NAME" picks a detector by name


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
    scheme = loaded.scheme
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


@dataclass
class CropBoxes:
    """The crop box of every face of a FaceRecords. `source`: "given", "points" or
    "detector:NAME"; `boxes` (N, 4) float32 x1 y1 x2 y2, NaN rows where the detector missed the
    face; `found` (N,) bool, False for those faces; `images` the photos the detector ran on."""

    source: str
    boxes: np.ndarray
    found: np.ndarray
    images: int = 0

    @property
    def missed(self) -> int:
        return int((~self.found).sum())

    def apply(self, records: FaceRecords) -> FaceRecords:
        """The faces with a crop box (all but missed ones), their boxes replaced by the crop
        boxes; everything else (points, attributes) as in `records`."""
        out = records.subset(np.flatnonzero(self.found))
        out.boxes = self.boxes[self.found].astype(np.float32)
        return out


def crop_boxes(records: FaceRecords, source: str = "given", progress: bool = False) -> CropBoxes:
    """Crop boxes of `records` from `source` (see the module docstring): "given", "points",
    "detector" (the default detector) or "detector:NAME"."""
    from ..inference.boxes import box_from_points

    kind, _, name = source.partition(":")
    if kind not in BOX_SOURCES or (name and kind != "detector"):
        raise ConfigError(
            f"unknown box source {source!r}; known: given, points, detector, detector:NAME"
        )
    every = np.ones(len(records), dtype=bool)
    if kind == "given":
        return CropBoxes("given", records.boxes.copy(), every)
    if kind == "points":
        return CropBoxes("points", box_from_points(records.points, records.scheme), every)
    return _detector_boxes(records, name or None, progress)


def describe_norm(norm: str, scheme: Scheme, data_scheme: Scheme) -> str:
    """What the normalising distance `norm` is when faces are compared in `scheme`, naming the
    dataset's points when `scheme` is projected from `data_scheme`, e.g. for 98-point data seen
    by a 5-point model "inter-ocular: eye centres (wflw98 points 96-97)"."""
    if norm in ("box", "box-diagonal"):
        what = "sqrt(width * height)" if norm == "box" else "the diagonal"
        return f"{norm}: {what} of the dataset's boxes"
    # the eye centres: the first two points of the projection to 5 points
    centres = scheme.norm_pair if scheme.name == "cuhk5" else scheme.projections["cuhk5"][:2]
    if norm == "inter-pupil" or (norm in ("inter-ocular", "scheme") and scheme.name == "cuhk5"):
        pair, what = centres, "eye centres"
    elif norm in ("inter-ocular", "scheme"):
        pair, what = scheme.norm_pair, f"the {scheme.name} scheme's pair"
    else:
        return norm
    where = scheme
    if scheme.name != data_scheme.name and scheme.name in data_scheme.projections:
        rows = data_scheme.projections[scheme.name]
        pair = tuple(tuple(j for i in side for j in rows[i]) for side in pair)
        where = data_scheme
    text = f"{norm}: {what} ({where.name} points {_pair_text(pair)})"
    return text + (f"; {scheme.description}" if what.endswith("pair") else "")


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
    boxes: str = "given",
) -> dict:
    """Evaluate each model (names, files or run folders) on one split; write metrics.json, the
    table, a CED plot of all models, per-point plots and prediction grids (green) beside ground
    truth (red) into out_dir. Returns {"summaries": {model: {subset: summary}}, "table": str}.

    `boxes`: where the crops come from, "given", "points", "detector" or "detector:NAME" (see
    the module docstring). Each subset's summary gets "boxes" and "missed" (faces of the subset
    the detector missed, 0 otherwise); its "n" counts the faces evaluated."""
    from ..models.pretrained import resolve_model
    from .plots import plot_ced, plot_per_point
    from .report import write_json

    records = read_dataset(dataset, split, data_root=data_root, skip_bad=skip_bad)
    if max_faces:
        records = records.subset(slice(0, max_faces))
    crops = crop_boxes(records, boxes, progress=progress)
    faces = crops.apply(records)  # the faces evaluated, with their crop boxes
    if len(records) and not len(faces):
        raise FacepointsError(f"{crops.source} found none of the {len(records)} faces")
    given = records.boxes[crops.found]  # box norms use the dataset's boxes, whatever the crop
    missed = {"all": crops.missed} | {
        k: int((v & ~crops.found).sum()) for k, v in records.attributes.items()
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summaries: dict[str, dict] = {}
    curves: dict[str, np.ndarray] = {}
    tables = []
    for spec in models:
        loaded = resolve_model(spec)
        label = loaded.name + (" +flip" if flip else "")
        model_scheme = loaded.scheme
        scheme = common_scheme(model_scheme, records.scheme)
        pred = predict_records(loaded, faces, batch_size=batch_size, flip=flip, progress=progress)
        p = project(pred, model_scheme, scheme)
        g = project(faces.points, faces.scheme, scheme)
        subs = summarize_subsets(
            p, g, scheme, faces.attributes, norm=norm, boxes=given, thresholds=thresholds
        )
        for k, sub in subs.items():
            sub["boxes"] = crops.source
            sub["missed"] = missed[k]
        summaries[label] = subs
        curves[label] = subs["all"]["per_face"]
        tables.append(_model_header(label, records, scheme, norm, crops) + _table(subs, crops))
        stem = _safe(label)
        plot_per_point(subs["all"], scheme, out / f"per_point_{stem}.png")
        _pictures(faces, p, g, subs["all"]["per_face"], out, stem, grid, worst, seed)
    plot_ced(curves, out / "ced.png", max_threshold=max(thresholds))
    overall = {m: s["all"] for m, s in summaries.items()}
    table = _table(overall, crops, label="Model", style="markdown")
    text = "\n\n".join(tables) + "\n\nAll models, all faces:\n" + table
    write_json(out / "metrics.json", summaries)
    from ..io import atomic_write_bytes

    atomic_write_bytes(out / "table.md", (table + "\n").encode())
    return {"summaries": summaries, "table": text, "out_dir": out}


def _detector_boxes(records: FaceRecords, name: str | None, progress: bool) -> CropBoxes:
    """Run the detector once per photo and match its (CUHK-convention) boxes to the annotated
    faces' `points` boxes, which follow the same convention: fit.match_faces (IoU >= 0.3, or the
    detection's centre inside with a size within a factor of 2), then for faces still unmatched
    a free detection that holds the face's eye centre, of a size within a factor of 2."""
    from ..inference.boxes import box_from_points
    from ..inference.detectors import create_detector
    from ..inference.detectors.fit import match_faces, run_detector

    detector = create_detector(name)
    ref = box_from_points(records.points, records.scheme)
    eyes = project(records.points, records.scheme, "cuhk5")[:, :2].mean(axis=1)
    out = np.full((len(records), 4), np.nan, dtype=np.float32)
    runs = run_detector(detector, records, progress=progress)
    for run in runs:
        det = detector.box_map.apply(run.raw)
        faces = np.asarray(run.faces)
        m = match_faces(det, ref[faces])
        _match_eye_centres(m, det, ref[faces], eyes[faces])
        for g, d in enumerate(m):
            if d >= 0:
                out[faces[g]] = det[d]
    found = np.isfinite(out).all(axis=1)
    return CropBoxes(f"detector:{detector.name}", out, found, images=len(runs))


def _match_eye_centres(m: np.ndarray, det: np.ndarray, ref: np.ndarray, eyes: np.ndarray) -> None:
    """Complete the matches `m` (in place): an unmatched face takes the free detection holding
    its eye centre, side within a factor of 2 of its reference box (the nearest centre first)."""
    free = set(range(len(det))) - {int(d) for d in m if d >= 0}
    side = np.sqrt(np.prod(det[:, 2:] - det[:, :2], axis=1).clip(1e-9))
    for g in np.flatnonzero(m < 0):
        ref_side = np.sqrt(np.prod(ref[g, 2:] - ref[g, :2]).clip(1e-9))
        centre = (det[:, :2] + det[:, 2:]) / 2
        best, best_d = -1, np.inf
        for d in free:
            inside = (det[d, :2] <= eyes[g]).all() and (eyes[g] <= det[d, 2:]).all()
            dist = float(np.linalg.norm(centre[d] - eyes[g]))
            if inside and 0.5 <= side[d] / ref_side <= 2.0 and dist < best_d:
                best, best_d = d, dist
        if best >= 0:
            m[g] = best
            free.discard(best)


def _model_header(label: str, records, scheme: Scheme, norm: str, crops: CropBoxes) -> str:
    """The lines above a model's table: data, compared scheme, crop boxes, norm, misses."""
    kind, _, name = crops.source.partition(":")
    n = len(records)
    lines = [
        f"{label} on {records.name or 'data'} ({n} faces, {records.scheme.name}; "
        f"compared in {scheme.name})",
        f"  crops: {_BOX_TEXT[kind]}" + (f" ({name})" if name else ""),
        f"  norm: {describe_norm(norm, scheme, records.scheme)}",
    ]
    if kind == "detector":
        lines.append(
            f"  detector found {n - crops.missed} of {n} faces on {crops.images} photos, "
            f"missed {crops.missed} ({crops.missed / max(n, 1):.1%}); NME, FR and AUC cover the "
            "faces found (N), Missed counts the others"
        )
    return "\n".join(lines) + "\n"


_BOX_TEXT = {
    "given": "the dataset's boxes",
    "points": "CUHK-convention boxes from the annotated 5-point geometry (ground truth places "
    "the crop: an upper bound of detection)",
    "detector": "face detector boxes matched to the annotated faces",
}


def _table(summaries: dict, crops: CropBoxes, label: str = "Subset", style: str = "plain") -> str:
    """metrics_table with a Missed column after N when the crops come from a detector."""
    from .report import format_table, metrics_columns, metrics_rows

    rows = metrics_rows(summaries)
    cols = metrics_columns(rows, label)
    if crops.source.startswith("detector"):
        for row, s in zip(rows, summaries.values(), strict=True):
            row["missed"] = s["missed"]
        cols.insert(2, ("missed", "Missed", "d"))
    return format_table(rows, cols, style)


def _pair_text(pair) -> str:
    """((96,), (97,)) -> "96-97"; a side averaging several points -> "mean(36..41)"."""

    def side(idx) -> str:
        if len(idx) == 1:
            return str(idx[0])
        run = list(idx) == list(range(idx[0], idx[0] + len(idx)))
        return f"mean({idx[0]}..{idx[-1]})" if run else "mean(" + "+".join(map(str, idx)) + ")"

    return "-".join(side(tuple(s)) for s in pair)


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
