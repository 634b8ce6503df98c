"""Aligned chips from a model's points against chips from the human points, on CUHK test.

Offset: where the human eye centres land in the 112x112 "arcface" chip made from the model's
points, against where they land in the chip made from the human points (pixels, both eyes'
mean). Sharpness: the variance of the Laplacian of the grey chip's central 64x64 made in one resampling from the
original pixels (`facepoints.analysis.chips`), against a chip made in two (the face's box cut to
256x256 first, as a crop-then-align pipeline does), on the first `--sharpness-faces` faces.

    python benchmarks/analysis_align.py --models cuhk5-resnet dense68
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analysis_common import predictions, read_set, write_table  # noqa: E402

from facepoints.analysis.align import chip_matrix, chips  # noqa: E402
from facepoints.geometry import apply, compose, crop_matrix, invert, warp  # noqa: E402


def eye_offsets(pred: np.ndarray, human: np.ndarray) -> np.ndarray:
    """(N,) mean pixel offset of the human eye centres between the two chips of each face."""
    out = np.full(len(pred), np.nan)
    for i, (p, h) in enumerate(zip(pred, human, strict=True)):
        if not np.isfinite(p).all():
            continue
        a = apply(chip_matrix(p), h[:2])
        b = apply(chip_matrix(h, "cuhk5"), h[:2])
        out[i] = np.linalg.norm(a - b, axis=-1).mean()
    return out


def sharpness(recs, n: int) -> tuple[float, float]:
    """Mean variance of the Laplacian of one-step and two-step chips of the first n faces."""
    import cv2

    from facepoints.io import load_image

    one, two = [], []
    for img, box, pts in zip(recs.images[:n], recs.boxes[:n], recs.points[:n], strict=True):
        rgb = load_image(img)
        direct = chips([rgb], [pts], "cuhk5")[0]
        first = crop_matrix(box, 256, margin=0.6)
        crop = warp(rgb, first, 256)
        m = compose(chip_matrix(pts, "cuhk5"), invert(first))  # crop -> chip
        twice = warp(crop, m, 112)
        for chip, acc in ((direct, one), (twice, two)):
            g = cv2.cvtColor(chip[24:88, 24:88], cv2.COLOR_RGB2GRAY)  # the face, no border
            acc.append(cv2.Laplacian(g, cv2.CV_64F).var())
    return float(np.mean(one)), float(np.mean(two))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--models", nargs="+", default=["cuhk5-fast", "cuhk5-resnet", "dense68"])
    p.add_argument("--sharpness-faces", type=int, default=300)
    a = p.parse_args(argv)
    recs = read_set("cuhk_test")
    lines = [
        f"112x112 chips on CUHK test ({len(recs)} faces): eye offset from the chip of the human "
        "points (`python benchmarks/analysis_align.py`)",
        "",
        "| points | mean offset (px) | median | 90th percentile | within 1.5 px |",
        "|---|--:|--:|--:|--:|",
    ]
    for model in a.models:
        d = eye_offsets(predictions("cuhk_test", model, recs), recs.points)
        lines.append(
            f"| `{model}` | {np.nanmean(d):.2f} | {np.nanmedian(d):.2f} | "
            f"{np.nanpercentile(d, 90):.2f} | {np.nanmean(d <= 1.5):.0%} |"
        )
    s1, s2 = sharpness(recs, a.sharpness_faces)
    lines += [
        "",
        f"Sharpness (variance of the Laplacian, first {a.sharpness_faces} faces): one resampling "
        f"{s1:.0f}, two (box cut to 256 px first) {s2:.0f}",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    print(f"wrote {write_table('align', text)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
