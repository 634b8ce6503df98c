"""Measuring detectors against annotated faces: matching detections to listed boxes, fitting a
detector's BoxMap on training faces, recall / extra detections / IoU / speed on test faces, and
landmark NME with detected boxes against NME with the listed boxes.

A detection matches a listed face when, after the box map, IoU >= `min_iou` (0.3), or its centre
lies inside the listed box and its size is within a factor of 2 of it. Each listed face takes at
most one detection (the best IoU); detections that match no listed face are "extra": CUHK lists
one face per photo while a photo may show other real faces, so extras are not all false."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from ...data import FaceRecords
from ...io import load_image
from .base import BoxMap, FaceDetector
from .priors import box_iou as iou

__all__ = [
    "ImageRun",
    "iou",
    "match_faces",
    "run_detector",
    "run_detectors",
    "fit_box_map",
    "score_runs",
    "evaluate_detector",
    "detected_records",
    "nme_with_detected_boxes",
]


@dataclass
class ImageRun:
    """A detector's output on one image: listed faces' indices in the records, raw boxes (M, 4),
    scores (M,), and the seconds `detect` took."""

    faces: list[int]
    raw: np.ndarray
    scores: np.ndarray
    seconds: float
    shape: tuple[int, int] = (0, 0)


def match_faces(det: np.ndarray, gt: np.ndarray, min_iou: float = 0.3) -> np.ndarray:
    """For each listed box gt (G, 4), the index of its matching detection in det (M, 4) or -1
    (greedy by IoU, one detection per face; see the module docstring for the rule)."""
    det = np.asarray(det, dtype=np.float64).reshape(-1, 4)
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    out = np.full(len(gt), -1, dtype=np.int64)
    if len(det) == 0 or len(gt) == 0:
        return out
    ov = iou(gt, det)
    dc = (det[:, :2] + det[:, 2:]) / 2
    dside = np.sqrt(np.prod(det[:, 2:] - det[:, :2], axis=1).clip(1e-9))
    gside = np.sqrt(np.prod(gt[:, 2:] - gt[:, :2], axis=1).clip(1e-9))
    inside = (
        (dc[None, :, 0] >= gt[:, None, 0])
        & (dc[None, :, 0] <= gt[:, None, 2])
        & (dc[None, :, 1] >= gt[:, None, 1])
        & (dc[None, :, 1] <= gt[:, None, 3])
    )
    ratio = dside[None, :] / gside[:, None]
    ok = (ov >= min_iou) | (inside & (ratio >= 0.5) & (ratio <= 2.0))
    cand = np.where(ok, ov + 1e-6, -1.0)  # + eps: a centre-inside match with IoU 0 still ranks
    taken: set[int] = set()
    for g in np.argsort(-cand.max(axis=1)):
        for d in np.argsort(-cand[g]):
            if cand[g, d] < 0:
                break
            if d not in taken:
                out[g] = d
                taken.add(int(d))
                break
    return out


def run_detector(
    detector: FaceDetector,
    records: FaceRecords,
    progress: bool = False,
    max_images: int | None = None,
) -> list[ImageRun]:
    """Run `detector` once on every distinct image of `records` (in order), timing `detect`."""
    return run_detectors({detector.name: detector}, records, progress, max_images)[detector.name]


def run_detectors(
    detectors: dict[str, FaceDetector],
    records: FaceRecords,
    progress: bool = False,
    max_images: int | None = None,
) -> dict[str, list[ImageRun]]:
    """Run several detectors on every distinct image of `records`, taking turns on each image so
    that their timings share the same machine load; name -> runs."""
    from tqdm import tqdm

    groups: dict[str, list[int]] = {}
    for i, p in enumerate(records.images):
        groups.setdefault(str(p), []).append(i)
    items = list(groups.items())[:max_images]
    runs: dict[str, list[ImageRun]] = {name: [] for name in detectors}
    desc = ", ".join(detectors)
    for path, faces in tqdm(items, desc=desc, disable=not progress, leave=False):
        image = load_image(path)
        for name, detector in detectors.items():
            t0 = time.perf_counter()
            dets = detector.detect(image)
            dt = time.perf_counter() - t0
            raw = np.array([d.raw_box for d in dets], dtype=np.float32).reshape(-1, 4)
            scores = np.array([d.score for d in dets], dtype=np.float64)
            runs[name].append(ImageRun(faces, raw, scores, dt, image.shape[:2]))
    return runs


def fit_box_map(runs: Iterable[ImageRun], records: FaceRecords, rounds: int = 3) -> BoxMap:
    """Fit the raw -> listed box map on detector runs made with the identity map: start from the
    identity, match, fit on the matched pairs, and repeat with the new map."""
    runs = list(runs)
    box_map = BoxMap()
    for _ in range(rounds):
        raw, target = [], []
        for run in runs:
            gt = records.boxes[run.faces]
            m = match_faces(box_map.apply(run.raw), gt)
            for g, d in enumerate(m):
                if d >= 0:
                    raw.append(run.raw[d])
                    target.append(gt[g])
        box_map = BoxMap.fit(np.array(raw), np.array(target))
    return box_map


def score_runs(runs: Iterable[ImageRun], records: FaceRecords, box_map: BoxMap) -> dict:
    """Recall, extra detections per image, IoU of matched faces after the map, and timing."""
    runs = list(runs)
    faces = found = extra = with_extra = 0
    ious: list[float] = []
    for run in runs:
        gt = records.boxes[run.faces]
        mapped = box_map.apply(run.raw)
        m = match_faces(mapped, gt)
        faces += len(gt)
        found += int((m >= 0).sum())
        extra += len(mapped) - int((m >= 0).sum())
        with_extra += len(mapped) > int((m >= 0).sum())
        for g, d in enumerate(m):
            if d >= 0:
                ious.append(float(iou(mapped[d], gt[g])[0, 0]))
    ms = np.array([r.seconds for r in runs]) * 1000
    ious_a = np.array(ious)
    return {
        "images": len(runs),
        "faces": faces,
        "found": found,
        "recall": found / max(faces, 1),
        "extra_per_image": extra / max(len(runs), 1),
        "images_with_extra": with_extra / max(len(runs), 1),
        "mean_iou": float(ious_a.mean()) if ious else float("nan"),
        "iou_ge_0_5": float((ious_a >= 0.5).mean()) if ious else float("nan"),
        "ms_per_image": float(ms.mean()) if len(ms) else float("nan"),
        "ms_median": float(np.median(ms)) if len(ms) else float("nan"),
    }


def evaluate_detector(
    detector: FaceDetector,
    records: FaceRecords,
    progress: bool = False,
    max_images: int | None = None,
) -> dict:
    """`score_runs` of `detector` (with its own box map) on the images of `records`."""
    runs = run_detector(detector, records, progress=progress, max_images=max_images)
    # runs hold raw boxes: scoring applies the detector's map, as detect() did
    return score_runs(runs, records, detector.box_map)


def detected_records(
    runs: Iterable[ImageRun], records: FaceRecords, box_map: BoxMap
) -> tuple[FaceRecords, np.ndarray]:
    """The listed faces that the detector found, with their boxes replaced by the matched
    detections' mapped boxes, and the indices (into `records`) of those faces."""
    idx, boxes = [], []
    for run in runs:
        mapped = box_map.apply(run.raw)
        m = match_faces(mapped, records.boxes[run.faces])
        for g, d in enumerate(m):
            if d >= 0:
                idx.append(run.faces[g])
                boxes.append(mapped[d])
    idx_a = np.array(idx, dtype=np.int64)
    found = records.subset(idx_a)
    found.boxes = np.array(boxes, dtype=np.float32).reshape(-1, 4)
    return found, idx_a


