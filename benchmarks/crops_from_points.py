"""Where the first crop comes from, on whole photos through the default detector: the detector's
box, or its five points (`seed_crops`), each crop level or turned upright (`upright`), with one
pass or two. Validation faces only (never test faces):

- the WFLW sample's "tune" half (crowd and street photos, every face hard in some way);
- CUHK training faces held out by the models (seeded split, val_fraction 0.1, seed 0), the first
  300;
- 300-W training faces held out the same way (121).

Misses count as failures; NME by the eye centres (5 points, what every model gives), CPU time of
the calling thread per photo.

    python benchmarks/crops_from_points.py                       # the default model
    python benchmarks/crops_from_points.py --models cuhk5-fast dense68

`FaceLandmarker`'s defaults (seed_crops=True, upright=True, refine="auto") come from this
table.
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

VARIANTS = {
    "detector box": dict(seed_crops=False, upright=False),
    "detector box, upright": dict(seed_crops=False, upright=True),
    "five points": dict(seed_crops=True, upright=False),
    "five points, upright": dict(seed_crops=True, upright=True),
    "five points, upright, 1 pass": dict(seed_crops=True, upright=True, refine=False),
}


def validation_sets() -> dict:
    from facepoints.data import read_dataset

    return {
        "WFLW tune": read_dataset("wflw68", "tune", data_root=SHARED / "wflw_sample"),
        "CUHK val": read_dataset("cuhk5", "train", data_root=SHARED / "cuhk5")
        .split(0.1, 0)[1]
        .subset(np.arange(300)),
        "300-W val": read_dataset("300w", "train", data_root=SHARED / "300w").split(0.1, 0)[1],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=[None], help="default: the default model")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "crops_from_points.md"))
    a = ap.parse_args(argv)

    from facepoints.evaluation.wild import _score, _Source
    from facepoints.inference.landmarker import FaceLandmarker

    sets = validation_sets()
    lines = [
        "| model | crop | " + " | ".join(f"{n}: NME / FR / ms" for n in sets) + " |",
        "|---|---|" + "--:|" * len(sets),
    ]
    for model in a.models:
        for name, kw in VARIANTS.items():
            lm = FaceLandmarker(model, threads=1, **kw)
            cells = []
            for recs in sets.values():
                photos = sorted({str(p) for p in recs.images})
                cpu: list[float] = []

                def run(rgb, lm=lm, cpu=cpu):
                    t = time.process_time()
                    faces = lm.detect(rgb)
                    cpu.append(time.process_time() - t)
                    return [f.landmarks for f in faces]

                r = _score(_Source(name, lm.scheme, run), recs, photos, False, "cuhk5")
                cells.append(
                    f"{100 * r['nme']:.2f}% / {100 * r['fr']:.1f}% / {1000 * np.median(cpu):.0f}"
                )
            row = f"| {lm.name} | {name} | " + " | ".join(cells) + " |"
            print(row, flush=True)
            lines.append(row)
    text = (
        "\n".join(lines)
        + "\n\n*NME by the eye centres on the faces found, FR@0.10 with misses counted as "
        "failures, ms: median CPU time per photo, one thread "
        "(`python benchmarks/crops_from_points.py`).*\n"
    )
    from facepoints.io import atomic_write_bytes

    atomic_write_bytes(a.out, text.encode())
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
