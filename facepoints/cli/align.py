"""`facepoints align PATH...`: aligned face chips (the 112x112 face-recognition template, or the
whole face at any size), one PNG per face below --out, named <image>_<face>.png (best face 0).

Exit codes: 0 every input processed (an image without faces gives no chip); 1 some inputs failed
(each listed on stderr, one line each); 2 a usage error."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import add_landmarker_options, landmarker_from_args


def register(sub) -> None:
    p = sub.add_parser(
        "align",
        help="aligned face chips (112x112 recognition template, or the whole face)",
        description="Find faces and write each as an aligned chip: one similarity transform of "
        "its points onto a template, one resampling of the original pixels. Exit 0: all inputs "
        "processed; 1: some failed; 2: usage error.",
    )
    p.add_argument("sources", nargs="*", metavar="PATH", help="image files and folders")
    add_landmarker_options(p, faces=True)
    p.add_argument("--out", default="runs/align", help="output folder (default runs/align)")
    p.add_argument(
        "--template",
        default="arcface",
        help="arcface (112x112 face recognition, the default) or face (the whole face, 256)",
    )
    p.add_argument("--size", type=int, metavar="PX", help="chip side (default: the template's)")
    p.add_argument(
        "--padding",
        type=float,
        default=0.0,
        help="border around the template, a fraction of its side on each side (default 0)",
    )
    p.add_argument("--recursive", action="store_true", help="look into subfolders of folders")
    p.add_argument("--demo", action="store_true", help="run on the shipped demo photo")
    p.set_defaults(handler=_align)


def _align(a: argparse.Namespace) -> int:
    from ..analysis.align import TEMPLATES, face_chips
    from ..errors import ConfigError
    from ..inference.sources import check_outputs, collect_inputs, load_input, one_line
    from ..io import save_image

    if not a.sources and not a.demo:
        raise ConfigError("nothing to do: give images or folders, or --demo")
    TEMPLATES.get(a.template).target(a.size, a.padding)  # a bad option fails before any work
    out = Path(a.out)
    inputs = collect_inputs(a.sources, a.recursive, out, a.demo)
    check_outputs(inputs, out)
    lm = landmarker_from_args(a)
    failed = written = 0
    for item in inputs:
        try:
            rgb = load_input(item)
            faces = lm.detect(rgb)
            chips = face_chips(rgb, faces, a.template, a.size, a.padding)
            for i, chip in enumerate(chips):
                dest = out / item.dest.parent / f"{item.dest.stem}_{i}.png"
                save_image(dest, chip)
                written += 1
            print(f"{item.label}: {len(chips)} chip(s)")
        except Exception as e:  # one input's failure never stops the others
            failed += 1
            print(f"facepoints: error: {item.label}: {one_line(e, item.label)}", file=sys.stderr)
    print(f"{written} chip(s) from {len(inputs) - failed} input(s) -> {out}")
    return 1 if failed else 0
