"""`facepoints data ...`: download, prepare, stats, show."""

from __future__ import annotations

import argparse

from .common import add_data_options


def register(sub) -> None:
    p = sub.add_parser("data", help="get, analyse and look at datasets")
    dsub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    dsub.required = True

    d = dsub.add_parser("download", help="download a dataset's official archive and unpack it")
    d.add_argument("name", help="dataset name, e.g. cuhk5 or wflw")
    d.add_argument("--data-root", help="where to unpack (default: the user data folder)")
    d.add_argument("--url", help="download from this URL instead of the official one (a mirror)")
    d.add_argument("--sha256", help="expected SHA-256 of the archive")
    d.add_argument("--overwrite", action="store_true", help="replace an incomplete dataset folder")
    d.add_argument("--no-progress", action="store_true")
    d.set_defaults(handler=_download)

    pr = dsub.add_parser("prepare", help="unpack a dataset from a local archive or folder")
    pr.add_argument(
        "--from",
        dest="source",
        required=True,
        action="append",
        help="a .zip/.tar.gz, or a folder (with the layout or the archives); repeat for several",
    )
    pr.add_argument("--dataset", help="dataset name (default: recognised from the source)")
    pr.add_argument("--link", action="store_true", help="symlink a source folder's files")
    pr.add_argument("--overwrite", action="store_true", help="replace an incomplete dataset folder")
    pr.add_argument("--data-root", help="where to unpack (default: the user data folder)")
    pr.add_argument("--no-progress", action="store_true")
    pr.set_defaults(handler=_prepare)

    s = dsub.add_parser("stats", help="print dataset statistics and write plots")
    add_data_options(s, split=False)
    s.add_argument("--splits", help="comma-separated splits (default: all)")
    s.add_argument("--out", default="runs/stats", help="folder for plots and stats.json")
    s.set_defaults(handler=_stats)

    sh = dsub.add_parser("show", help="draw boxes and numbered landmarks on a grid of faces")
    add_data_options(sh)
    sh.add_argument("--count", type=int, default=16, help="number of faces (default 16)")
    sh.add_argument("--seed", type=int, default=0)
    sh.add_argument("--images", nargs="+", help="specific images (file names or relative paths)")
    sh.add_argument("--out", default="runs/show.jpg", help="output image")
    sh.add_argument(
        "--augment",
        choices=("standard", "wild"),
        help="show training crops under this augmentation instead (a row per draw)",
    )
    sh.set_defaults(handler=_show)

    ft = dsub.add_parser(
        "fit-teachers",
        help="fit the dense teachers' box, mesh map and fusion on human labels",
        description="Fit what the 68-point teachers (dlib68, mediapipe) need: dlib's box "
        "adapter on CUHK training faces, and on the WFLW sample's tune half the mesh vertex "
        "and fusion weight of each point. Writes facepoints/peers/teachers.json (or --out).",
    )
    ft.add_argument("--cuhk-root", required=True, help="the cuhk5 folder (its training list)")
    ft.add_argument("--wflw-root", required=True, help="the WFLW folder (its sample's tune half)")
    ft.add_argument("--fit-faces", type=int, default=300, help="CUHK faces for dlib's box")
    ft.add_argument("--out", help="where to write (default: the shipped teachers.json)")
    ft.set_defaults(handler=_fit_teachers)

    pl = dsub.add_parser(
        "pseudolabel",
        help="label a dataset's faces with 68 points from teacher models",
        description="Run the teachers over every face of a dataset's splits (with its boxes) and "
        "write OUT/labels.txt: fused 68 points, the teachers' disagreement, the error against "
        "the dataset's own 5 human points and a status (ok / disagree / human / single). "
        "Resumes an interrupted run; a finished one is reused.",
    )
    pl.add_argument("--data-root", help="the dataset folder (default: the user data folder)")
    pl.add_argument("--dataset", default="cuhk5", help="dataset name (default: cuhk5)")
    pl.add_argument("--splits", default="train,test", help="comma-separated (default train,test)")
    pl.add_argument(
        "--teacher", default="dlib68,mediapipe", help="teachers (default: dlib68,mediapipe)"
    )
    pl.add_argument("--max-disagreement", type=float, default=0.10, help="(default 0.10)")
    pl.add_argument("--max-human-error", type=float, default=0.10, help="(default 0.10)")
    pl.add_argument(
        "--max-faces", type=int, help="only the first N faces of each split (a quick look)"
    )
    pl.add_argument("--out", default="runs/pseudo68", help="output folder (default runs/pseudo68)")
    pl.add_argument("--force", action="store_true", help="redo a finished or partial run")
    pl.add_argument("--no-progress", action="store_true")
    pl.set_defaults(handler=_pseudolabel)

    tu = dsub.add_parser(
        "turn",
        help="make turned copies of 300-W training faces (large poses, labels moved along)",
        description="Turn each 300-W training face away from the camera about its own vertical "
        "axis (a mean 3D face fitted to its 68 points gives their depths), warp the photo to "
        "follow and write the copies, with their moved points, as a 300-W folder (dataset 300w, "
        "split train). Only the training faces are turned, never the validation faces (the "
        "seeded --val-fraction that training holds out); --of validation turns only those, to "
        "measure on. Rerunning skips the faces already made.",
    )
    tu.add_argument("--data-root", help="the 300w folder (default: the user data folder)")
    tu.add_argument("--out", default="runs/300w-turned", help="output folder")
    tu.add_argument("--per-face", type=int, default=2, help="copies per face (default 2)")
    tu.add_argument(
        "--yaw", default="25,45", help="the copies' yaw range, degrees either side (default 25,45)"
    )
    tu.add_argument(
        "--pitch",
        default="0,0",
        help="the copies' nod range, degrees up or down (default 0,0: none), e.g. 10,25",
    )
    tu.add_argument(
        "--outline",
        action="store_true",
        help="move the far side's hidden jaw points onto the face's outline, as dense markups "
        "draw faces seen from the side; lets --yaw go to 75",
    )
    tu.add_argument("--val-fraction", type=float, default=0.1, help="as training's (default 0.1)")
    tu.add_argument("--seed", type=int, default=0, help="training's split seed and the turns'")
    tu.add_argument("--max-faces", type=int, help="only the first N training faces (a quick look)")
    tu.add_argument(
        "--of",
        choices=("train", "validation"),
        default="train",
        help="turn the training faces (default), or the validation faces, to measure on",
    )
    tu.add_argument("--no-progress", action="store_true")
    tu.set_defaults(handler=_turn)


