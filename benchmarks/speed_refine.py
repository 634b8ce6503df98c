"""Does the second pass pay? NME with one pass and with two (the second on a box from the first
pass's points) and the extra milliseconds, per model and per box source, on VALIDATION faces:
the CUHK training faces each model held out (seeded split, val_fraction 0.1, seed 0), never test
(`--dataset 300w`: the 300-W training faces held out the same way, for the dense models).

Box sources: the dataset's given boxes; each detector's box matched to the face (IoU >= 0.3;
faces it misses are left out of its row); "tracking": the box a tracker crops, one built from the
previous pass's points (`box_from_points`), so its second pass is a third.

    python benchmarks/speed_refine.py --models cuhk5-resnet cuhk5-fast dense68

`FaceLandmarker(refine="auto")` takes its choices from this table (REFINE_AUTO)."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DETECTORS = ("mtcnn", "dlib_hog", "haar_default", "retinaface", "ultralight_slim")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["cuhk5-resnet"])
    ap.add_argument("--dataset", default="cuhk5", choices=("cuhk5", "300w"))
    ap.add_argument("--data-root", default=None, help="default: ../shared/data/DATASET")
    ap.add_argument("--detectors", nargs="*", default=list(DETECTORS))
    ap.add_argument("--max-faces", type=int, default=None, help="first N validation faces")
    ap.add_argument("--out", default=None, help="also write the rows as JSON here")
    a = ap.parse_args(argv)

    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    from facepoints import FaceLandmarker
    from facepoints.data import read_dataset
    from facepoints.evaluation.metrics import nme_per_face
    from facepoints.evaluation.report import format_table
    from facepoints.inference.boxes import box_from_points
    from facepoints.inference.detectors import create_detector
    from facepoints.io import load_image
    from facepoints.schemes import project

    root = a.data_root or str(ROOT.parent / "shared" / "data" / a.dataset)
    _, val = read_dataset(a.dataset, "train", data_root=root).split(0.1, 0)
    n = len(val) if a.max_faces is None else min(a.max_faces, len(val))
    images = [load_image(val.images[i]) for i in range(n)]
    truth, given = val.points[:n], val.boxes[:n]
    sources = {"given": given}
    for name in a.detectors:
        det = create_detector(name, min_size=20)
        boxes = np.full((n, 4), np.nan, np.float32)
        for i, rgb in enumerate(images):
            found = [np.asarray(d.box, np.float32) for d in det.detect(rgb)]
            if found:
                iou = _iou(np.stack(found), given[i])
                if iou.max() >= 0.3:
                    boxes[i] = found[int(iou.argmax())]
        sources[name] = boxes
        print(f"{name}: {np.isfinite(boxes[:, 0]).sum()} of {n} faces found", file=sys.stderr)

    rows = []
    for spec in a.models:
        # the model's own points for the set's scheme (dense98's 5-point block on CUHK)
        lm = FaceLandmarker(spec, backend="onnx", threads=1, scheme=val.scheme.name)
        one_given = _points(lm, images, given, False)
        sources["tracking"] = box_from_points(one_given, lm.scheme)
        for src, boxes in sources.items():
            ok = np.flatnonzero(np.isfinite(boxes[:, 0]))
            row = {"model": lm.name, "boxes": src, "faces": len(ok)}
            for passes, refine in (("1", False), ("2", True)):
                t0 = time.perf_counter()
                pts = _points(lm, [images[i] for i in ok], boxes[ok], refine)
                row[f"ms{passes}"] = (time.perf_counter() - t0) * 1e3 / max(len(ok), 1)
                p5 = project(pts, lm.scheme, val.scheme)
                row[f"nme{passes}"] = float(nme_per_face(p5, truth[ok], val.scheme).mean())
            row["gain"] = row["nme1"] - row["nme2"]
            rows.append(row)
            print(row, file=sys.stderr)
    cols = [
        ("model", "Model", None),
        ("boxes", "Boxes", None),
        ("faces", "Faces", "d"),
        ("nme1", "NME 1 pass", ".2%"),
        ("nme2", "NME 2 passes", ".2%"),
        ("gain", "Gain", ".2%"),
        ("ms1", "ms/face 1 pass", ".2f"),
        ("ms2", "ms/face 2 passes", ".2f"),
    ]
    print(f"\n{a.dataset} validation faces (held-out training faces), {n} faces, one thread\n")
    print(format_table(rows, cols, style="markdown"))
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(rows, indent=2))
    return 0


def _points(lm, images, boxes, refine: bool) -> np.ndarray:
    return np.stack(
        [lm.landmarks(im, boxes[i : i + 1], refine=refine)[0] for i, im in enumerate(images)]
    )


def _iou(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    lo = np.maximum(boxes[:, :2], box[:2])
    hi = np.minimum(boxes[:, 2:], box[2:])
    inter = np.clip(hi - lo, 0, None).prod(axis=1)
    area = (boxes[:, 2:] - boxes[:, :2]).prod(axis=1) + (box[2:] - box[:2]).prod()
    return inter / (area - inter)


if __name__ == "__main__":
    sys.exit(main())
