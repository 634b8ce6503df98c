"""`facepoints data stats`: what a dataset holds (counts, sizes, landmark layout, pose, outliers),
as a JSON-ready dict, a printed report and a folder of plots. Works for any landmark scheme."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..io import atomic_write_bytes
from ..schemes import CUHK5, Scheme, project
from .records import FaceRecords

__all__ = [
    "compute_stats",
    "format_stats",
    "write_stat_plots",
    "dataset_stats",
    "face_measures",
    "pose_proxies",
    "image_size",
]

ALL = "all"  # the group that pools every split
_PERCENTILES = (5, 25, 50, 75, 95)
_MAX_ROWS = 12  # image sizes and sources shown before "other"
_MAX_EXAMPLES = 10  # outlier image names kept per kind and group
_MAX_SCATTER = 200_000  # points drawn in the landmark scatter


def compute_stats(
    splits: dict[str, FaceRecords], image_sizes: bool = True, progress: bool = True
) -> dict:
    """Statistics of each split and of all splits pooled ("all", when there are several).

    Everything returned is plain numbers, strings, lists and dicts (JSON-ready). With
    `image_sizes` the image headers are read (no decoding) for image sizes and the
    points-outside-the-image check; without it those entries are None."""
    if not splits:
        raise ConfigError("no splits to analyse")
    scheme = next(iter(splits.values())).scheme
    for name, recs in splits.items():
        if recs.scheme.name != scheme.name:
            raise ConfigError(f"split {name} has scheme {recs.scheme.name}, not {scheme.name}")

    sizes = _read_sizes(splits, progress) if image_sizes else None
    groups: dict[str, dict] = {}
    pooled: list[tuple[FaceRecords, dict[str, np.ndarray]]] = []
    for name, recs in splits.items():
        wh = _face_sizes(recs, sizes) if sizes is not None else None
        m = face_measures(recs, wh)
        pooled.append((recs, m))
        groups[name] = _group_stats([recs], [m], sizes)
    if len(splits) > 1:
        groups[ALL] = _group_stats([r for r, _ in pooled], [m for _, m in pooled], sizes)
    return {
        "scheme": scheme.name,
        "num_points": scheme.num_points,
        "landmarks": list(scheme.names),
        "norm_label": _norm_label(scheme),
        "splits": list(splits),
        "image_sizes_read": sizes is not None,
        "groups": groups,
    }


def format_stats(stats: dict) -> str:
    """A readable report of `compute_stats`'s result: aligned tables, one section per topic."""
    groups: dict[str, dict] = stats["groups"]
    cols = list(groups)
    out: list[str] = []
    head = f"Dataset {stats['dataset']}: " if stats.get("dataset") else ""
    out.append(
        f"{head}{stats['num_points']}-point scheme {stats['scheme']}, "
        f"splits {', '.join(stats['splits'])}"
    )
    if stats.get("data_root"):
        out.append(f"data root: {stats['data_root']}")

    # counts per source, with totals
    sources = _top_keys([g["sources"] for g in groups.values()], _MAX_ROWS)
    rows = []
    for s in sources:
        rows.append(
            [f"  {s or '(no source)'}"]
            + [_int(_other(g["sources"], s, sources)) for g in groups.values()]
        )
    rows.append(["  faces"] + [_int(g["faces"]) for g in groups.values()])
    rows.append(["  images"] + [_int(g["images"]) for g in groups.values()])
    if any(g["skipped_lines"] for g in groups.values()):
        rows.append(["  bad lines skipped"] + [_int(g["skipped_lines"]) for g in groups.values()])
    out += ["", _table(["Faces by source"] + cols, rows)]

    # image sizes (by image, not face)
    if stats.get("image_sizes_read"):
        sizes = _top_keys([g["image_sizes"]["counts"] for g in groups.values()], _MAX_ROWS)
        rows = [
            [f"  {s}"]
            + [_int(_other(g["image_sizes"]["counts"], s, sizes)) for g in groups.values()]
            for s in sizes
        ]
        rows.append(
            ["  distinct sizes"] + [_int(g["image_sizes"]["distinct"]) for g in groups.values()]
        )
        if any(g["image_sizes"]["unreadable"] for g in groups.values()):
            rows.append(
                ["  unreadable"] + [_int(g["image_sizes"]["unreadable"]) for g in groups.values()]
            )
        out += ["", _table(["Image sizes (WxH, images)"] + cols, rows)]

    # distributions: one row per (quantity, group)
    pct = [f"p{p}" if p != 50 else "median" for p in _PERCENTILES]
    rows = []
    for label, key, fmt in (
        ("box width (px)", ("box", "width"), "{:.1f}"),
        ("box height (px)", ("box", "height"), "{:.1f}"),
        ("box aspect (w/h)", ("box", "aspect"), "{:.3f}"),
        ("norm distance (px)", ("norm_distance", "pixels"), "{:.1f}"),
        ("norm distance / box w", ("norm_distance", "relative_to_box_width"), "{:.3f}"),
        ("roll (deg)", ("pose", "roll_deg"), "{:.2f}"),
        ("yaw proxy", ("pose", "yaw_proxy"), "{:.3f}"),
    ):
        for gname, g in groups.items():
            s = g[key[0]][key[1]]
            if s is None:
                continue
            vals = [s["mean"], s["std"], s["min"]] + [s[p] for p in pct] + [s["max"]]
            rows.append([f"  {label}", gname] + [_num(v, fmt) for v in vals])
    out += [
        "",
        _table(["Distributions", "split", "mean", "std", "min", *pct, "max"], rows, left=2),
        "  norm distance: the scheme's NME normaliser (" + stats.get("norm_label", "") + ")",
        "  roll: angle of the eye line, + when it runs down to the image right",
        "  yaw proxy: nose tip offset from the eyes' midpoint along the eye line / eye distance,",
        "    + towards the image right, about 0 when frontal",
    ]

    # landmark positions inside the box, pooled over splits
    lm = groups[cols[-1]]["landmarks"]
    names = stats["landmarks"]
    if len(names) <= 20:
        rows = [
            [f"  {i:>2} {n}"] + [f"{v:.3f}" for v in (*mu, *sd)]
            for i, (n, mu, sd) in enumerate(zip(names, lm["mean"], lm["std"], strict=True))
        ]
        header = ["mean x", "mean y", "std x", "std y"]
        title = "Landmarks in box (0..1)"
    else:
        # dense schemes: one row per group, the span of its mean points and its mean spread
        rows = []
        for gname, idx in lm["groups"].items():
            mu = np.array([lm["mean"][i] for i in idx], dtype=np.float64)
            sd = np.array([lm["std"][i] for i in idx], dtype=np.float64).mean(axis=0)
            vals = (mu[:, 0].min(), mu[:, 0].max(), mu[:, 1].min(), mu[:, 1].max(), *sd)
            rows.append([f"  {gname} ({len(idx)})"] + [f"{v:.3f}" for v in vals])
        header = ["x from", "x to", "y from", "y to", "std x", "std y"]
        title = "Landmark groups in box (0..1)"
    out += ["", _table([f"{title} [{cols[-1]}]", *header], rows)]

    rows = [
        ["  |roll| > 15 deg"]
        + [_pct(g["pose"]["abs_roll_over_15deg"], g["faces"]) for g in groups.values()],
        ["  |yaw proxy| > 0.25"]
        + [_pct(g["pose"]["abs_yaw_over_0.25"], g["faces"]) for g in groups.values()],
    ]
    out += ["", _table(["Pose (faces)"] + cols, rows)]

    # outliers
    rows = []
    for label, key in (
        ("  points outside box", "outside_box"),
        ("  points outside image", "outside_image"),
        ("  box outside image", "box_outside_image"),
        ("  zero norm distance", "zero_norm_distance"),
    ):
        vals = [g["outliers"][key] for g in groups.values()]
        rows.append([label] + ["-" if v is None else _int(v["faces"]) for v in vals])
    out += ["", _table(["Outliers (faces)"] + cols, rows)]
    for key in ("outside_box", "outside_image", "box_outside_image", "zero_norm_distance"):
        o = groups[cols[-1]]["outliers"][key]
        if o and o["examples"]:
            shown = o["examples"][:5]
            more = ", ..." if o["faces"] > len(shown) else ""
            out.append(f"  {key} ({o['faces']}): {', '.join(shown)}{more}")

    # attribute flags
    if any(g["attributes"] for g in groups.values()):
        names_a = list(dict.fromkeys(k for g in groups.values() for k in g["attributes"]))
        rows = []
        for a in names_a:
            rows.append(
                [f"  {a}"] + [_pct(g["attributes"].get(a, 0), g["faces"]) for g in groups.values()]
            )
        rows.append(["  (none)"] + [_pct(g["no_attribute"], g["faces"]) for g in groups.values()])
        out += ["", _table(["Attributes (faces)"] + cols, rows)]
    return "\n".join(out)


