"""What a hidden eye does to the point confidences: a grey block over one eye of random CUHK test
faces (their annotated boxes), the confidence of every point before and after.

    python benchmarks/confidence_occlusion.py --model cuhk5-resnet --faces 40

The block is a square of side 2 x `--half` x the inter-ocular distance, centred on the annotated
image-left eye, filled with grey 128. Prints, per block size, the mean confidence of the hidden
eye before, its mean and median change, the share of faces where it fell, and the mean change of
the other eye and of the nose and mouth corners.
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="cuhk5-resnet")
    p.add_argument("--data-root", default="../shared/data/cuhk5")
    p.add_argument("--faces", type=int, default=40)
    p.add_argument("--half", default="0.4,0.6", help="block half-sides in IODs, comma-separated")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    import torch

    from facepoints import FaceLandmarker
    from facepoints.data import read_dataset
    from facepoints.io import load_image

    torch.set_num_threads(1)
    recs = read_dataset("cuhk5", "test", a.data_root)
    idx = np.random.default_rng(a.seed).choice(len(recs), a.faces, replace=False)
    lm = FaceLandmarker(a.model, threads=1)
    print(f"{a.model} ({lm.confidence_kind} confidence), {a.faces} CUHK test faces")
    for half in (float(h) for h in a.half.split(",")):
        before, change = [], []
        for i in idx:
            img, g, box = load_image(recs.images[i]), recs.points[i], recs.boxes[i : i + 1]
            _, c0 = lm.landmarks_with_confidence(img, box)
            h = half * np.linalg.norm(g[0] - g[1])
            x, y = g[0]
            hidden = img.copy()
            hidden[max(0, int(y - h)) : int(y + h), max(0, int(x - h)) : int(x + h)] = 128
            _, c1 = lm.landmarks_with_confidence(hidden, box)
            before.append(c0[0])
            change.append(c1[0] - c0[0])
        b, d = np.array(before), np.array(change)
        print(
            f"block {2 * half:.1f} IOD wide: hidden eye {b[:, 0].mean():.3f} -> "
            f"{(b[:, 0] + d[:, 0]).mean():.3f} (mean change {d[:, 0].mean():+.3f}, median "
            f"{np.median(d[:, 0]):+.3f}, lower on {(d[:, 0] < 0).mean():.0%} of faces); other eye "
            f"{d[:, 1].mean():+.3f}; nose and mouth {d[:, 2:].mean():+.3f}"
        )


if __name__ == "__main__":
    main()
