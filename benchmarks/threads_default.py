"""What more threads buy a face: median wall time of `FaceLandmarker(model, threads=T)
.landmarks(rgb, box)` on 30 300-W test faces, for T = 1 and 2, the models taking turns.

    .venv/bin/python benchmarks/threads_default.py [--models dense98 dense68]

Sets which shipped models get several threads by default (`landmarker.PARALLEL_BY_DEFAULT`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--models", nargs="+", default=["dense98", "dense68"])
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data" / "300w"))
    p.add_argument("--faces", type=int, default=30)
    a = p.parse_args(argv)

    from facepoints import FaceLandmarker
    from facepoints.data import read_dataset
    from facepoints.io import load_image

    recs = read_dataset("300w", "test", a.data_root)
    n = min(a.faces, len(recs))
    images = [load_image(recs.images[i]) for i in range(n)]
    boxes = [np.asarray(recs.boxes[i], np.float32)[None] for i in range(n)]
    runs = {(m, t): FaceLandmarker(m, threads=t) for m in a.models for t in (1, 2)}
    laps: dict = {k: [] for k in runs}
    for _ in range(3):
        for k, lm in runs.items():
            lm.landmarks(images[0], boxes[0])  # warm-up
            for img, box in zip(images, boxes, strict=True):
                t0 = time.perf_counter()
                lm.landmarks(img, box)
                laps[k].append(time.perf_counter() - t0)
    print("| model | ms a face, 1 thread | ms a face, 2 threads |")
    print("|---|--:|--:|")
    for m in a.models:
        one, two = (1e3 * float(np.median(laps[(m, t)])) for t in (1, 2))
        print(f"| {m} | {one:.2f} | {two:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
