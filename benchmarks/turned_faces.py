"""The turned-faces figure of docs/training.md: 300-W training faces as labelled (left) and turned
30 degrees each way by `facepoints.data.profiling.turn_face`, their 68 points moved along, cut
around the face.

    .venv/bin/python benchmarks/turned_faces.py        # writes docs/turned_faces.jpg
    .venv/bin/python benchmarks/turned_faces.py --outline --out docs/profile_faces.jpg

`--outline`: each face (left) turned further away, to a yaw of 55 and 70 degrees on its own side,
as `facepoints data turn --yaw 45,75 --outline` turns its copies (the far side's hidden jaw
points moved onto the face's outline).
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data" / "300w"))
    p.add_argument("--faces", type=int, default=4)
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--out", default=str(ROOT / "docs" / "turned_faces.jpg"))
    p.add_argument(
        "--outline", action="store_true", help="to 55 and 70 degrees, far jaw on the outline"
    )
    a = p.parse_args(argv)

    train = read_dataset("300w", "train", data_root=a.data_root).split(0.1, 0)[0]
    rng = np.random.default_rng(a.seed)
    tiles, captions = [], []
    for i in rng.choice(len(train), a.faces, replace=False):
        image, pts = load_image(train.images[i]), train.points[i]
        size = image.shape[1], image.shape[0]
        yaw = yaw_of(pts, size)
        side = 1.0 if yaw >= 0 else -1.0
        turns = (0.0, side * 55 - yaw, side * 70 - yaw) if a.outline else (-30.0, 0.0, 30.0)
        for turn in turns:
            img, q = turn_face(image, pts, turn, outline=a.outline) if turn else (image, pts)
            tiles.append(crop_around(draw_landmarks(img, q, scheme="ibug68"), q, 1.6)[0])
            # with the far jaw on the outline, the 3D fit reads less yaw than the turn gave
            shown = yaw + turn if a.outline else yaw_of(q, size)
            captions.append(f"yaw {shown:+.0f}" + ("" if turn else " (labelled)"))
    grid = make_grid(tiles, cols=6, captions=captions, cell=200)
    save_image(a.out, grid)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
