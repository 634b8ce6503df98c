"""`facepoints eval`: NME, FR, AUC, CED and pictures for one or more models on a split."""

from __future__ import annotations

import argparse

from .common import add_data_options


def register(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate models on an annotated split (NME, FR, AUC, CED, pictures)",
        description="Evaluate one or more models (shipped names, .safetensors, .pt checkpoints "
        "or run folders) on the same faces; several models share one table and one CED plot.",
    )
    p.add_argument("models", nargs="*", help="models to compare (default: the shipped default)")
    add_data_options(p)
    p.set_defaults(split="test")
    p.add_argument(
        "--boxes",
        default="given",
        metavar="SOURCE",
        help="where the crops come from: given (the dataset's boxes; default); points (a "
        "CUHK-convention box from the annotated eyes, nose and mouth: ground truth places the "
        "crop, an upper bound of detection); detector or detector:NAME (detected faces matched "
        "to the annotated ones; missed faces are counted and left out of the metrics)",
    )
    p.add_argument(
        "--norm",
        default="inter-ocular",
        help="normalising distance: inter-ocular (default: the compared scheme's pair; 5 points: "
        "the eye centres, from WFLW's pupils 96-97; 98 points: WFLW's outer eye corners 60-72), "
        "inter-pupil (eye centres), box, box-diagonal (the dataset's boxes)",
    )
    p.add_argument(
        "--thresholds", default="0.10", help="comma-separated failure thresholds (default 0.10)"
    )
    p.add_argument("--flip", action="store_true", help="flip test-time augmentation")
    p.add_argument("--max-faces", type=int, help="evaluate only the first N faces")
    p.add_argument("--grid", type=int, default=16, help="random faces drawn (default 16)")
    p.add_argument("--worst", type=int, default=16, help="worst faces drawn (default 16)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--out", default="runs/eval", help="output folder (default runs/eval)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.set_defaults(handler=_eval)


def _eval(a: argparse.Namespace) -> int:
    import torch

    from ..evaluation.evaluate import evaluate
    from ..models.pretrained import DEFAULT_MODEL

    if a.threads:
        torch.set_num_threads(a.threads)
    res = evaluate(
        a.models or [DEFAULT_MODEL],
        data_root=a.data_root,
        dataset=a.dataset,
        split=a.split,
        norm=a.norm,
        thresholds=tuple(float(t) for t in a.thresholds.split(",")),
        flip=a.flip,
        out_dir=a.out,
        grid=a.grid,
        worst=a.worst,
        seed=a.seed,
        max_faces=a.max_faces,
        batch_size=a.batch_size,
        skip_bad=a.skip_bad,
        boxes=a.boxes,
    )
    print(res["table"])
    print(f"\nwrote metrics.json, table.md, ced.png and pictures to {res['out_dir']}")
    return 0