def nme_with_detected_boxes(
    predict: Callable[[FaceRecords], np.ndarray],
    records: FaceRecords,
    detector: FaceDetector,
    norm: str = "inter-ocular",
    progress: bool = False,
    max_images: int | None = None,
) -> dict:
    """Landmark NME when crops come from `detector`'s boxes versus from the listed boxes.

    `predict(records) -> (N, K, 2)` predicts points for every face of `records` from its boxes
    (e.g. `lambda r: predict_records(loaded, r, progress=False)`), in the records' scheme. The
    NME with detected boxes covers the faces the detector found; the NME with listed boxes is
    given on the same faces and on all faces, so the two can be compared like for like."""
    from ...evaluation.metrics import nme_per_face

    runs = run_detector(detector, records, progress=progress, max_images=max_images)
    used = np.array(sorted(i for r in runs for i in r.faces), dtype=np.int64)
    listed = records.subset(used)
    nme_listed = nme_per_face(predict(listed), listed.points, listed.scheme, norm)
    found, idx = detected_records(runs, records, detector.box_map)
    if len(found):
        nme_found = nme_per_face(predict(found), found.points, found.scheme, norm)
        nme_listed_found = nme_listed[np.searchsorted(used, idx)]
    else:
        nme_found = nme_listed_found = np.zeros(0)
    return {
        "detector": detector.name,
        "faces": len(used),
        "found": len(idx),
        "recall": len(idx) / max(len(used), 1),
        "nme_listed_boxes": float(nme_listed.mean()) if len(used) else float("nan"),
        "nme_listed_boxes_found_faces": (
            float(nme_listed_found.mean()) if len(idx) else float("nan")
        ),
        "nme_detected_boxes": float(nme_found.mean()) if len(idx) else float("nan"),
    }