def _download(a: argparse.Namespace) -> int:
    from ..data.download import download_dataset

    root = download_dataset(
        a.name,
        data_root=a.data_root,
        url=a.url,
        sha256=a.sha256,
        progress=not a.no_progress,
        overwrite=a.overwrite,
        say=_say,
    )
    print(f"{a.name} is ready at {root}")
    return 0


def _prepare(a: argparse.Namespace) -> int:
    from ..data.download import detect_source, prepare_dataset

    source = a.source[0] if len(a.source) == 1 else a.source
    name = a.dataset or detect_source(source)
    root = prepare_dataset(
        name,
        source,
        data_root=a.data_root,
        progress=not a.no_progress,
        link=a.link,
        overwrite=a.overwrite,
        say=_say,
    )
    print(f"{name} is ready at {root}")
    return 0


def _say(message: str) -> None:
    import sys

    print(message, file=sys.stderr)


def _stats(a: argparse.Namespace) -> int:
    from ..data.stats import dataset_stats, format_stats

    splits = a.splits.split(",") if a.splits else None
    stats = dataset_stats(
        data_root=a.data_root, dataset=a.dataset, splits=splits, out_dir=a.out, skip_bad=a.skip_bad
    )
    print(format_stats(stats))
    print(f"plots and stats.json written to {a.out}")
    return 0


