"""The same photo at a camera's resolution: faces a detector reports on shared photos enlarged 1 to 6
times (bicubic), as a phone's 12- or 24-megapixel photo shows the same scene. The photo's content
does not change, so a detector that reads scale well reports about the same faces at every size.

    python benchmarks/large_photos.py                       # the tables in docs/detectors.md
    python benchmarks/large_photos.py --detectors retinaface mtcnn --factors 1 4

A second table runs the crowd photo through `FaceLandmarker` (default model and detector,
detection and landmarks, one thread), with faces under 1% of the photo's longer side left out
(`min_face_share=0.01`, the default) and with every face down to 20 px searched (0); the time
is the second of two calls.

Photos: the WFLW sample's crowd photo (2_Demonstration_Protesters_2_46, 1024 x 728, about 30
faces) and the shipped demo photo (512 x 512, one face). Each detector with its `FaceLandmarker`
defaults (faces from 20 px); "faces" counts every detection, "again" the share of the 1x photo's
detections scoring over 0.9 found again (IoU >= 0.5) in the enlarged copy. Enlarging softens
the pixels, as a camera's own lens and noise reduction do; no photo here is that large natively.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"
PHOTOS = {
    "crowd": SHARED
    / "wflw_sample/WFLW_images/2--Demonstration/2_Demonstration_Protesters_2_46.jpg",
    "demo": ROOT / "facepoints/inference/astronaut.jpg",
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--detectors", nargs="+", default=["retinaface", "ultralight_slim", "mtcnn"])
    p.add_argument("--factors", nargs="+", type=float, default=[1, 2, 4, 6])
    p.add_argument("--min-face", type=float, default=20)
    a = p.parse_args(argv)

    import cv2

    from facepoints.inference.detectors import create_detector
    from facepoints.inference.detectors.fit import match_faces
    from facepoints.io import load_image

    head = "| detector | photo | " + " | ".join(f"{f:g}x" for f in a.factors) + " |"
    print("faces (again) per enlargement; long side in px:", end=" ")
    print(", ".join(f"{k} {max(load_image(v).shape[:2])}" for k, v in PHOTOS.items()))
    print()
    print(head)
    print("|---|---|" + "--:|" * len(a.factors))
    for name in a.detectors:
        det = create_detector(name, min_size=a.min_face)
        for label, path in PHOTOS.items():
            rgb = load_image(path)
            base = det.detect(rgb)
            sure = np.array([d.box for d in base if d.score > 0.9]).reshape(-1, 4)
            cells = []
            for f in a.factors:
                big = (
                    rgb
                    if f == 1
                    else cv2.resize(rgb, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC)
                )
                t = time.perf_counter()
                found = det.detect(big)
                ms = 1000 * (time.perf_counter() - t)
                boxes = np.array([d.box for d in found]).reshape(-1, 4) / f
                again = (match_faces(boxes, sure, min_iou=0.5) >= 0).mean() if len(sure) else 1.0
                cells.append(f"{len(found)} ({100 * again:.0f}%, {ms:.0f} ms)")
            print(f"| {name} | {label} | " + " | ".join(cells) + " |")
    _through_the_api(a.factors)
    return 0


def _through_the_api(factors) -> None:
    import cv2

    from facepoints.inference.landmarker import FaceLandmarker
    from facepoints.io import load_image

    rgb = load_image(PHOTOS["crowd"])
    print()
    print(
        "| crowd photo, `FaceLandmarker().detect` | "
        + " | ".join(f"{f:g}x" for f in factors)
        + " |"
    )
    print("|---|" + "--:|" * len(factors))
    for share in (0.01, 0.0):
        lm = FaceLandmarker(threads=1, min_face_share=share)
        cells = []
        for f in factors:
            big = (
                rgb if f == 1 else cv2.resize(rgb, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC)
            )
            lm.detect(big)
            t = time.perf_counter()
            n = len(lm.detect(big))
            cells.append(f"{n} faces, {time.perf_counter() - t:.2f} s")
        print(f"| min_face_share={share:g} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    raise SystemExit(main())
