"""The filters figure of docs/filters.md: the same filters on a frontal, a turned (~45 degrees), a
tilted and a laughing face from 300-W's training photos, placed the old way (one similarity
transform from the 5-point projection, lipstick on a generic mouth) beside the new (artwork
warped piecewise onto the dense 68 points, lit like the face), landmarks from the shipped dense
model on the default detector's boxes.

    .venv/bin/python benchmarks/filters_pose.py        # writes docs/filters_pose.jpg
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facepoints.filters import get_filter  # noqa: E402
from facepoints.filters.base import FILTER_MODEL  # noqa: E402
from facepoints.inference.landmarker import Face, FaceLandmarker  # noqa: E402
from facepoints.io import load_image, save_image  # noqa: E402
from facepoints.schemes import get_scheme, project  # noqa: E402

# (caption, photo under 300w/); chosen by their annotated points (roll, yaw, open mouth)
FACES = (
    ("frontal", "helen/trainset/1259817140_1.jpg"),
    ("turned", "helen/trainset/1800576628_1.jpg"),
    ("tilted", "helen/trainset/167629013_1.jpg"),
    ("laughing", "helen/trainset/212515672_1.jpg"),
)
ROWS = (("sunglasses", "moustache"), ("dog", "lipstick"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data" / "300w"))
    p.add_argument("--model", default=FILTER_MODEL, help=f"landmark model ({FILTER_MODEL})")
    p.add_argument("--out", default=str(ROOT / "docs" / "filters_pose.jpg"))
    p.add_argument("--size", type=int, default=280, help="panel side in pixels (280)")
    a = p.parse_args(argv)

    import cv2

    lm = FaceLandmarker(model=a.model, threads=1)
    cols = []
    for caption, rel in FACES:
        rgb = load_image(Path(a.data_root) / rel)
        faces = lm.detect(rgb)[:1]
        if not faces:
            print(f"no face found in {rel}", file=sys.stderr)
            return 1
        old = [_five_points(f) for f in faces]
        panels = []
        for names in ROWS:
            for label, fs, placement in (("old", old, "similarity"), ("new", faces, "mesh")):
                out = rgb
                for n in names:
                    f = get_filter(n)
                    out = (
                        f.apply(out, fs, placement=placement)
                        if hasattr(f, "extent")
                        else (f.apply(out, fs))
                    )
                panels.append(_label(_square(out, faces[0], a.size), f"{caption}: {label}"))
        cols.append(np.vstack(panels))
    grid = np.hstack(cols)
    save_image(a.out, grid)
    print(
        f"wrote {a.out} ({grid.shape[1]}x{grid.shape[0]}); rows: "
        + ", ".join(f"{'+'.join(r)} old/new" for r in ROWS)
    )
    del cv2
    return 0


def _five_points(face: Face) -> Face:
    """The face as a 5-point model sees it (its points projected to CUHK's five)."""
    five = get_scheme("cuhk5")
    pts = project(np.asarray(face.landmarks), face.scheme, five).astype(np.float32)
    return Face(box=face.box, score=face.score, landmarks=pts, scheme=five)


def _square(rgb: np.ndarray, face: Face, size: int) -> np.ndarray:
    """A square window around the face (room above for hats and ears), scaled to `size`."""
    import cv2

    pts = np.asarray(face.landmarks)
    c = pts.mean(0) - [0, 0.25 * np.ptp(pts[:, 1])]
    half = 1.05 * max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]))
    m = np.array(
        [
            [size / (2 * half), 0, size / 2 - c[0] * size / (2 * half)],
            [0, size / (2 * half), size / 2 - c[1] * size / (2 * half)],
        ]
    )
    return cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_AREA, borderValue=(0, 0, 0))


def _label(rgb: np.ndarray, text: str) -> np.ndarray:
    import cv2

    out = rgb.copy()
    for color, thick in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(out, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, thick, cv2.LINE_AA)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
