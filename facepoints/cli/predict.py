"""`facepoints predict SOURCE...`: landmarks on image files, folders, videos or a camera, written as
annotated images and one JSON (one image) or JSONL (several) file, each result as it is made
(facepoints.inference.predict does the work; facepoints/inference/schema.md has the record).

Exit codes (docs/reliability.md): 0 every input processed (an image without faces is a result);
1 some inputs failed (each listed on stderr, one line each; the others are still processed and
written); 2 a usage error (bad option, unknown model or detector, nothing to do, an output that
would overwrite an input or cannot be written); 3 a bad --boxes-from file; 6 the model cannot be
loaded."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from .common import add_landmarker_options, landmarker_from_args


def register(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="landmarks on images, folders, videos or a camera",
        description="Find faces and their landmarks; write annotated images and JSON/JSONL "
        "(schema: facepoints/inference/schema.md), each result as soon as it is made. Exit 0: "
        "all inputs processed; 1: some failed (listed on stderr); 2: usage error.",
    )
    p.add_argument("sources", nargs="*", metavar="SOURCE", help="image files, folders, videos")
    add_landmarker_options(p, faces=True)
    p.add_argument("--out", default="runs/predict", help="output folder (default runs/predict)")
    p.add_argument(
        "--save",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write annotated images (default: yes)",
    )
    p.add_argument(
        "--json",
        dest="json_path",
        help="results file (default OUT/predictions.json for one image, else "
        "OUT/predictions.jsonl); a .jsonl path gets one record per line",
    )
    p.add_argument(
        "--boxes-from",
        help="face boxes to use instead of the detector: a JSON/JSONL written by predict, or "
        "text lines 'image x1 y1 x2 y2' (images not listed are detected)",
    )
    p.add_argument("--recursive", action="store_true", help="look into subfolders of folders")
    p.add_argument("--camera", type=int, metavar="N", help="run on camera N (needs video support)")
    p.add_argument("--demo", action="store_true", help="run on the shipped demo photo")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="processes that decode images and find faces while the model runs on the faces "
        "of several images at once (0: all in this process; default: one per CPU core, up to "
        "4, for 8 images or more)",
    )
    p.add_argument("--no-refine", action="store_true", help="one pass per face, no refinement")
    p.add_argument(
        "--mirror",
        choices=("auto", "on", "off"),
        default="auto",
        help="also run each face mirrored and average the two: lower error, twice the model's "
        "time (auto: on for dense98)",
    )
    p.add_argument(
        "--parts",
        choices=("auto", "on", "off"),
        default="auto",
        help="look again at each part of the face (eyes, brows, mouth, jaw) on finer patches "
        "and blend the part refiners' points in (on: dense98 with --scheme 68; auto: off for "
        "every shipped model so far)",
    )
    p.add_argument(
        "--tta",
        action="store_true",
        help="also cut each face at four more box scales and average the five (on the last "
        "pass): about 4%% lower error, three times a detected face's time",
    )
    p.add_argument(
        "--scheme",
        metavar="S",
        help="points as 5, 68 or 98 (cuhk5, ibug68, wflw98) where the model gives them "
        "(default: the model's own; dense98 gives all three)",
    )
    p.add_argument(
        "--min-confidence",
        type=float,
        default=None,
        metavar="C",
        help="draw points whose confidence is below C as hollow rings (default 0.5; 0 draws "
        "every point filled)",
    )
    p.add_argument(
        "--numbers", action="store_true", help="write each point's index beside it (images)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=_predict)


def _predict(a: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..inference.predict import plan_inputs, predict_inputs, read_boxes

    if not a.sources and not a.demo and a.camera is None:
        raise ConfigError("nothing to do: give images, folders or videos, or --demo or --camera N")
    if a.threads is not None and a.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {a.threads}")
    if a.workers is not None and a.workers < 0:
        raise ConfigError(f"--workers must be >= 0, got {a.workers}")
    if a.min_confidence is not None and not (
        math.isfinite(a.min_confidence) and 0 <= a.min_confidence <= 1
    ):
        raise ConfigError(f"--min-confidence must be in [0, 1], got {a.min_confidence}")
    out = Path(a.out)
    inputs, results = plan_inputs(
        a.sources,
        out,
        recursive=a.recursive,
        demo=a.demo,
        json_path=Path(a.json_path) if a.json_path else None,
        camera=a.camera,
    )
    boxes = read_boxes(Path(a.boxes_from)) if a.boxes_from else None
    mirror = {"auto": None, "on": True, "off": False}[a.mirror]
    parts = {"auto": None, "on": True, "off": False}[a.parts]
    lm = landmarker_from_args(
        a,
        refine=False if a.no_refine else "auto",
        scheme=a.scheme,
        mirror=mirror,
        tta=a.tta,
        parts=parts,
    )
    summary = predict_inputs(
        lm,
        inputs,
        out,
        results,
        save=a.save,
        boxes=boxes,
        camera=a.camera,
        workers=a.workers,
        min_confidence=a.min_confidence,
        numbers=a.numbers,
        progress=not a.no_progress,
    )
    print(summary.line(out))
    return 1 if summary.failures else 0
