"""Whole photos in, landmarks out: every source runs its own full pipeline (face detector, then
landmarks) on the dataset's photos, the way a user meets it, and misses count as failures.

A labelled face is found when a predicted face's box (the CUHK-convention box of its points, as
for the labels) overlaps its own by IoU >= `MATCH_IOU`; each prediction matches one labelled face
at most (the best overlap first). Points are compared in the scheme both sides share (68 points
for 300-W and WFLW, 5 for CUHK), normalised by that scheme's pair (outer eye corners for 68
points). The table gives faces found, NME and median NME on the faces found, and FR@0.10 over
all labelled faces with a missed face counted as a failure; for WFLW also per attribute.

Sources: facepoints models through `FaceLandmarker` (the default detector unless told), dlib's
HOG detector with its 68-point shape predictor, and MediaPipe Face Mesh with its own detector.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..schemes import Scheme, get_scheme, project

__all__ = [
    "WHOLE_PEERS",
    "MATCH_IOU",
    "run_whole",
    "format_whole",
    "match_predictions",
    "whole_photo_points",
]

MATCH_IOU = 0.3
WHOLE_PEERS = ("dlib68", "mediapipe")
_THRESHOLD = 0.10


@dataclass
class _Source:
    name: str
    scheme: Scheme
    run: Callable[[np.ndarray], list[np.ndarray]]  # RGB photo -> [(K, 2) points per face]
    notes: str = ""


def run_whole(
    models: Sequence[str],
    dataset: str,
    split: str,
    data_root: str | None = None,
    peers: Sequence[str] = WHOLE_PEERS,
    detector: str | None = None,
    max_photos: int | None = None,
    progress: bool = True,
    scheme: str | None = None,
    compare: str | None = None,
    precision: str = "float32",
    tta: bool = False,
    parts: bool | None = None,
) -> dict[str, Any]:
    """Run each source on every photo of the split once and score it against the labels; returns
    {"rows": [...], "faces": N, "photos": P, ...}. `scheme`: the points facepoints models give
    (None: their own); `compare`: the scheme every source and the labels are compared in (None:
    the one each source shares with the labels); `precision`, `tta`, `parts`: the models'
    (`FaceLandmarker`)."""
    from ..data import read_dataset

    records = read_dataset(dataset, split, data_root=data_root)
    photos = sorted({str(p) for p in records.images})
    if max_photos is not None:
        photos = photos[:max_photos]
        keep = np.array([str(p) in set(photos) for p in records.images])
        records = records.subset(np.flatnonzero(keep))
    sources = [
        _model_source(m, detector, scheme, precision=precision, tta=tta, parts=parts)
        for m in models
    ]
    sources += [_peer_source(p) for p in peers]
    rows = []
    for src in sources:
        if isinstance(src, dict):  # a peer that is not installed
            rows.append(src)
            continue
        rows.append(_score(src, records, photos, progress, compare))
    _add_groups(rows)
    return {
        "rows": rows,
        "faces": len(records),
        "photos": len(photos),
        "dataset": dataset,
        "split": split,
    }


def match_predictions(pred_boxes: np.ndarray, true_boxes: np.ndarray) -> np.ndarray:
    """(N_true,) index of the prediction matched to each labelled face, -1 for none: pairs by
    IoU >= MATCH_IOU, best overlap first, each prediction used once."""
    out = np.full(len(true_boxes), -1, dtype=np.int64)
    if not len(pred_boxes) or not len(true_boxes):
        return out
    iou = _iou(np.asarray(true_boxes, np.float64), np.asarray(pred_boxes, np.float64))
    taken = np.zeros(len(pred_boxes), dtype=bool)
    for flat in np.argsort(-iou, axis=None):
        t, p = np.unravel_index(flat, iou.shape)
        if iou[t, p] < MATCH_IOU:
            break
        if out[t] < 0 and not taken[p]:
            out[t], taken[p] = p, True
    return out


def format_whole(result: dict[str, Any]) -> str:
    """The result as a markdown table (and one per WFLW attribute, when there are any)."""
    header = ["Source", "Found", "NME (found)", "Median", "FR@10% (misses fail)", "ms/photo"]
    body = []
    for r in result["rows"]:
        if r.get("status") != "ok":
            body.append([r["name"], "-", "-", "-", "-", r.get("status", "")])
            continue
        body.append(
            [
                r["name"],
                f"{r['found']}/{r['faces']}",
                f"{r['nme']:.2%}",
                f"{r['median_nme']:.2%}",
                f"{r['fr']:.2%}",
                f"{r['ms_per_photo']:.0f}",
            ]
        )
    text = _markdown(header, body) + _groups_table(result["rows"])
    attrs = next((r["attributes"] for r in result["rows"] if r.get("attributes")), None)
    if attrs:
        names = list(attrs)
        head = ["Source"] + [f"{a} (n={attrs[a]['n']})" for a in names]
        lines = []
        for r in result["rows"]:
            if r.get("status") != "ok":
                continue
            a = r["attributes"]
            lines.append([r["name"]] + [_attribute_cell(a[n]) for n in names])
        text += "\n\nNME on found faces / FR@10% with misses, per attribute:\n\n"
        text += _markdown(head, lines)
    return text


def _attribute_cell(a: dict[str, Any]) -> str:
    if not a["n"]:
        return "-"
    nme = "-" if a["missed"] == a["n"] else f"{a['nme']:.2%}"
    return f"{nme} / {a['fr']:.1%} ({a['missed']} missed)"


# --- sources ------------------------------------------------------------------------------------


def _model_source(
    spec: str,
    detector: str | None,
    scheme: str | None = None,
    mirror: bool | None = None,
    precision: str = "float32",
    tta: bool = False,
    parts: bool | None = None,
) -> _Source:
    from ..inference.landmarker import FaceLandmarker

    lm = FaceLandmarker(
        model=spec,
        detector=detector,
        threads=1,
        scheme=scheme,
        mirror=mirror,
        precision=precision,
        tta=tta,
        parts=parts,
    )

    def run(rgb: np.ndarray) -> list[np.ndarray]:
        return [f.landmarks for f in lm.detect(rgb)]

    det = detector or "default detector"
    name = str(spec) if precision == "float32" else f"{spec} ({precision})"
    name += " (tta)" if tta else ""
    name += " (parts)" if parts else ""
    return _Source(name, lm.scheme, run, notes=f"{det}, {lm.backend}")


def _peer_source(name: str) -> _Source | dict:
    if name == "dlib68":
        return _dlib_source()
    if name == "mediapipe":
        return _mediapipe_source()
    raise ConfigError(f"unknown whole-photo peer {name!r}; known: {', '.join(WHOLE_PEERS)}")


def _dlib_source() -> _Source | dict:
    from ..peers.dlib68 import Dlib68

    if not Dlib68.available():
        return {"name": "dlib68", "status": "not installed"}
    peer = Dlib68()
    detector = peer._dlib.get_frontal_face_detector()

    def run(rgb: np.ndarray) -> list[np.ndarray]:
        rects = detector(np.ascontiguousarray(rgb), 1)
        boxes = np.array([[r.left(), r.top(), r.right() + 1, r.bottom() + 1] for r in rects])
        return list(peer.predict(rgb, boxes)) if len(boxes) else []

    return _Source("dlib HOG + shape_predictor_68", get_scheme("ibug68"), run, "dlib's own")


def _mediapipe_source() -> _Source | dict:
    from ..peers.mediapipe_mesh import MediaPipeMesh, _import_mediapipe

    if not MediaPipeMesh.available():
        return {"name": "mediapipe", "status": "not installed"}
    mp = _import_mediapipe()
    from ..peers.teachers import load_teacher_config

    vertex_map = np.asarray(load_teacher_config()["mesh_map"], dtype=np.int64)
    mesh = mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, max_num_faces=20, refine_landmarks=True
    )

    def run(rgb: np.ndarray) -> list[np.ndarray]:
        h, w = rgb.shape[:2]
        result = mesh.process(np.ascontiguousarray(rgb))
        out = []
        for face in result.multi_face_landmarks or ():
            v = np.array([(p.x * w, p.y * h) for p in face.landmark], dtype=np.float32)
            out.append(v[vertex_map])
        return out

    return _Source("MediaPipe Face Mesh", get_scheme("ibug68"), run, "its own detector")


# --- scoring ------------------------------------------------------------------------------------


def whole_photo_points(
    src: _Source, records, photos: list[str], scheme: Scheme, progress: bool = False
) -> tuple[np.ndarray, list[float]]:
    """Each labelled face's points (N, K, 2) in `scheme` from `src` run on its whole photo
    (NaN where no predicted face matches it: `match_predictions`), and the seconds each photo
    took."""
    from ..inference.boxes import box_from_points
    from ..io import load_image

    true_boxes = box_from_points(records.points, records.scheme)
    pred = np.full((len(records), scheme.num_points, 2), np.nan, dtype=np.float64)
    by_photo: dict[str, list[int]] = {}
    for i, p in enumerate(records.images):
        by_photo.setdefault(str(p), []).append(i)
    times = []
    for photo in _bar(photos, progress, src.name):
        rgb = load_image(photo)
        t = time.perf_counter()
        faces = src.run(rgb)
        times.append(time.perf_counter() - t)
        idx = by_photo[photo]
        if not faces:
            continue
        pts = np.stack([np.asarray(f, dtype=np.float64) for f in faces])
        pts = project(pts, src.scheme, scheme)
        m = match_predictions(box_from_points(pts, scheme), true_boxes[idx])
        for j, k in enumerate(m):
            if k >= 0:
                pred[idx[j]] = pts[k]
    return pred, times


def _score(
    src: _Source, records, photos: list[str], progress: bool, compare: str | None = None
) -> dict[str, Any]:
    from .evaluate import common_scheme
    from .metrics import normalising_distance, point_errors, summarize

    scheme = get_scheme(compare) if compare else common_scheme(src.scheme, records.scheme)
    truth = project(records.points, records.scheme, scheme)
    pred, times = whole_photo_points(src, records, photos, scheme, progress)
    found = np.isfinite(pred).all(axis=(1, 2))
    s = summarize(pred[found], truth[found], scheme, thresholds=(_THRESHOLD,))
    per_face = np.full(len(records), np.inf)
    per_face[found] = s["per_face"]
    errors = np.full(truth.shape[:2], np.nan)  # (N, K) point errors over the eye distance
    if found.any():
        d = normalising_distance(truth[found], scheme)
        errors[found] = point_errors(pred[found], truth[found]) / d[:, None]
    row: dict[str, Any] = {
        "_errors": errors,
        "name": src.name,
        "status": "ok",
        "notes": src.notes,
        "faces": len(records),
        "found": int(found.sum()),
        "nme": float(s["nme"]),
        "median_nme": float(np.median(s["per_face"])) if found.any() else float("nan"),
        "fr": float(np.mean(per_face > _THRESHOLD)),
        "fr_found": float(s[f"fr@{_THRESHOLD:.2f}"]),
        "ms_per_photo": 1000 * float(np.median(times)) if times else float("nan"),
        "scheme": scheme.name,
    }
    if records.attributes:
        row["attributes"] = {
            name: {
                "n": int(flags.sum()),
                "missed": int((flags & ~found).sum()),
                "nme": float(np.mean(per_face[flags & found])) if (flags & found).any() else 0.0,
                "fr": float(np.mean(per_face[flags] > _THRESHOLD)) if flags.any() else 0.0,
            }
            for name, flags in records.attributes.items()
        }
    return row


def _add_groups(rows: list[dict[str, Any]]) -> None:
    """Each scored row's NME per point group (the scheme's groups, and all points) on the faces
    that every scored source found, so that a source that skips hard faces gains nothing here;
    drops the rows' per-point errors."""
    scored = [r for r in rows if r.get("status") == "ok"]
    if not scored:
        return
    common = np.logical_and.reduce([np.isfinite(r["_errors"]).all(axis=1) for r in scored])
    for r in scored:
        errors = r.pop("_errors")[common]
        groups = dict(get_scheme(r["scheme"]).groups)
        groups["all"] = tuple(range(errors.shape[1]))
        r["groups_faces"] = int(common.sum())
        r["groups"] = {
            g: float(errors[:, list(idx)].mean()) if len(errors) else float("nan")
            for g, idx in groups.items()
        }


def _groups_table(rows: list[dict[str, Any]]) -> str:
    """The per-group table of the rows `_add_groups` filled ("" for 5-point schemes, whose
    groups are single points or pairs)."""
    scored = [r for r in rows if r.get("groups")]
    if not scored or get_scheme(scored[0]["scheme"]).num_points <= 5:
        return ""
    scored = [r for r in scored if r["scheme"] == scored[0]["scheme"]]  # one scheme's columns
    names = list(scored[0]["groups"])
    body = [[r["name"]] + [f"{r['groups'][g]:.2%}" for g in names] for r in scored]
    title = f"NME per point group on the {scored[0]['groups_faces']} faces every source found"
    return f"\n\n{title}:\n\n" + _markdown(["Source"] + names, body)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None] - inter, 1e-9)


def _markdown(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def _bar(items, progress: bool, name: str):
    if not progress:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=name, leave=False, dynamic_ncols=True)
