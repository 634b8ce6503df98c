"""Which detections get a filter: the face score (detector score and landmark score together) on
regions of the WFLW sample's crowd photos labelled by eye (`benchmarks/filters_regions.json`),
plus every annotated WFLW face of those photos as a face.

    .venv/bin/python benchmarks/filters_face_score.py           # the table, shipped weights
    .venv/bin/python benchmarks/filters_face_score.py --fit     # fit on tune photos, then the table

`--fit` fits the logistic weights on the tune half's labelled regions and chooses the threshold
there: the lowest that lets no tune hand, ear, back of a head or other non-face through, unless
that costs more than `--max-recall-loss` of the tune faces, in which case the threshold that
keeps that many faces; it prints the constants for `facepoints/filters/face_score.py`. The
held-out half is never used for a choice. "Gets a filter" = a detection matched to the region
(IoU >= 0.5; annotated faces 0.4) with a face score at or above the threshold; a labelled face
the detector missed counts as not getting one.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facepoints.filters.base import FILTER_MODEL  # noqa: E402
from facepoints.filters.face_score import _log_odds, calibration  # noqa: E402

REGIONS = ROOT / "benchmarks" / "filters_regions.json"
NOT_FACES = ("hand", "ear", "back", "other")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data" / "wflw_sample"))
    p.add_argument("--model", default=FILTER_MODEL)
    p.add_argument("--detector", default=None, help="face detector (default: the registry's)")
    p.add_argument("--fit", action="store_true", help="fit weights and threshold on tune photos")
    p.add_argument("--max-recall-loss", type=float, default=0.3)
    p.add_argument("--json", help="also write the measured rows here")
    a = p.parse_args(argv)

    from facepoints.data import read_dataset
    from facepoints.inference.landmarker import FaceLandmarker

    doc = json.loads(REGIONS.read_text())
    regions = doc["regions"]
    annotated = read_dataset("wflw68", "test", data_root=a.data_root)
    gt: dict[str, list] = {}
    for path, box in zip(annotated.images, annotated.boxes, strict=True):
        gt.setdefault(Path(path).relative_to(Path(a.data_root) / "WFLW_images").as_posix(), [])
        gt[Path(path).relative_to(Path(a.data_root) / "WFLW_images").as_posix()].append(box)

    lm = FaceLandmarker(model=a.model, detector=a.detector, threads=1)
    detector = lm.detector.name
    photos = sorted({r["photo"] for r in regions})
    rows = []  # one per labelled thing: split, kind, det score, landmark score (nan: missed)
    start = time.perf_counter()
    for photo in photos:
        faces = lm.detect(Path(a.data_root) / "WFLW_images" / photo)
        split = next(r["split"] for r in regions if r["photo"] == photo)
        boxes = [np.asarray(f.box, np.float64) for f in faces]
        mine = [r for r in regions if r["photo"] == photo]
        used = set()
        for r in mine:
            j = _best(boxes, r["box"], 0.5)
            rows.append(_row(split, r["kind"], faces[j] if j is not None else None))
            if j is not None:
                used.add(j)
        for box in gt.get(photo, []):  # annotated faces not among the labelled regions
            if any(_iou(r["box"], box) >= 0.4 for r in mine):
                continue
            j = _best(boxes, box, 0.4)
            rows.append(_row(split, "face", faces[j] if j is not None else None))
    seconds = time.perf_counter() - start
    weights, threshold = calibration(detector)
    if a.fit:
        tune = [r for r in rows if r["split"] == "tune" and r["kind"] != "unsure" and r["found"]]
        weights = _fit(tune)
        threshold = _choose(tune, weights, a.max_recall_loss)
        w = ", ".join(f"{v:.3f}" for v in weights)
        print(f'CALIBRATIONS entry:    "{detector}": (({w}), {threshold:.3f}),')
    print(
        f"detector {detector}, model {a.model}, {len(photos)} photos in {seconds:.1f} s; "
        f"threshold {threshold:.3f}"
    )
    print()
    print("| photos | labelled faces | get a filter | non-faces (hand/ear/back/other) | get one |")
    print("|---|--:|--:|--:|--:|")
    for split in ("tune", "heldout"):
        rs = [r for r in rows if r["split"] == split]
        faces_ = [r for r in rs if r["kind"] == "face"]
        nots = [r for r in rs if r["kind"] in NOT_FACES]
        hit = [r for r in faces_ if _passes(r, weights, threshold)]
        bad = [r for r in nots if _passes(r, weights, threshold)]
        kinds = Counter(r["kind"] for r in nots)
        bad_kinds = Counter(r["kind"] for r in bad)
        split_kinds = "/".join(str(kinds[k]) for k in NOT_FACES)
        bad_split = "/".join(str(bad_kinds[k]) for k in NOT_FACES)
        print(
            f"| {split} | {len(faces_)} | {len(hit)} ({100 * len(hit) / max(len(faces_), 1):.1f}%)"
            f" | {len(nots)} ({split_kinds}) | {len(bad)} ({bad_split}) |"
        )
        precision = len(hit) / max(len(hit) + len(bad), 1)
        print(
            f"<!-- {split}: precision {precision:.3f}, recall {len(hit) / max(len(faces_), 1):.3f};"
            f" faces the detector missed: {sum(not r['found'] for r in faces_)} -->"
        )
    if a.json:
        Path(a.json).write_text(
            json.dumps({"weights": weights, "threshold": threshold, "rows": rows})
        )
    return 0


def _row(split: str, kind: str, face) -> dict:
    if face is None:
        return {"split": split, "kind": kind, "found": False, "score": None, "points": None}
    ls = float(face.landmark_score)
    return {
        "split": split,
        "kind": kind,
        "found": True,
        "score": float(face.score),
        "points": ls if math.isfinite(ls) else None,
    }


def _score(row: dict, weights) -> float:
    """The face score of a measured row with `weights` (as `face_score` computes it)."""
    z = float(np.dot(weights, _features([row])[0][0]))
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


def _passes(row: dict, weights, threshold: float) -> bool:
    return bool(row["found"]) and _score(row, weights) >= threshold


def _features(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    x = np.array(
        [[1.0, _log_odds(r["score"], 1 - 1e-4), _log_odds(r["points"], 0.5)] for r in rows]
    )
    y = np.array([1.0 if r["kind"] == "face" else 0.0 for r in rows])
    return x, y


def _fit(rows: list[dict], l2: float = 1e-2) -> tuple[float, float, float]:
    """Logistic regression by Newton's method, the classes weighted equally, a little L2."""
    x, y = _features(rows)
    cw = np.where(y > 0, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9))
    w = np.zeros(3)
    for _ in range(50):
        p = 1 / (1 + np.exp(-(x @ w)))
        g = x.T @ (cw * (p - y)) + l2 * np.r_[0, w[1:]]
        h = (x * (cw * p * (1 - p))[:, None]).T @ x + l2 * np.diag([0, 1, 1])
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return tuple(float(v) for v in w)


def _choose(rows: list[dict], weights, max_loss: float) -> float:
    """The lowest threshold with no tune non-face through, capped to keep 1 - max_loss of faces."""
    scores = {id(r): _score(r, weights) for r in rows}
    faces = sorted(scores[id(r)] for r in rows if r["kind"] == "face")
    nots = [scores[id(r)] for r in rows if r["kind"] in NOT_FACES]
    clean = min(float(np.nextafter(max(nots), 2)), 1.0) if nots else 0.5
    keep = faces[int(math.floor(max_loss * len(faces)))] if faces else clean
    return round(min(clean, keep), 3)


def _best(boxes: list[np.ndarray], box, min_iou: float) -> int | None:
    if not boxes:
        return None
    ious = [_iou(b, box) for b in boxes]
    j = int(np.argmax(ious))
    return j if ious[j] >= min_iou else None


def _iou(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


if __name__ == "__main__":
    raise SystemExit(main())