def write_stat_plots(
    splits: dict[str, FaceRecords], stats: dict, out_dir: str | Path
) -> list[Path]:
    """Write histograms (box size, aspect, norm distance, roll, yaw), the landmark scatter over
    the mean face, the per-landmark spread (and attribute counts when there are any) as PNGs,
    plus stats.json, into out_dir. Returns the files written."""
    # Figures are made without pyplot: no global backend or figure state is touched.
    from matplotlib.figure import Figure

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    measures = {name: face_measures(recs) for name, recs in splits.items()}
    scheme = next(iter(splits.values())).scheme
    written: list[Path] = []

    # fixed margins: matplotlib's automatic layouts would double the drawing time
    def save(fig, name: str) -> None:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        atomic_write_bytes(out / name, buf.getvalue())
        written.append(out / name)

    def hist(name: str, panels: Sequence[tuple[str, str]], title: str) -> None:
        fig = Figure(figsize=(5.5 * len(panels), 4))
        fig.subplots_adjust(
            left=0.8 / fig.get_figwidth(),
            right=1 - 0.2 / fig.get_figwidth(),
            bottom=0.13,
            top=0.87,
            wspace=0.25,
        )
        for k, (key, xlabel) in enumerate(panels):
            ax = fig.add_subplot(1, len(panels), k + 1)
            finite = [m[key][np.isfinite(m[key])] for m in measures.values()]
            pooled = np.concatenate(finite) if finite else np.zeros(0)
            if pooled.size == 0:
                continue
            lo, hi = np.percentile(pooled, [0.5, 99.5])
            if hi <= lo:
                lo, hi = lo - 0.5, hi + 0.5
            bins = np.linspace(lo, hi, int(np.clip(2 * np.sqrt(pooled.size), 10, 60)) + 1)
            for sname, v in zip(measures, finite, strict=True):
                ax.hist(
                    np.clip(v, lo, hi),
                    bins=bins,
                    histtype="step",
                    density=True,
                    linewidth=1.5,
                    label=f"{sname} ({v.size:,})",
                )
            ax.set_xlabel(xlabel)
            ax.set_ylabel("density")
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
        fig.suptitle(title)
        save(fig, name)

    hist(
        "hist_box_size.png",
        [("box_width", "box width (px)"), ("box_height", "box height (px)")],
        "Face box size",
    )
    hist("hist_box_aspect.png", [("box_aspect", "box width / height")], "Face box aspect ratio")
    hist(
        "hist_norm_distance.png",
        [("norm", "normalising distance (px)"), ("norm_rel", "normalising distance / box width")],
        f"Normalising distance ({scheme.name}: {_norm_label(scheme)})",
    )
    hist("hist_roll.png", [("roll", "eye-line angle (deg, + = down to the right)")], "Roll proxy")
    hist("hist_yaw.png", [("yaw", "nose offset along eye line / eye distance")], "Yaw proxy")

    # all landmarks in box coordinates, coloured by landmark (dense schemes: by group)
    rel = np.concatenate([m["rel_points"] for m in measures.values()])  # (N, K, 2)
    finite = np.isfinite(rel).all(axis=(1, 2))
    rel = rel[finite]
    colors = _point_colors(scheme)
    mean = rel.mean(axis=0) if len(rel) else np.full((scheme.num_points, 2), np.nan)
    std = rel.std(axis=0) if len(rel) else mean
    fig = Figure(figsize=(7.5, 7.5))
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.08, top=0.94)
    ax = fig.add_subplot(1, 1, 1)
    if len(rel):
        take = np.random.default_rng(0).permutation(len(rel))[
            : max(1, _MAX_SCATTER // scheme.num_points)
        ]
        sub = rel[take]
        ax.scatter(
            sub[..., 0].ravel(),
            sub[..., 1].ravel(),
            c=np.tile(colors, (len(sub), 1)),
            s=float(np.clip(6e4 / sub[..., 0].size, 1.0, 6.0)),
            alpha=float(np.clip(1.5e4 / sub[..., 0].size, 0.1, 0.6)),
            linewidths=0,
            rasterized=True,
        )
        ax.scatter(
            mean[:, 0],
            mean[:, 1],
            c=colors,
            s=90 if scheme.num_points <= 20 else 25,
            edgecolors="black",
            linewidths=1.0,
            zorder=3,
        )
        if scheme.num_points <= 20:
            for i, (x, y) in enumerate(mean):
                ax.annotate(
                    f"{i} {scheme.names[i]}",
                    (x, y),
                    xytext=(6, -10),
                    textcoords="offset points",
                    fontsize=8,
                    zorder=4,
                )
        ax.set_title(
            f"{len(rel):,} faces, landmarks in box coordinates"
            + (f" ({len(sub):,} drawn)" if len(sub) < len(rel) else "")
            + "; large: mean face"
        )
    ax.plot([0, 1, 1, 0, 0], [0, 0, 1, 1, 0], color="black", linewidth=1)
    _box_axes(ax, rel)
    _group_legend(ax, scheme, colors)
    save(fig, "landmarks_scatter.png")

    # per-landmark spread: 1-sigma ellipses over the mean face, and std per landmark
    from matplotlib.patches import Ellipse

    fig = Figure(figsize=(13, 5.5))
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.2, top=0.93, wspace=0.2)
    ax = fig.add_subplot(1, 2, 1)
    for i in range(scheme.num_points):
        if len(rel) < 2:
            break
        cov = np.cov(rel[:, i, 0], rel[:, i, 1])
        vals, vecs = np.linalg.eigh(cov)
        angle = float(np.degrees(np.arctan2(vecs[1, 1], vecs[0, 1])))
        w, h = 2 * np.sqrt(np.maximum(vals[::-1], 0))
        ax.add_patch(
            Ellipse(
                tuple(mean[i]),
                w,
                h,
                angle=angle,
                facecolor=(*colors[i][:3], 0.25),
                edgecolor=colors[i],
                linewidth=1,
            )
        )
    ax.scatter(mean[:, 0], mean[:, 1], c=colors, s=12, zorder=3)
    ax.plot([0, 1, 1, 0, 0], [0, 0, 1, 1, 0], color="black", linewidth=1)
    _box_axes(ax, rel)
    ax.set_title("mean face with 1-std ellipses (box coordinates)")
    ax = fig.add_subplot(1, 2, 2)
    idx = np.arange(scheme.num_points)
    ax.bar(idx - 0.2, std[:, 0], width=0.4, label="std x", color="tab:blue")
    ax.bar(idx + 0.2, std[:, 1], width=0.4, label="std y", color="tab:orange")
    if scheme.num_points <= 20:
        ax.set_xticks(
            idx,
            [f"{i} {n}" for i, n in enumerate(scheme.names)],
            rotation=30,
            ha="right",
            fontsize=8,
        )
    else:
        ax.set_xlabel("landmark index")
    ax.set_ylabel("std (fraction of box side)")
    ax.set_title("spread per landmark")
    ax.legend()
    ax.grid(alpha=0.3, axis="y")
    save(fig, "landmarks_spread.png")

    # attribute flags
    attrs = [g for g in stats["groups"].values() if g["attributes"]]
    if attrs:
        fig = Figure(figsize=(8, 4))
        fig.subplots_adjust(left=0.1, right=0.97, bottom=0.2, top=0.9)
        ax = fig.add_subplot(1, 1, 1)
        names = list(dict.fromkeys(k for g in stats["groups"].values() for k in g["attributes"]))
        gnames = [n for n in stats["groups"] if n != ALL]
        width = 0.8 / max(1, len(gnames))
        for j, gname in enumerate(gnames):
            g = stats["groups"][gname]
            ax.bar(
                np.arange(len(names)) + j * width,
                [g["attributes"].get(a, 0) for a in names],
                width=width,
                label=gname,
            )
        ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=20)
        ax.set_ylabel("faces")
        ax.legend()
        ax.set_title("attribute flags")
        save(fig, "attributes.png")

    atomic_write_bytes(out / "stats.json", (json.dumps(stats, indent=1) + "\n").encode())
    written.append(out / "stats.json")
    return written


