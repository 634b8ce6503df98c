"""The README's picture of landmarks: the demo photo (`facepoints.inference.demo.demo_image()`)
annotated with `facepoints.draw`'s defaults (as `facepoints predict` draws it), with the default 5-point model and with the dense
68-point model, side by side, in `docs/landmarks_demo.jpg`.

    .venv/bin/python benchmarks/landmarks_demo.py

Each panel is drawn on the full photo (so dots and lines have the sizes a user gets), then cut
around the face and scaled to `--height`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from filters_demo import caption, face_window, fit_height  # noqa: E402

from facepoints.draw import draw_box, draw_landmarks, group_colors  # noqa: E402
from facepoints.inference.demo import demo_image  # noqa: E402
from facepoints.inference.landmarker import FaceLandmarker  # noqa: E402
from facepoints.io import save_image  # noqa: E402

PANELS = (("cuhk5-resnet", "5 points (cuhk5-resnet)"), ("dense68", "68 points (dense68)"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", default=str(ROOT / "docs" / "landmarks_demo.jpg"))
    p.add_argument("--height", type=int, default=360, help="panel height in pixels (360)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (1)")
    a = p.parse_args(argv)

    rgb, name = demo_image()
    panels = []
    for model, title in PANELS:
        faces = FaceLandmarker(model=model, threads=a.threads).detect(rgb)
        if not faces:
            print(f"{model}: no face found in the demo photo ({name})", file=sys.stderr)
            return 1
        y0, y1, x0, x1 = face_window(rgb.shape, faces[0], half=1.6)
        drawn = rgb
        for f in faces:
            drawn = draw_box(drawn, f.box)
            drawn = draw_landmarks(
                drawn, f.landmarks, group_colors(f.scheme), scheme=f.scheme, connect=True
            )
        panels.append(caption(fit_height(drawn[y0:y1, x0:x1], a.height), title))
    gap = np.full((panels[0].shape[0], 6, 3), 255, np.uint8)
    row = np.hstack([x for panel in panels for x in (panel, gap)][:-1])
    save_image(a.out, row, quality=90)
    print(f"{a.out}: {row.shape[1]}x{row.shape[0]}, demo photo {name!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