def _show(a: argparse.Namespace) -> int:
    from ..data.show import data_show

    path = data_show(
        data_root=a.data_root,
        dataset=a.dataset,
        split=a.split,
        out=a.out,
        count=a.count,
        seed=a.seed,
        images=a.images,
        skip_bad=a.skip_bad,
        augment=a.augment,
    )
    print(f"wrote {path}")
    return 0


def _fit_teachers(a: argparse.Namespace) -> int:
    import json

    from ..data import read_dataset
    from ..peers.teachers import fit_teachers, write_teacher_config

    cuhk = read_dataset("cuhk5", "train", a.cuhk_root)
    tune = read_dataset("wflw68", "tune", a.wflw_root)
    cfg = fit_teachers(tune, cuhk, fit_faces=a.fit_faces)
    path = write_teacher_config(cfg, a.out)
    print(json.dumps(cfg["tune_nme"], indent=1))
    print(f"wrote {path}")
    return 0


def _turn(a: argparse.Namespace) -> int:
    from ..data import read_dataset
    from ..data.profiling import MAX_PITCH, MAX_YAW, MAX_YAW_OUTLINE, write_turned
    from ..errors import ConfigError

    lo, hi = _degrees_range("--yaw", a.yaw, MAX_YAW_OUTLINE if a.outline else MAX_YAW, "25,45")
    pitch = _degrees_range("--pitch", a.pitch, MAX_PITCH, "10,25")
    if a.per_face < 1:
        raise ConfigError(f"--per-face must be >= 1, got {a.per_face}")
    parts = read_dataset("300w", "train", a.data_root).split(a.val_fraction, a.seed)
    train = parts[0] if a.of == "train" else parts[1]
    if a.max_faces:
        train = train.subset(slice(0, a.max_faces))
    n = write_turned(
        train,
        a.out,
        per_face=a.per_face,
        yaw_range=(lo, hi),
        seed=a.seed,
        progress=not a.no_progress,
        pitch_range=pitch,
        outline=a.outline,
    )
    print(f"{n} turned faces from {len(train)} {a.of} faces in {a.out}")
    return 0


def _degrees_range(flag: str, text: str, most: float, example: str) -> tuple[float, float]:
    """(low, high) degrees from "LOW,HIGH", with 0 <= low <= high <= `most`."""
    from ..errors import ConfigError

    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"{flag} {text}: give two numbers, e.g. {example}") from None
    if not 0 <= lo <= hi <= most:
        raise ConfigError(f"{flag} {text}: want 0 <= low <= high <= {most:g} degrees")
    return lo, hi


def _pseudolabel(a: argparse.Namespace) -> int:
    from ..data import read_dataset
    from ..data.paths import resolve_data_root
    from ..errors import ConfigError

    wanted = [t.strip() for t in a.teacher.split(",") if t.strip()]
    if sorted(wanted) != ["dlib68", "mediapipe"]:
        raise ConfigError(
            f"--teacher {a.teacher}: the teachers are dlib68,mediapipe (both, fused per point)"
        )
    from ..data.pseudolabel import pseudolabel
    from ..peers.teachers import Teachers

    splits = [s.strip() for s in a.splits.split(",") if s.strip()]
    records = [read_dataset(a.dataset, s, a.data_root) for s in splits]
    if a.max_faces:
        records = [r.subset(slice(0, a.max_faces)) for r in records]
    root = resolve_data_root(a.dataset, a.data_root)
    path = pseudolabel(
        records,
        a.out,
        images_root=root,
        teachers=Teachers(),
        source=f"{a.dataset} {','.join(splits)}",
        max_disagreement=a.max_disagreement,
        max_human_error=a.max_human_error,
        force=a.force,
        progress=not a.no_progress,
    )
    from ..data.pseudolabel import read_pseudolabels

    faces = read_pseudolabels(path, status=None)
    counts = {s: faces.sources.count(s) for s in sorted(set(faces.sources))}
    print(f"{len(faces)} faces: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    print(f"wrote {path}")
    return 0
