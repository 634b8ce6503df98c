"""Head pose from a model's points, checked three ways:

1. 300-W test (HELEN, 330 faces): the same fit (`facepoints.analysis.head_pose`, camera from the
   image's size) on the model's points and on the 68 human points; mean absolute difference per
   angle, and how often the difference is within twice the fit's own standard deviation.
2. CUHK test (3,466 faces): roll against the angle of the human eye line (5 human points).
3. WFLW sample (175 faces, 31 flagged large pose): AUROC of |yaw| (and of the larger of |yaw| and
   |pitch|) for the large-pose flag, from the model's points and from the human points; the
   dense68 model was fine-tuned on the sample's tune half, so the held-out half is shown alone.

    python benchmarks/analysis_pose.py --model dense68
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analysis_common import (  # noqa: E402
    auroc,
    predictions,
    read_set,
    wflw_heldout,
    write_table,
)

from facepoints.analysis.pose import head_pose  # noqa: E402


def image_size(path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return im.size


def poses(points: np.ndarray, scheme, images) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) yaw, pitch, roll and (N, 3) their standard deviations."""
    ang, std = np.full((len(points), 3), np.nan), np.full((len(points), 3), np.nan)
    sizes: dict[str, tuple[int, int]] = {}
    for i, (p, img) in enumerate(zip(points, images, strict=True)):
        if not np.isfinite(p).all():
            continue
        size = sizes.setdefault(str(img), image_size(img))
        hp = head_pose(p, scheme, size)
        ang[i] = hp.yaw, hp.pitch, hp.roll
        std[i] = hp.std
    return ang, std


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default="dense68")
    a = p.parse_args(argv)
    m = a.model
    out = [f"Head pose from `{m}`'s points (`python benchmarks/analysis_pose.py --model {m}`)", ""]

    # 1. 300-W test: model vs human labels through the same fit
    w = read_set("300w_test")
    pred = predictions("300w_test", m, w)
    ph, _ = poses(w.points, w.scheme, w.images)
    pp, sp = poses(pred, pred.shape[1], w.images)
    err = np.abs(pp - ph)
    within = (err <= 2 * sp).mean(0)
    out += [
        f"300-W test, {len(w)} faces: the fit on `{m}`'s points against the same fit on the 68 "
        "human points (degrees)",
        "",
        "| angle | MAE | median error | human spread (SD) | fit's SD (mean) | within 2 SD |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for k, name in enumerate(("yaw", "pitch", "roll")):
        out.append(
            f"| {name} | {err[:, k].mean():.2f} | {np.median(err[:, k]):.2f} | "
            f"{ph[:, k].std():.1f} | {sp[:, k].mean():.2f} | {within[k]:.0%} |"
        )

    # 2. CUHK test: roll against the human eye line
    c = read_set("cuhk_test")
    pred = predictions("cuhk_test", m, c)
    pc, _ = poses(pred, pred.shape[1], c.images)
    eye = c.points[:, 1] - c.points[:, 0]
    line = np.degrees(np.arctan2(eye[:, 1], eye[:, 0]))
    d = np.abs((pc[:, 2] - line + 180) % 360 - 180)
    out += [
        "",
        f"CUHK test, {len(c)} faces: roll against the human eye line's angle (degrees): "
        f"MAE {d.mean():.2f}, median {np.median(d):.2f}, 95th percentile {np.percentile(d, 95):.2f} "
        f"(the eye line's own spread: SD {line.std():.1f})",
    ]

    # 3. WFLW: large-pose flag
    f = read_set("wflw")
    pred = predictions("wflw", m, f)
    flag = f.attributes["largepose"] if "largepose" in f.attributes else f.attributes["pose"]
    held = wflw_heldout(f)
    pw, _ = poses(pred, pred.shape[1], f.images)
    hw, _ = poses(f.points, f.scheme, f.images)
    out += [
        "",
        f"WFLW sample: AUROC for the large-pose flag ({int(flag.sum())} of {len(f)} faces; "
        f"held-out half: {int(flag[held].sum())} of {int(held.sum())})",
        "",
        "| points | score | all | held-out half |",
        "|---|---|--:|--:|",
    ]
    for who, ang in ((f"`{m}`", pw), ("human (98)", hw)):
        for name, score in (
            ("abs(yaw)", np.abs(ang[:, 0])),
            ("max(abs(yaw), abs(pitch))", np.abs(ang[:, :2]).max(1)),
        ):
            out.append(
                f"| {who} | {name} | {auroc(score, flag):.3f} | "
                f"{auroc(score[held], flag[held]):.3f} |"
            )
    text = "\n".join(out) + "\n"
    print(text)
    print(f"wrote {write_table('pose', text)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
