"""`facepoints predict` on a folder of whole photos, the way a user runs it: wall-clock seconds per
photo (annotated images and the JSON written) and the 5-point NME on the labelled faces, for
today's defaults and for earlier settings, in one run, on the same photos.

The photos: the WFLW sample's 150 crowd and street photos (1024 px wide, 175 labelled faces);
NME by the eye centres on the faces found (IoU >= 0.3), FR@10% with missed faces counted as
failures.

    python benchmarks/folder_speed.py            # writes benchmarks/results/folder_speed.md

Rows:
- first: cuhk5-resnet in PyTorch, MTCNN, a second pass on every face, crops from the
  detector's box, one process (the defaults before ONNX Runtime, RetinaFace and crops from
  points);
- "default, one process": today's defaults with `--workers 0`;
- "default": today's defaults (`facepoints predict FOLDER`; workers: one per core).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"

ROWS = {
    "cuhk5-resnet, PyTorch, MTCNN, 2 passes, box crops, 1 process": (
        dict(
            model="cuhk5-resnet",
            detector="mtcnn",
            backend="torch",
            refine=True,
            seed_crops=False,
            upright=False,
        ),
        0,
    ),
    "default, one process (--workers 0)": ({}, 0),
    "default": ({}, None),
}


def run_row(kwargs: dict, workers: int | None, folder: Path, out: Path) -> tuple[float, Path]:
    from facepoints.inference.landmarker import FaceLandmarker
    from facepoints.inference.predict import plan_inputs, predict_inputs

    t0 = time.perf_counter()
    lm = FaceLandmarker(threads=1, **kwargs)
    inputs, results = plan_inputs([str(folder)], out, recursive=True)
    summary = predict_inputs(lm, inputs, out, results, workers=workers, progress=False)
    seconds = time.perf_counter() - t0
    if summary.failures:
        raise SystemExit(f"{len(summary.failures)} photos failed: {summary.failures[0]}")
    return seconds / max(summary.images, 1), results


def score(results: Path, records) -> dict:
    from facepoints.evaluation.metrics import summarize
    from facepoints.evaluation.wild import match_predictions
    from facepoints.inference.boxes import box_from_points
    from facepoints.schemes import project

    text = results.read_text()  # predict's JSONL (one image record a line) or JSON
    if results.suffix.lower() == ".jsonl":
        recs = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        recs = json.loads(text)
        recs = [recs] if isinstance(recs, dict) else recs
    by_file = {Path(r["file"]).resolve(): r for r in recs}
    truth = project(records.points, records.scheme, "cuhk5")
    true_boxes = box_from_points(records.points, records.scheme)
    pred = np.full(truth.shape, np.nan)
    for photo in sorted({str(p) for p in records.images}):
        idx = [i for i, p in enumerate(records.images) if str(p) == photo]
        faces = by_file[Path(photo).resolve()]["faces"]
        if not faces:
            continue
        pts = np.array([f["landmarks"] for f in faces], dtype=np.float64)
        m = match_predictions(box_from_points(pts, "cuhk5"), true_boxes[idx])
        for j, k in enumerate(m):
            if k >= 0:
                pred[idx[j]] = pts[k]
    found = np.isfinite(pred).all(axis=(1, 2))
    s = summarize(pred[found], truth[found], "cuhk5", thresholds=(0.10,))
    per_face = np.full(len(records), np.inf)
    per_face[found] = s["per_face"]
    return {"found": int(found.sum()), "faces": len(records), "nme": float(s["nme"]),
            "fr": float(np.mean(per_face > 0.10))}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=str(SHARED / "wflw_sample"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "folder_speed.md"))
    a = ap.parse_args(argv)

    from facepoints.data import read_dataset

    records = read_dataset("wflw68", "test", data_root=a.data_root)
    folder = Path(a.data_root) / "WFLW_images"
    lines = [
        "| settings | s/photo | vs first row | found | NME | FR@10% |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    base = None
    for name, (kwargs, workers) in ROWS.items():
        with tempfile.TemporaryDirectory() as tmp:
            per_photo, results = run_row(kwargs, workers, folder, Path(tmp) / "out")
            r = score(results, records)
        base = base or per_photo
        row = (
            f"| {name} | {per_photo:.3f} | {base / per_photo:.2f}x | {r['found']}/{r['faces']} "
            f"| {100 * r['nme']:.2f}% | {100 * r['fr']:.1f}% |"
        )
        print(row, flush=True)
        lines.append(row)
    text = (
        "\n".join(lines)
        + f"\n\n*`python benchmarks/folder_speed.py`: `predict` on the WFLW sample's 150 photos "
        f"(annotated images and JSON written), wall clock per photo, {os.cpu_count()} cores; "
        "NME by the eye centres on the faces found.*\n"
    )
    from facepoints.io import atomic_write_bytes

    atomic_write_bytes(a.out, text.encode())
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
