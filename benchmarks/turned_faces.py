"""The turned-faces figure of docs/training.md: 300-W training faces as labelled (left) and turned
30 degrees each way by `facepoints.data.profiling.turn_face`, their 68 points moved along, cut
around the face.

    .venv/bin/python benchmarks/turned_faces.py        # writes docs/turned_faces.jpg
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facepoints.data import read_dataset  # noqa: E402
from facepoints.data.profiling import crop_around, turn_face, yaw_of  # noqa: E402
from facepoints.draw import draw_landmarks, make_grid  # noqa: E402
from facepoints.io import load_image, save_image  # noqa: E402

TURNS = (-30.0, 0.0, 30.0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data" / "300w"))
    p.add_argument("--faces", type=int, default=4)
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--out", default=str(ROOT / "docs" / "turned_faces.jpg"))
    a = p.parse_args(argv)

    train = read_dataset("300w", "train", data_root=a.data_root).split(0.1, 0)[0]
    rng = np.random.default_rng(a.seed)
    tiles, captions = [], []
    for i in rng.choice(len(train), a.faces, replace=False):
        image, pts = load_image(train.images[i]), train.points[i]
        size = image.shape[1], image.shape[0]
        for turn in TURNS:
            img, q = turn_face(image, pts, turn) if turn else (image, pts)
            tiles.append(crop_around(draw_landmarks(img, q, scheme="ibug68"), q, 1.6)[0])
            captions.append(f"yaw {yaw_of(q, size):+.0f}" + ("" if turn else " (labelled)"))
    grid = make_grid(tiles, cols=len(TURNS) * 2, captions=captions, cell=200)
    save_image(a.out, grid)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
