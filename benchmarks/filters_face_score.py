"""Which detections get a filter: the face score (the detector's score and the landmark model's
confidence in the face's points together) on regions of the WFLW sample's crowd photos labelled
by eye (`benchmarks/filters_regions.json`), plus every annotated WFLW face of those photos as a
face.

    .venv/bin/python benchmarks/filters_face_score.py           # the table, shipped weights
    .venv/bin/python benchmarks/filters_face_score.py --fit     # fit on tune photos, then the table
    .venv/bin/python benchmarks/filters_face_score.py --losses  # and where the faces without one
                                                                # are lost (detector or gate)

`--fit` fits the logistic weights on the tune half's labelled regions and chooses the threshold
there: the lowest that lets no tune hand, ear, back of a head or other non-face through, unless
that costs more than `--max-recall-loss` of the tune faces, in which case the threshold that
keeps that many faces; it prints the constants for `facepoints/filters/face_score.py`. The
held-out half is never used for a choice. "Gets a filter" = a detection matched to the region
(IoU >= 0.5; annotated faces 0.4) with a face score at or above the threshold; a labelled face
the detector missed counts as not getting one.

`--losses` sorts the faces without a filter: rejected by the gate (the detector found them), or
missed by the detector, and those again into: a detection there whose box overlaps the face's
by only 0.25 up to the match (a profile or tilted face boxed differently), found by the same
detector with its lowest settings (threshold `LOW_THRESHOLD`, faces down to `LOW_MIN_FACE` px)
but not at the landmarker's, or not found at all; by face size. `--min-face` sets the
landmarker's smallest face (the filter path's default is 20 px) to measure what a lower one
buys and costs.
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
from facepoints.filters.face_score import _log_odds, calibration, points_score  # noqa: E402

REGIONS = ROOT / "benchmarks" / "filters_regions.json"
NOT_FACES = ("hand", "ear", "back", "other")
LOW_THRESHOLD = 0.02  # the detector's lowest useful threshold (below it: every anchor)
LOW_MIN_FACE = 10.0  # px: retinaface's smallest anchor
NEAR_IOU = 0.25  # a detection overlapping a missed face this much is that face boxed differently
SIZES = ((0, 30), (30, 45), (45, 70), (70, math.inf))  # face box side, px


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data" / "wflw_sample"))
    p.add_argument("--model", default=FILTER_MODEL)
    p.add_argument("--detector", default=None, help="face detector (default: the registry's)")
    p.add_argument("--min-face", type=float, default=20, help="landmarker's smallest face, px")
    p.add_argument("--fit", action="store_true", help="fit weights and threshold on tune photos")
    p.add_argument("--max-recall-loss", type=float, default=0.3)
    p.add_argument("--l2", type=float, default=1.0, help="L2 penalty on the weights when fitting")
    p.add_argument("--losses", action="store_true", help="where faces without a filter are lost")
    p.add_argument("--json", help="also write the measured rows here")
    a = p.parse_args(argv)

    from facepoints.data import read_dataset
    from facepoints.inference.landmarker import FaceLandmarker
    from facepoints.io import load_image

    doc = json.loads(REGIONS.read_text())
    regions = doc["regions"]
    images = Path(a.data_root) / "WFLW_images"
    annotated = read_dataset("wflw68", "test", data_root=a.data_root)
    gt: dict[str, list] = {}
    for path, box in zip(annotated.images, annotated.boxes, strict=True):
        gt.setdefault(Path(path).relative_to(images).as_posix(), []).append(box)

    lm = FaceLandmarker(model=a.model, detector=a.detector, threads=1, min_face=a.min_face)
    detector = lm.detector.name
    low = None
    if a.losses:
        from facepoints.inference.detectors import create_detector

        low = create_detector(detector, min_size=LOW_MIN_FACE, threshold=LOW_THRESHOLD)
    photos = sorted({r["photo"] for r in regions})
    rows = []  # one per labelled thing: split, kind, scores (None: missed)
    seconds = 0.0
    for photo in photos:
        rgb = load_image(images / photo)
        start = time.perf_counter()
        faces = lm.detect(rgb)
        seconds += time.perf_counter() - start
        lows = [] if low is None else [np.asarray(d.box, np.float64) for d in low.detect(rgb)]
        split = next(r["split"] for r in regions if r["photo"] == photo)
        boxes = [np.asarray(f.box, np.float64) for f in faces]
        mine = [r for r in regions if r["photo"] == photo]
        things = [(r["kind"], r["box"], 0.5) for r in mine]
        things += [  # annotated faces not among the labelled regions
            ("face", box, 0.4)
            for box in gt.get(photo, [])
            if not any(_iou(r["box"], box) >= 0.4 for r in mine)
        ]
        for kind, box, min_iou in things:
            j = _best(boxes, box, min_iou)
            row = _row(split, kind, faces[j] if j is not None else None)
            row["side"] = float(min(box[2] - box[0], box[3] - box[1]))
            row["photo"], row["box"] = photo, [round(float(v), 1) for v in box]
            if j is None and low is not None:
                row["lost"] = (
                    "boxed differently"
                    if _best(boxes, box, NEAR_IOU) is not None
                    else "lower settings"
                    if _best(lows, box, min_iou) is not None
                    else "never"
                )
            rows.append(row)
    weights, threshold = calibration(detector)
    if a.fit:
        tune = [r for r in rows if r["split"] == "tune" and r["kind"] != "unsure" and r["found"]]
        weights = tuple(round(v, 3) for v in _fit(tune, a.l2))  # as shipped: 3 decimals
        threshold = _choose(tune, weights, a.max_recall_loss)
        w = ", ".join(f"{v:.3f}" for v in weights)
        print(f'CALIBRATIONS entry:    "{detector}": (({w}), {threshold:.3f}),')
    print(
        f"detector {detector}, model {a.model}, min face {a.min_face:g} px, {len(photos)} photos "
        f"in {seconds:.1f} s ({1000 * seconds / len(photos):.0f} ms a photo, detection and "
        f"landmarks); threshold {threshold:.3f}"
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
        detected = sum(r["found"] for r in nots)
        print(
            f"<!-- {split}: precision {precision:.3f}, recall {len(hit) / max(len(faces_), 1):.3f};"
            f" faces the detector missed: {sum(not r['found'] for r in faces_)};"
            f" non-faces the detector took for faces: {detected} -->"
        )
    if a.losses:
        _print_losses(rows, weights, threshold)
    if a.json:
        Path(a.json).write_text(
            json.dumps({"weights": weights, "threshold": threshold, "rows": rows})
        )
    return 0


def _print_losses(rows: list[dict], weights, threshold: float) -> None:
    """Faces without a filter, per half and face size: the gate's or the detector's."""
    print()
    print(
        "| photos | face side (px) | faces | get a filter | gate rejects | detector: boxed "
        "differently | detector: only at lowest settings | detector: never |"
    )
    print("|---|---|--:|--:|--:|--:|--:|--:|")
    for split in ("tune", "heldout"):
        faces = [r for r in rows if r["split"] == split and r["kind"] == "face"]
        for lo, hi in (*SIZES, (0, math.inf)):
            fs = [r for r in faces if lo <= r["side"] < hi]
            n = Counter(
                "filter"
                if _passes(r, weights, threshold)
                else "gate"
                if r["found"]
                else r.get("lost", "?")
                for r in fs
            )
            size = "all" if (lo, hi) == (0, math.inf) else f"{lo}-{hi}" if hi < 1e9 else f"{lo}+"
            print(
                f"| {split} | {size} | {len(fs)} | {n['filter']} | {n['gate']} | "
                f"{n['boxed differently']} | {n['lower settings']} | {n['never']} |"
            )


def _row(split: str, kind: str, face) -> dict:
    if face is None:
        return {"split": split, "kind": kind, "found": False, "score": None, "points": None}
    points = points_score(face)
    return {
        "split": split,
        "kind": kind,
        "found": True,
        "score": float(face.score),
        "points": points if math.isfinite(points) else None,
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


def _fit(rows: list[dict], l2: float = 1.0) -> tuple[float, float, float]:
    """Logistic regression by Newton's method, the classes weighted equally, L2 on the weights
    (not the bias): the tune faces and non-faces are almost separable, and without it the
    weights grow until the score is no longer a calibrated chance."""
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
    clean = math.ceil(max(nots) * 1000 + 1e-9) / 1000 if nots else 0.5  # shipped: 3 decimals
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
