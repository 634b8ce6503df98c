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
    sh.set_defaults(handler=_show)


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
    )
    print(f"wrote {path}")
    return 0
