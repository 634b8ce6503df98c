"""A model's points the way the Python API gives them on given boxes: `FaceLandmarker(model,
scheme=...).landmarks(rgb, box)` with its defaults (for dense98: each face averaged with its
mirror), one face a call, against the set's human points; `--refine` adds the second pass.

    python benchmarks/api_given_boxes.py dense98 --dataset cuhk5 --split test \
        --scheme cuhk5 --refine

`facepoints eval` runs the network once on each box (`--flip` adds the mirror); this is what a
user's call returns. Prints NME (the set's normalising distance) and FR@10%."""

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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("model")
    p.add_argument("--dataset", default="cuhk5")
    p.add_argument("--split", default="test")
    p.add_argument("--data-root", default=None, help="default: ../shared/data/DATASET")
    p.add_argument("--scheme", default=None, help="the points asked for (default: the set's)")
    p.add_argument("--refine", action="store_true", help="refine=True: the second pass on each box")
    a = p.parse_args(argv)

    from facepoints import FaceLandmarker
    from facepoints.data import read_dataset
    from facepoints.evaluation.metrics import nme_per_face
    from facepoints.io import load_image
    from facepoints.schemes import project

    root = a.data_root or str(ROOT.parent / "shared" / "data" / a.dataset)
    recs = read_dataset(a.dataset, a.split, data_root=root)
    lm = FaceLandmarker(
        a.model, threads=1, scheme=a.scheme or recs.scheme.name, refine=True if a.refine else "auto"
    )
    t0 = time.perf_counter()
    pairs = zip(recs.images, recs.boxes, strict=True)
    pts = np.stack([lm.landmarks(load_image(img), box[None])[0] for img, box in pairs])
    seconds = time.perf_counter() - t0
    err = nme_per_face(project(pts, lm.scheme, recs.scheme), recs.points, recs.scheme)
    print(
        f"{lm!r} (mirror={lm.mirror}) on {a.dataset} {a.split}, {len(recs)} given boxes: "
        f"NME {err.mean():.3%}, FR@10% {np.mean(err > 0.10):.2%}, "
        f"{1000 * seconds / len(recs):.1f} ms a face"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
