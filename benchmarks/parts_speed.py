"""What the part refiners cost a face: `FaceLandmarker(model, scheme=68).landmarks(rgb, box)` with
`parts=False` and `parts=True`, taking turns every 10 faces, on held-out 300-W training faces
(their given boxes), one thread, CPU time of the calling thread; median ms a face.

    python benchmarks/parts_speed.py [--model dense98] [--faces 100]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="dense98")
    p.add_argument("--faces", type=int, default=100)
    a = p.parse_args()

    import torch

    from facepoints import FaceLandmarker
    from facepoints.data import read_dataset
    from facepoints.io import load_image

    torch.set_num_threads(1)
    val = read_dataset("300w", "train", SHARED / "300w").split(0.1, 0)[1]
    n = min(a.faces, len(val))
    images = [load_image(f) for f in val.images[:n]]
    sources = {
        on: FaceLandmarker(a.model, scheme="ibug68", threads=1, parts=on) for on in (False, True)
    }
    laps: dict[bool, list[float]] = {False: [], True: []}
    for lo in range(0, n, 10):
        for on, lm in sources.items():
            lm.landmarks(images[lo], val.boxes[lo : lo + 1])  # warm-up
            for i in range(lo, min(lo + 10, n)):
                t0 = time.thread_time()
                lm.landmarks(images[i], val.boxes[i : i + 1])
                laps[on].append(1e3 * (time.thread_time() - t0))
    off, on = statistics.median(laps[False]), statistics.median(laps[True])
    print(f"| {a.model}, 68 points | parts off | parts on | refiners |")
    print("|---|--:|--:|--:|")
    print(f"| ms a face ({n} faces) | {off:.2f} | {on:.2f} | {on - off:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