def dataset_stats(
    data_root: str | Path | None = None,
    dataset: str | None = None,
    splits: Sequence[str] | None = None,
    out_dir: str | Path = "runs/stats",
    skip_bad: bool = False,
    progress: bool = True,
) -> dict:
    """Read a dataset's splits (default: all it has), compute their statistics, write plots and
    stats.json into out_dir, and return the statistics (print them with `format_stats`)."""
    from . import DATASETS, detect_dataset, read_dataset
    from .paths import resolve_data_root

    if dataset is None:
        dataset = detect_dataset(data_root) if data_root is not None else "cuhk5"
    info = DATASETS.get(dataset)()
    root = resolve_data_root(dataset, data_root)
    names = list(splits) if splits else (info.available_splits(root) or list(info.splits))
    records = {s: read_dataset(dataset, s, data_root=data_root, skip_bad=skip_bad) for s in names}
    stats = {"dataset": dataset, "data_root": str(root)}
    stats.update(compute_stats(records, image_sizes=True, progress=progress))
    write_stat_plots(records, stats, out_dir)
    return stats


def face_measures(
    records: FaceRecords, image_wh: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Per-face arrays behind the statistics and plots: box_width, box_height, box_aspect,
    norm (px), norm_rel (/ box width), roll (deg), yaw, rel_points (N, K, 2) in box
    coordinates (0..1), and outlier masks outside_box, zero_norm; with `image_wh` (N, 2; NaN
    where unknown) also outside_image and box_outside_image."""
    b = records.boxes.astype(np.float64)
    p = records.points.astype(np.float64)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    norm = records.scheme.norm_distance(p) if len(p) else np.zeros(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        m = {
            "box_width": w,
            "box_height": h,
            "box_aspect": w / h,
            "norm": norm,
            "norm_rel": norm / w,
            "rel_points": (p - b[:, None, :2]) / np.stack([w, h], axis=-1)[:, None, :],
        }
    m["roll"], m["yaw"] = pose_proxies(p, records.scheme)
    x, y = p[..., 0], p[..., 1]
    m["outside_box"] = (
        (x < b[:, None, 0]) | (x > b[:, None, 2]) | (y < b[:, None, 1]) | (y > b[:, None, 3])
    ).any(axis=1)
    m["zero_norm"] = ~(norm > 0)
    if image_wh is not None:
        # pixel-centre convention: an image of width W covers x in [-0.5, W - 0.5]
        iw, ih = image_wh[:, 0:1], image_wh[:, 1:2]
        with np.errstate(invalid="ignore"):
            m["outside_image"] = ((x < -0.5) | (y < -0.5) | (x > iw - 0.5) | (y > ih - 0.5)).any(
                axis=1
            )
            m["box_outside_image"] = (
                (b[:, 0] < -0.5)
                | (b[:, 1] < -0.5)
                | (b[:, 2] > iw[:, 0] - 0.5)
                | (b[:, 3] > ih[:, 0] - 0.5)
            )
    return m


def pose_proxies(points: np.ndarray, scheme: Scheme) -> tuple[np.ndarray, np.ndarray]:
    """(roll in degrees, yaw proxy) per face from its 5-point form (dense schemes are projected).

    roll: angle of the line from the image-left eye centre to the other, positive when it runs
    down to the image right (y grows downwards). yaw proxy: the nose tip's offset from the eye
    centres' midpoint, measured along the eye line (so roll does not leak in), divided by the
    eye distance; positive towards the image right, about 0 for a frontal face."""
    p = np.asarray(points, dtype=np.float64)
    n = p.shape[0] if p.ndim == 3 else 1
    try:
        p5 = project(p, scheme, CUHK5).astype(np.float64) if scheme.name != CUHK5.name else p
    except ConfigError:
        nan = np.full(n, np.nan)
        return nan, nan.copy()
    le = p5[..., CUHK5.index("left_eye"), :]
    re = p5[..., CUHK5.index("right_eye"), :]
    nose = p5[..., CUHK5.index("nose"), :]
    d = re - le
    iod = np.linalg.norm(d, axis=-1)
    roll = np.degrees(np.arctan2(d[..., 1], d[..., 0]))
    with np.errstate(divide="ignore", invalid="ignore"):
        yaw = ((nose - (le + re) / 2) * d).sum(axis=-1) / (iod * iod)
    return roll, yaw


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image as `facepoints.io.load_image` would return it (EXIF rotation
    applied), from its header only; raises OSError/ValueError for unreadable files."""
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
        try:
            orientation = im.getexif().get(0x0112, 1)
        except Exception:  # a broken EXIF block: load_image would ignore it too
            orientation = 1
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


# --- helpers ------------------------------------------------------------------------------------


def _read_sizes(
    splits: dict[str, FaceRecords], progress: bool
) -> dict[Path, tuple[int, int] | None]:
    paths = list(dict.fromkeys(p for recs in splits.values() for p in recs.images))
    it = paths
    if progress:
        from tqdm import tqdm

        it = tqdm(paths, desc="image headers", unit="img", leave=False)
    out: dict[Path, tuple[int, int] | None] = {}
    for p in it:
        try:
            out[p] = image_size(p)
        except Exception:  # counted as unreadable; the report names them
            out[p] = None
    return out


def _face_sizes(recs: FaceRecords, sizes: dict[Path, tuple[int, int] | None]) -> np.ndarray:
    nan = (np.nan, np.nan)
    return np.array([sizes.get(p) or nan for p in recs.images], dtype=np.float64).reshape(-1, 2)


def _group_stats(
    recs: list[FaceRecords],
    ms: list[dict[str, np.ndarray]],
    sizes: dict[Path, tuple[int, int] | None] | None,
) -> dict:
    scheme = recs[0].scheme
    cat = {k: np.concatenate([m[k] for m in ms]) for k in ms[0]}
    images = [p for r in recs for p in r.images]
    names = [_display_name(p) for p in images]
    n = len(images)
    g: dict = {
        "faces": n,
        "images": len(set(images)),
        "skipped_lines": sum(len(r.skipped) for r in recs),
        "sources": dict(Counter(s for r in recs for s in r.sources).most_common()),
    }
    if sizes is not None:
        uniq = list(dict.fromkeys(images))
        known = [sizes[p] for p in uniq if sizes.get(p) is not None]
        counts = Counter(f"{w}x{h}" for w, h in known)
        g["image_sizes"] = {
            "distinct": len(counts),
            "counts": dict(counts.most_common()),
            "width": _summary(np.array([w for w, _ in known], dtype=np.float64)),
            "height": _summary(np.array([h for _, h in known], dtype=np.float64)),
            "unreadable": len(uniq) - len(known),
            "unreadable_examples": [_display_name(p) for p in uniq if sizes.get(p) is None][
                :_MAX_EXAMPLES
            ],
        }
    else:
        g["image_sizes"] = None
    g["box"] = {
        "width": _summary(cat["box_width"]),
        "height": _summary(cat["box_height"]),
        "aspect": _summary(cat["box_aspect"]),
    }
    g["norm_distance"] = {
        "pixels": _summary(cat["norm"]),
        "relative_to_box_width": _summary(cat["norm_rel"]),
    }
    rel = cat["rel_points"]
    ok = np.isfinite(rel).all(axis=(1, 2))
    mean = rel[ok].mean(axis=0) if ok.any() else np.full((scheme.num_points, 2), np.nan)
    std = rel[ok].std(axis=0) if ok.any() else mean
    g["landmarks"] = {
        "mean": [[_r(x), _r(y)] for x, y in mean],
        "std": [[_r(x), _r(y)] for x, y in std],
        "groups": {k: list(v) for k, v in scheme.groups.items()},
    }
    has_pose = np.isfinite(cat["roll"]).any()
    g["pose"] = {
        "roll_deg": _summary(cat["roll"]) if has_pose else None,
        "yaw_proxy": _summary(cat["yaw"]) if has_pose else None,
        "abs_roll_over_15deg": int((np.abs(cat["roll"]) > 15).sum()),
        "abs_yaw_over_0.25": int((np.abs(cat["yaw"]) > 0.25).sum()),
    }
    g["outliers"] = {
        "outside_box": _outliers(cat["outside_box"], names),
        "outside_image": _outliers(cat["outside_image"], names) if sizes is not None else None,
        "box_outside_image": (
            _outliers(cat["box_outside_image"], names) if sizes is not None else None
        ),
        "zero_norm_distance": _outliers(cat["zero_norm"], names),
    }
    attrs: dict[str, int] = {}
    any_flag = np.zeros(n, dtype=bool)
    has_attrs = any(r.attributes for r in recs)
    for k in dict.fromkeys(k for r in recs for k in r.attributes):
        flags = np.concatenate([r.attributes.get(k, np.zeros(len(r), dtype=bool)) for r in recs])
        attrs[k] = int(flags.sum())
        any_flag |= flags
    g["attributes"] = attrs
    g["no_attribute"] = int((~any_flag).sum()) if has_attrs else None
    return g


def _summary(v: np.ndarray) -> dict | None:
    v = np.asarray(v, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None
    q = np.percentile(v, _PERCENTILES)
    out = {"n": int(v.size), "mean": _r(v.mean()), "std": _r(v.std()), "min": _r(v.min())}
    out.update(
        {(f"p{p}" if p != 50 else "median"): _r(x) for p, x in zip(_PERCENTILES, q, strict=True)}
    )
    out["max"] = _r(v.max())
    return out


def _outliers(mask: np.ndarray, names: list[str]) -> dict:
    idx = np.flatnonzero(mask)
    return {"faces": int(idx.size), "examples": [names[i] for i in idx[:_MAX_EXAMPLES]]}


def _r(x: float) -> float:
    x = float(x)
    return float(f"{x:.6g}") if np.isfinite(x) else x


def _display_name(p: Path) -> str:
    p = Path(p)
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


def _top_keys(dicts: list[dict[str, int]], limit: int) -> list[str]:
    """The most frequent keys over all groups (the pooled group counts), `limit` at most, plus
    "other" for the rest."""
    total: Counter = Counter()
    for d in dicts:
        total.update({k: v for k, v in d.items()})
    keys = [k for k, _ in total.most_common()]
    return keys if len(keys) <= limit else keys[: limit - 1] + ["other"]


def _other(d: dict[str, int], key: str, shown: list[str]) -> int:
    if key == "other" and key not in d:
        return sum(v for k, v in d.items() if k not in shown)
    return d.get(key, 0)


def _int(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"


def _num(v: float | None, fmt: str) -> str:
    return "-" if v is None else fmt.format(v)


def _pct(k: int | None, n: int) -> str:
    if k is None:
        return "-"
    return f"{k:,} ({100 * k / n:.1f}%)" if n else f"{k:,}"


def _table(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    """Aligned text table: the first `left` columns left-aligned, the rest right-aligned."""
    widths = [max(len(str(r[c])) for r in [header, *rows]) for c in range(len(header))]

    def line(r: list[str]) -> str:
        cells = [
            str(v).ljust(w) if c < left else str(v).rjust(w)
            for c, (v, w) in enumerate(zip(r, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    return "\n".join([line(header)] + [line(r) for r in rows])


def _norm_label(scheme: Scheme) -> str:
    a = "+".join(scheme.names[i] for i in scheme.norm_pair[0])
    b = "+".join(scheme.names[i] for i in scheme.norm_pair[1])
    return f"{a} to {b}"


def _point_colors(scheme: Scheme) -> np.ndarray:
    """(K, 4) RGBA in 0..1: one colour per landmark for small schemes, else the group colours
    `facepoints data show` draws with."""
    from matplotlib import colormaps

    if scheme.num_points <= 10:
        return np.array([colormaps["tab10"](i) for i in range(scheme.num_points)])
    from ..draw import group_colors

    rgb = group_colors(scheme).astype(np.float64) / 255
    return np.concatenate([rgb, np.ones((len(rgb), 1))], axis=1)


def _group_legend(ax, scheme: Scheme, colors: np.ndarray) -> None:
    if scheme.num_points <= 10:
        return
    from matplotlib.lines import Line2D

    groups = scheme.group_of()
    handles = [
        Line2D([], [], marker="o", linestyle="", color=colors[groups.index(g)], label=g)
        for g in dict.fromkeys(groups)
    ]
    ax.legend(handles=handles, fontsize=8, loc="lower right")


def _box_axes(ax, rel: np.ndarray) -> None:
    if len(rel):
        lo = np.minimum(np.nanpercentile(rel.reshape(-1, 2), 0.1, axis=0), 0) - 0.05
        hi = np.maximum(np.nanpercentile(rel.reshape(-1, 2), 99.9, axis=0), 1) + 0.05
    else:
        lo, hi = np.array([-0.05, -0.05]), np.array([1.05, 1.05])
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(hi[1], lo[1])  # image y grows downwards
    ax.set_aspect("equal")
    ax.set_xlabel("(x - x1) / box width")
    ax.set_ylabel("(y - y1) / box height")
