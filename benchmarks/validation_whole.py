"""Models on the validation faces of the training sets, the way users meet them: whole photos
through the default detector (misses count as failures), and the sets' own boxes. For choosing
between models and recipes without looking at test faces.

    .venv/bin/python benchmarks/validation_whole.py cuhk5-fast runs/cuhk5-fast-wild

Validation faces: the seeded 10% (seed 0) of CUHK train, 300-W train (HELEN trainset and AFW)
and the WFLW sample's tune half that training holds out, each in the scheme the models share with
it (5-point models: CUHK's five points, NME by the eye centres).

Dense models: `--compare ibug68 --sets 300-W,"WFLW tune"` (CUHK has only five points), and
`--mirror` to average every model with its mirror image as `dense98` does by default (a run
folder of another name would not). The WFLW rows add the large-pose faces' own figures.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"

# (label, dataset, split, folder)
SETS = (
    ("CUHK", "cuhk5", "train", "cuhk5"),
    ("300-W", "300w", "train", "300w"),
    ("WFLW tune", "wflw98", "tune", "wflw_sample"),
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("models", nargs="+")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--compare", default="cuhk5", help="scheme the points are compared in")
    p.add_argument("--sets", help="comma-separated labels of the sets to run (default: all)")
    p.add_argument("--mirror", action="store_true", help="every model averaged with its mirror")
    a = p.parse_args(argv)
    sets = [s for s in SETS if a.sets is None or s[0] in a.sets.split(",")]

    from facepoints import FaceLandmarker
    from facepoints.data import read_dataset
    from facepoints.evaluation.metrics import nme_per_face
    from facepoints.evaluation.wild import _model_source, _score
    from facepoints.io import load_image
    from facepoints.schemes import get_scheme, project

    compare = get_scheme(a.compare)
    print(
        "| model | set | faces | whole photos: found | NME | FR@10% (misses fail) | "
        "given boxes: NME | FR@10% |"
    )
    print("|---|---|--:|--:|--:|--:|--:|--:|")
    mirror = True if a.mirror else None
    for label, dataset, split, folder in sets:
        val = read_dataset(dataset, split, SHARED / folder).split(a.val_fraction, a.seed)[1]
        photos = sorted({str(x) for x in val.images})
        truth = project(val.points, val.scheme, compare)
        for model in a.models:
            src = _model_source(model, None, mirror=mirror)
            row = _score(src, val, photos, False, compare.name)
            lm = FaceLandmarker(model, threads=1, scheme=compare.name, mirror=mirror)
            pred = np.stack(
                [
                    lm.landmarks(load_image(img), np.asarray(box)[None])[0]
                    for img, box in zip(val.images, val.boxes, strict=True)
                ]
            )
            e = nme_per_face(pred, truth, compare)
            print(
                f"| {model} | {label} | {len(val)} | {row['found']} | {100 * row['nme']:.2f}% | "
                f"{100 * row['fr']:.1f}% | {100 * float(np.mean(e)):.2f}% | "
                f"{100 * float(np.mean(e > 0.1)):.1f}% |",
                flush=True,
            )
            pose = val.attributes.get("largepose")
            if pose is not None and pose.any():
                whole = row["attributes"]["largepose"]
                print(
                    f"| {model} | {label}, large pose | {int(pose.sum())} | "
                    f"{whole['n'] - whole['missed']} | {100 * whole['nme']:.2f}% | "
                    f"{100 * whole['fr']:.1f}% | {100 * float(np.mean(e[pose])):.2f}% | "
                    f"{100 * float(np.mean(e[pose] > 0.1)):.1f}% |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
