"""The figure of docs/analysis.md: photos with each face's head pose drawn as axes and its
openness and smile written under it, and the 112x112 chips the faces align to.

    python benchmarks/analysis_demo.py --out docs/analysis_demo.jpg
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = (
    "demo",
    str(ROOT.parent / "shared/data/300w/helen/testset/3067126321_1.jpg"),
    str(ROOT.parent / "shared/data/300w/helen/testset/3081187199_1.jpg"),
    str(ROOT.parent / "shared/data/300w/helen/testset/3253427659_1.jpg"),
)
TILE = 300


def panel(lm, photo: str) -> np.ndarray:
    """One photo's tile: the face with its pose axes, its numbers, and its chip."""
    from facepoints.analysis import describe, face_chips
    from facepoints.inference.demo import demo_image
    from facepoints.io import load_image

    rgb = demo_image()[0] if photo == "demo" else load_image(photo)
    face = lm.detect(rgb)[0]
    info = describe(face, rgb)
    # crop around the face, then draw in the crop's pixels
    x1, y1, x2, y2 = face.box
    side = 1.6 * max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    s = TILE / side
    m = np.array([[s, 0, TILE / 2 - s * cx], [0, s, TILE / 2 - s * cy]])
    tile = cv2.warpAffine(rgb, m, (TILE, TILE), borderValue=(255, 255, 255))
    rot = face.pose.rotation if face.pose is not None else np.eye(3)
    pts = face.landmarks @ m[:, :2].T + m[:, 2]
    eyes = pts[36:48].mean(0) if len(pts) >= 68 else pts[:2].mean(0)
    for axis, colour in zip(np.eye(3), ((230, 40, 40), (40, 200, 40), (40, 90, 240)), strict=True):
        d = rot @ axis  # x right, y down, z away: drawn as seen
        tip = eyes + 70 * d[:2]
        if axis[2]:
            tip = eyes - 70 * d[:2]  # the face's forward direction, towards the camera
        cv2.arrowedLine(
            tile,
            tuple(int(v) for v in eyes),
            tuple(int(v) for v in tip),
            colour,
            2,
            cv2.LINE_AA,
            tipLength=0.15,
        )
    for p in pts:
        cv2.circle(tile, (int(p[0]), int(p[1])), 1, (255, 220, 0), -1, cv2.LINE_AA)
    chip = face_chips(rgb, [face])[0]
    tile[TILE - 112 :, TILE - 112 :] = chip
    text = np.full((70, TILE, 3), 255, np.uint8)
    p, o = info["pose"], info["openness"]
    lines = [
        f"yaw {p['yaw']:+.0f} pitch {p['pitch']:+.0f} roll {p['roll']:+.0f}",
        f"eyes {o['left_eye']:.2f} {o['right_eye']:.2f}  mouth {o['mouth']:.2f}",
        f"smile {info['smile']:.2f}",
    ]
    for i, line in enumerate(lines):
        cv2.putText(
            text, line, (8, 20 + 21 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA
        )
    return np.vstack([tile, text])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default="dense68")
    p.add_argument("--out", default="docs/analysis_demo.jpg")
    a = p.parse_args(argv)
    from facepoints import FaceLandmarker
    from facepoints.io import save_image

    lm = FaceLandmarker(model=a.model, threads=1)
    tiles = [panel(lm, ph) for ph in PHOTOS]
    gap = np.full((tiles[0].shape[0], 6, 3), 255, np.uint8)
    out = np.hstack([x for t in tiles for x in (t, gap)][:-1])
    save_image(a.out, out, quality=88)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
