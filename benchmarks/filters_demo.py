"""The README's before/after picture of the face filters: the demo photo
(`facepoints.inference.demo.demo_image()`) as it is, then with a few filters, side by side, in
`docs/filters_demo.jpg`.

    .venv/bin/python benchmarks/filters_demo.py --model cuhk5-resnet

The landmarks come from `--model` (any model FaceLandmarker loads). Without one, they are MTCNN's
own five points (its ONet, from facenet-pytorch's weights: `pip install --no-deps
facenet-pytorch==2.6.0`) on MTCNN's boxes, so the picture can be made before a model ships.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facepoints.filters import apply_filters  # noqa: E402
from facepoints.inference.demo import demo_image  # noqa: E402
from facepoints.inference.landmarker import Face  # noqa: E402
from facepoints.io import save_image  # noqa: E402

PANELS = (
    ("original", []),
    ("sunglasses + moustache", ["sunglasses", "moustache"]),
    ("crown + big eyes", ["big_eyes", "crown"]),
    ("dog", ["dog"]),
    ("clown", ["clown"]),
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", help="landmark model (default: MTCNN ONet's five points)")
    p.add_argument("--detector", default="mtcnn", help="face detector (default mtcnn)")
    p.add_argument("--out", default=str(ROOT / "docs" / "filters_demo.jpg"))
    p.add_argument("--height", type=int, default=360, help="panel height in pixels (360)")
    a = p.parse_args(argv)

    rgb, name = demo_image()
    faces, source = find_faces(rgb, a.model, a.detector)
    if not faces:
        print(f"no face found in the demo photo ({name})", file=sys.stderr)
        return 1
    y0, y1, x0, x1 = face_window(rgb.shape, faces[0])
    panels = [
        caption(fit_height(apply_filters(rgb, faces, names)[y0:y1, x0:x1], a.height), title)
        for title, names in PANELS
    ]
    gap = np.full((panels[0].shape[0], 6, 3), 255, np.uint8)
    row = np.hstack([x for panel in panels for x in (panel, gap)][:-1])
    save_image(a.out, row, quality=90)
    print(f"{a.out}: {row.shape[1]}x{row.shape[0]}, demo photo {name!r}, landmarks from {source}")
    return 0


def find_faces(rgb: np.ndarray, model: str | None, detector: str) -> tuple[list[Face], str]:
    """The faces of the photo with landmarks from `model`, or from MTCNN's ONet."""
    if model:
        from facepoints.inference.landmarker import FaceLandmarker

        lm = FaceLandmarker(model=model, detector=detector)
        return lm.detect(rgb), f"model {lm.name}"
    from facepoints.inference.detectors import create_detector
    from facepoints.peers.mtcnn_onet import MtcnnONet
    from facepoints.schemes import get_scheme

    if not MtcnnONet.available():
        raise SystemExit(
            "no --model given and MTCNN's ONet weights are not installed: pass --model, or "
            "pip install --no-deps facenet-pytorch==2.6.0"
        )
    dets = create_detector("mtcnn").detect(rgb)
    if not dets:
        return [], "mtcnn-onet"
    raw = np.stack([d.raw_box for d in dets]).astype(np.float32)  # ONet reads MTCNN's own box
    points = MtcnnONet().predict(rgb, raw)
    scheme = get_scheme("cuhk5")
    faces = [Face(d.box, d.score, pts, scheme) for d, pts in zip(dets, points, strict=True)]
    return faces, "mtcnn-onet (5 points)"


def face_window(shape, face: Face, half: float = 2.4) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): a square around the face, `half` inter-ocular distances each way from
    a point a little below the eyes (room for the crown), clipped to the image."""
    from facepoints.filters.base import face_points5

    p = face_points5(face)
    iod = float(np.linalg.norm(p[1] - p[0]))
    cx, cy = (p[0] + p[1]) / 2 + (0.0, 0.25 * iod)
    r = half * iod
    h, w = shape[:2]
    y0, y1 = max(0, int(cy - r)), min(h, int(cy + r))
    x0, x1 = max(0, int(cx - r)), min(w, int(cx + r))
    return y0, y1, x0, x1


def fit_height(rgb: np.ndarray, height: int) -> np.ndarray:
    import cv2

    w = max(1, round(rgb.shape[1] * height / rgb.shape[0]))
    return cv2.resize(rgb, (w, height), interpolation=cv2.INTER_AREA)


def caption(rgb: np.ndarray, text: str) -> np.ndarray:
    """The panel with `text` centred on a white strip below it."""
    import cv2

    strip = np.full((34, rgb.shape[1], 3), 255, np.uint8)
    font, scale, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1
    (tw, th), _ = cv2.getTextSize(text, font, scale, thick)
    org = ((strip.shape[1] - tw) // 2, (strip.shape[0] + th) // 2)
    cv2.putText(strip, text, org, font, scale, (40, 40, 40), thick, cv2.LINE_AA)
    return np.vstack([rgb, strip])


if __name__ == "__main__":
    sys.exit(main())
