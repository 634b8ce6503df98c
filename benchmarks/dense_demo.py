"""The README's dense-model picture: faces of the WFLW sample's held-out half, each shown as
(1) the dense model's 68 points, (2) lipstick placed from a 5-point model (a generic mouth
between the mouth corners) and (3) lipstick along the dense model's lip contours. Writes
`docs/dense_demo.jpg`.

    .venv/bin/python benchmarks/dense_demo.py --data-root ../shared/data/wflw_sample

The faces: the `--faces` held-out faces without large pose or occlusion whose annotated mouths
are the most open (the inner lips furthest apart for their size), where a generic mouth shows
its limits; crops come from the annotated geometry (CUHK-convention boxes), as in the dense
benchmark.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facepoints.data import read_dataset  # noqa: E402
from facepoints.draw import draw_landmarks, group_colors, make_grid  # noqa: E402
from facepoints.filters import apply_filters  # noqa: E402
from facepoints.inference.landmarker import FaceLandmarker  # noqa: E402
from facepoints.io import load_image, save_image  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data" / "wflw_sample"))
    p.add_argument("--dense", default="dense68", help="the dense model (default dense68)")
    p.add_argument("--sparse", default="cuhk5-resnet", help="the 5-point model (cuhk5-resnet)")
    p.add_argument("--faces", type=int, default=3, help="how many faces (default 3)")
    p.add_argument("--cell", type=int, default=300, help="panel side in pixels (300)")
    p.add_argument("--out", default=str(ROOT / "docs" / "dense_demo.jpg"))
    a = p.parse_args(argv)

    faces = read_dataset("wflw68", "heldout", a.data_root)
    pts = faces.points.astype(np.float64)
    opening = np.linalg.norm(pts[:, 66] - pts[:, 62], axis=1)
    width = np.linalg.norm(pts[:, 54] - pts[:, 48], axis=1)
    ratio = opening / np.maximum(width, 1e-6)
    hard = faces.attributes["largepose"] | faces.attributes["occlusion"]
    ratio[hard] = -np.inf  # a demo of lips wants to see them
    order = np.argsort(-ratio)[: a.faces]

    dense = FaceLandmarker(model=a.dense, threads=1)
    sparse = FaceLandmarker(model=a.sparse, threads=1)
    panels, captions = [], []
    for i in order:
        image = load_image(faces.images[i])
        box = faces.boxes[i : i + 1]
        d = dense.detect(image, boxes=box)[0]
        s = sparse.detect(image, boxes=box)[0]
        crop = _window(image.shape, box[0])
        drawn = draw_landmarks(
            image, d.landmarks, color=group_colors(d.scheme), scheme=d.scheme, connect=True
        )
        for picture, text in (
            (drawn, f"{dense.name}"),
            (apply_filters(image, [s], ["lipstick"]), "lipstick from 5 points"),
            (apply_filters(image, [d], ["lipstick"]), "lipstick from 68"),
        ):
            panels.append(picture[crop])
            captions.append(text)
    grid = make_grid(panels, cols=3, captions=captions, cell=a.cell)
    save_image(a.out, grid, quality=90)
    print(f"{a.out}: {grid.shape[1]}x{grid.shape[0]}, held-out faces {[int(i) for i in order]}")
    return 0


def _window(shape, box: np.ndarray, scale: float = 1.9) -> tuple[slice, slice]:
    """A square around the box's centre, `scale` box sides wide, clipped to the image."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2 + 0.15 * (box[3] - box[1])
    r = scale * max(box[2] - box[0], box[3] - box[1]) / 2
    h, w = shape[:2]
    y0, y1 = max(0, int(cy - r)), min(h, int(cy + r))
    x0, x1 = max(0, int(cx - r)), min(w, int(cx + r))
    return slice(y0, y1), slice(x0, x1)


if __name__ == "__main__":
    sys.exit(main())
