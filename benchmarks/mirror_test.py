"""What averaging each face with its mirror image (`FaceLandmarker(mirror=True)`) buys, or (with
`--tta`) averaging it over box scales (`tta=True`, the mirror as the model's default), on the
validation faces of a model's own training sets (never test faces): NME with and without it,
and the time a face takes either way.

    .venv/bin/python benchmarks/mirror_test.py --model dense98
    .venv/bin/python benchmarks/mirror_test.py --model dense98 --tta [--precision int8]

Validation faces: the seeded 10% of each training set that training held out (300-W train,
CUHK train, the WFLW sample's tune half), each measured in its own markup, the set's boxes with
the second pass on (as for detected faces).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"

# (label, dataset, split, data folder, scheme the points are compared in)
SETS = (
    ("300-W", "300w", "train", "300w", "ibug68"),
    ("CUHK", "cuhk5", "train", "cuhk5", "cuhk5"),
    ("WFLW tune", "wflw98", "tune", "wflw_sample", "wflw98"),
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default="dense98")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tta", action="store_true", help="box-scale averaging instead of the mirror")
    p.add_argument("--precision", default="float32", help="float32, or int8 (shipped int8 files)")
    p.add_argument(
        "--out",
        help="the table's file (default benchmarks/results/mirror_test.md, "
        "or tta_test.md with --tta)",
    )
    a = p.parse_args(argv)
    what = "box-scale averaging" if a.tta else "mirror averaging"
    short = "scales averaged" if a.tta else "mirror averaged"
    out = Path(a.out or ROOT / "benchmarks" / "results" / f"{'tta' if a.tta else 'mirror'}_test.md")
    flags = (" --tta" if a.tta else "") + (
        f" --precision {a.precision}" if a.precision != "float32" else ""
    )

    from facepoints import FaceLandmarker
    from facepoints.data import read_dataset
    from facepoints.evaluation.metrics import nme_per_face
    from facepoints.io import load_image

    lines = [
        f"{what.capitalize()}, `{a.model}` ({a.precision}), validation faces of its training "
        f"sets (`python benchmarks/mirror_test.py --model {a.model}{flags}`)",
        "",
        f"| set | faces | NME | NME, {short} | ms a face | ms, {short} |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for label, dataset, split, folder, scheme in SETS:
        val = read_dataset(dataset, split, SHARED / folder).split(a.val_fraction, a.seed)[1]
        row = []
        times = []
        for on in (False, True):
            lm = FaceLandmarker(
                a.model,
                scheme=scheme,
                threads=1,
                refine=True,
                precision=a.precision,
                **({"tta": on} if a.tta else {"mirror": on}),
            )
            pred = np.zeros_like(val.points)
            spent = 0.0
            last = None
            for i, (img, box) in enumerate(zip(val.images, val.boxes, strict=True)):
                if last is None or last[0] != img:
                    last = (img, load_image(img))
                t0 = time.thread_time()
                pred[i] = lm.landmarks(last[1], box[None])[0]
                spent += time.thread_time() - t0
            row.append(float(np.mean(nme_per_face(pred, val.points, val.scheme))))
            times.append(1e3 * spent / len(val))
        lines.append(
            f"| {label} | {len(val)} | {100 * row[0]:.2f}% | {100 * row[1]:.2f}% | "
            f"{times[0]:.1f} | {times[1]:.1f} |"
        )
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    tmp = out.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(out)
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
