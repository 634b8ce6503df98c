"""Models on the validation faces of the training sets, the way users meet them: whole photos
through the default detector (misses count as failures), and the sets' own boxes. For choosing
between models and recipes without looking at test faces.

    .venv/bin/python benchmarks/validation_whole.py cuhk5-fast runs/cuhk5-fast-wild

Validation faces: the seeded 10% (seed 0) of CUHK train, 300-W train (HELEN trainset and AFW)
and the WFLW sample's tune half that training holds out, each in the scheme the models share with
it (5-point models: CUHK's five points, NME by the eye centres).

Dense models: `--compare ibug68 --sets 300-W,"WFLW tune all"` (CUHK has only five points), and
`--mirror` to average every model with its mirror image as `dense98` does by default (a run
folder of another name would not); `--tta` to average each over box scales (`tta=True`). The WFLW rows add the large-pose faces' own figures.

"300-W turned" (`--sets "300-W turned"`): the 300-W validation faces turned 25 to 45 degrees
aside, made once by `facepoints data turn --data-root ../shared/data/300w --of validation --out
runs/300w-turned-val`; large poses that no training saw. "300-W pitched": the same faces also
nodding up or down, `facepoints data turn --data-root ../shared/data/300w --of validation --yaw
0,40 --pitch 10,25 --out runs/300w-pitched-val`. "300-W profile": the same faces turned 45 to 75
degrees, the far jaw on the outline, `facepoints data turn --data-root ../shared/data/300w --of
validation --yaw 45,75 --outline --out runs/300w-profile-val`.
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

# (label, dataset, split, folder, fraction of it: None = --val-fraction)
SETS = (
    ("CUHK", "cuhk5", "train", "cuhk5", None),
    ("300-W", "300w", "train", "300w", None),
    ("WFLW tune", "wflw98", "tune", "wflw_sample", None),
    # all of the tune half: for a dense model's 68-point block, which never learns from it (the
    # model's 98-point block does, so it is not a clean validation set for the 98 points)
    ("WFLW tune all", "wflw98", "tune", "wflw_sample", 1.0),
    # turned copies of the 300-W validation faces (`facepoints data turn` on them, below): large
    # poses no model trained on, for choosing what helps posed faces
    ("300-W turned", "300w", "train", str(ROOT / "runs" / "300w-turned-val"), 1.0),
    # the same faces nodding 10 to 25 degrees up or down as well (yaw 0 to 40 degrees)
    ("300-W pitched", "300w", "train", str(ROOT / "runs" / "300w-pitched-val"), 1.0),
    # turned 45 to 75 degrees, the far jaw moved onto the face's outline (`--outline`)
    ("300-W profile", "300w", "train", str(ROOT / "runs" / "300w-profile-val"), 1.0),
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("models", nargs="+")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--compare", default="cuhk5", help="scheme the points are compared in")
    p.add_argument("--sets", help="comma-separated labels of the sets (default: the first three)")
    p.add_argument("--mirror", action="store_true", help="every model averaged with its mirror")
    p.add_argument("--tta", action="store_true", help="every model averaged over box scales")
    p.add_argument(
        "--scheme",
        help="the points the models give on whole photos (default: their own; e.g. ibug68 for "
        "dense98's 300-W block, as `bench --scheme ibug68`); given boxes: the compared scheme",
    )
    p.add_argument("--parts", action="store_true", help="models with their part refiners")
    p.add_argument("--precision", default="float32", help="float32, or int8 (shipped int8 files)")
    a = p.parse_args(argv)
    sets = [s for s in SETS if (s[4] is None if a.sets is None else s[0] in a.sets.split(","))]

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
    for label, dataset, split, folder, fraction in sets:
        records = read_dataset(dataset, split, SHARED / folder)  # an absolute folder stays
        val = records.split(fraction or a.val_fraction, a.seed)[1]
        photos = sorted({str(x) for x in val.images})
        truth = project(val.points, val.scheme, compare)
        for model in a.models:
            parts = True if a.parts else None
            src = _model_source(model, None, a.scheme, mirror, a.precision, a.tta, parts)
            row = _score(src, val, photos, False, compare.name)
            lm = FaceLandmarker(
                model,
                threads=1,
                scheme=compare.name,
                mirror=mirror,
                precision=a.precision,
                tta=a.tta,
                parts=parts,
            )
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
