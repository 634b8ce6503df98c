"""Measure every face detector side by side, in one run on one thread, and fit their box maps.

Three modes:

- measure (default): each detector runs on every photo of the sets, taking turns on each photo so
  that their times share the same machine load. Per set and detector: recall (a labelled face
  counts as found when a detection's mapped box matches its box, `fit.match_faces`), detections
  per photo that match no labelled face ("extra"; WFLW and 300-W label only some of the faces a
  photo shows, so extras are not all false), ms per photo, and the landmark NME with the
  detector's boxes through the default landmark model (refinement on, as `predict` runs it)
  against the NME with the reference boxes on the same faces. Sets: the WFLW sample photos
  (175 faces on 150 photos, 1024 px wide), the 300-W crops (train and test, 1,537 faces, at most
  384 px), CUHK test photos (250 or 400 px); the WFLW photos also resized to long side 640
  ("wflw@640": the time per 640-px photo). Reference boxes: CUHK's own, and for WFLW and 300-W
  the CUHK-convention box of the labelled points (`boxes.box_from_points`).
- `--fit`: run each detector with the identity map on CUHK training photos and fit its BoxMap
  (raw box -> CUHK box, `fit.fit_box_map`); `--write-maps` stores them in boxmaps.json.
- `--tune`: recall and extra detections per score threshold, on training photos only, for
  choosing the detectors' default thresholds: CUHK train photos, the 300-W training crops, and
  "small faces": mosaics of 4 x 4 of those 300-W training crops scaled so that each face's box
  is 20-48 px (random, seeded), on 96-px cells, the faces a crowd photo holds.

The tables in docs/detectors.md come from these commands. Detectors that cannot run here (a
missing package) are listed as skipped, with the reason.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch is imported

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facepoints.data import read_dataset  # noqa: E402
from facepoints.inference.boxes import box_from_points  # noqa: E402
from facepoints.inference.detectors import (  # noqa: E402
    DEFAULT_DETECTOR,
    DETECTORS,
    BoxMap,
    create_detector,
    detector_status,
)
from facepoints.inference.detectors.base import write_box_maps  # noqa: E402
from facepoints.inference.detectors.fit import (  # noqa: E402
    fit_box_map,
    match_faces,
    run_detector,
    score_runs,
)
from facepoints.io import load_image  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
THRESHOLDS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--detectors", nargs="*", default=None, help="default: all registered")
    ap.add_argument("--min-size", type=float, default=20, help="smallest face, px (default 20)")
    ap.add_argument("--fit", action="store_true", help="fit box maps on CUHK training photos")
    ap.add_argument("--write-maps", action="store_true", help="with --fit: update boxmaps.json")
    ap.add_argument("--fit-images", type=int, default=1000, help="CUHK training photos to fit on")
    ap.add_argument("--tune", action="store_true", help="recall/extras per score threshold")
    ap.add_argument("--tune-images", type=int, default=500, help="photos of each training set")
    ap.add_argument("--sets", default="wflw,wflw@640,300w,cuhk", help="comma-separated sets")
    ap.add_argument("--wflw-images", type=int, default=0, help="WFLW photos (0: all 150)")
    ap.add_argument("--w300-images", type=int, default=0, help="300-W crops (0: all 1,537)")
    ap.add_argument("--cuhk-images", type=int, default=1000, help="CUHK test photos (0: all)")
    ap.add_argument("--no-nme", action="store_true", help="skip the landmark NME")
    ap.add_argument("--model", default=None, help="landmark model (default: the shipped default)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the photo samples")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args(argv)

    _one_thread()
    names, rows = _runnable(args.detectors or DETECTORS.names())
    if args.fit:
        return _fit(names, args)
    if args.tune:
        return _tune(names, args)
    detectors = {n: create_detector(n, min_size=args.min_size) for n in names}
    landmarker = None
    if not args.no_nme:
        from facepoints.inference.landmarker import FaceLandmarker

        landmarker = FaceLandmarker(args.model, threads=1)
    results = {}
    for set_name in [s.strip() for s in args.sets.split(",") if s.strip()]:
        parts, long_side = _read_set(set_name, args)
        t0 = time.perf_counter()
        results[set_name] = _measure(detectors, parts, long_side, landmarker, args.progress)
        print(f"{set_name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        print(_table({set_name: results[set_name]}, [], args, None), file=sys.stderr, flush=True)
    print(_table(results, rows, args, landmarker))
    if args.out:
        doc = {
            "settings": vars(args) | {"environment": _environment()},
            "model": None if landmarker is None else landmarker.name,
            "skipped": rows,
            "results": results,
        }
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        from facepoints.io import atomic_write_bytes

        atomic_write_bytes(args.out, (json.dumps(doc, indent=2) + "\n").encode())
    return 0


# --- measure ----------------------------------------------------------------------------------


def _read_set(name: str, args):
    """([(records, reference boxes (N, 4)), ...] parts, long side or None) of a named set."""
    base, _, side = name.partition("@")
    if base == "wflw":
        r = read_dataset("wflw", "test", SHARED / "wflw_sample")
        r = _sample(r, args.wflw_images, args.seed)
        parts = [(r, box_from_points(r.points, r.scheme))]
    elif base == "300w":
        train = read_dataset("300w", "train", SHARED / "300w")
        test = read_dataset("300w", "test", SHARED / "300w")
        total = len(_images(train)) + len(_images(test))
        parts = []
        for r in (train, test):  # a sample takes the same share of both splits
            n = round(args.w300_images * len(_images(r)) / total) if args.w300_images else 0
            r = _sample(r, max(n, 1) if args.w300_images else 0, args.seed)
            parts.append((r, box_from_points(r.points, r.scheme)))
    elif base == "cuhk":
        r = _sample(read_dataset("cuhk5", "test", SHARED / "cuhk5"), args.cuhk_images, args.seed)
        parts = [(r, r.boxes.copy())]
    else:
        raise SystemExit(f"unknown set {name!r} (known: wflw, 300w, cuhk, NAME@LONG_SIDE)")
    return parts, (int(side) if side else None)


def _measure(detectors, parts, long_side, landmarker, progress) -> dict:
    """Run every detector on every photo of the parts (optionally resized to `long_side`)."""
    acc = {
        n: {
            "faces": 0,
            "found": 0,
            "extra": 0,
            "ms": [],
            "nme_det": [],
            "nme_ref": [],
            "nme_seed": [],
        }
        for n in detectors
    }
    photos = 0
    for records, ref in parts:
        photos += _measure_part(detectors, records, ref, long_side, landmarker, progress, acc)
    out = {}
    for name, a in acc.items():
        ms = np.array(a["ms"])
        out[name] = {
            "photos": photos,
            "faces": a["faces"],
            "found": a["found"],
            "recall": a["found"] / max(a["faces"], 1),
            "extra_per_photo": a["extra"] / max(photos, 1),
            "ms_mean": float(ms.mean()) if len(ms) else float("nan"),
            "ms_median": float(np.median(ms)) if len(ms) else float("nan"),
            "nme_detected": float(np.mean(a["nme_det"])) if a["nme_det"] else None,
            "nme_reference_same_faces": float(np.mean(a["nme_ref"])) if a["nme_ref"] else None,
            "nme_seeded_by_5_points": float(np.mean(a["nme_seed"])) if a["nme_seed"] else None,
        }
    return out


def _measure_part(detectors, records, ref, long_side, landmarker, progress, acc) -> int:
    """Add one part's counts, times and NMEs to `acc`; returns its number of photos."""
    from tqdm import tqdm

    from facepoints.evaluation.evaluate import common_scheme
    from facepoints.evaluation.metrics import nme_per_face
    from facepoints.schemes import project

    groups: dict[str, list[int]] = {}
    for i, p in enumerate(records.images):
        groups.setdefault(str(p), []).append(i)
    scheme = None
    if landmarker is not None:
        scheme = common_scheme(landmarker.scheme, records.scheme)
    for path, faces in tqdm(list(groups.items()), disable=not progress, leave=False):
        image = load_image(path)
        s = 1.0
        if long_side is not None:
            image, s = _resize_long_side(image, long_side)
        gt = ref[faces] * s
        found, seeds = {}, {}
        for name, det in detectors.items():
            t0 = time.perf_counter()
            dets = det.detect(image)
            acc[name]["ms"].append((time.perf_counter() - t0) * 1000)
            found[name] = np.array([d.box for d in dets], np.float32).reshape(-1, 4)
            if dets and dets[0].points is not None:  # the crop box from the detector's 5 points
                seeds[name] = box_from_points(np.stack([d.points for d in dets]), "cuhk5")
        pts_gt = truth = None
        if landmarker is not None:
            truth = project(records.points[faces] * s, records.scheme, scheme)
            pts_gt = _landmarks(landmarker, image, gt, scheme)
        for name, boxes in found.items():
            m = match_faces(boxes, gt)
            a = acc[name]
            a["faces"] += len(faces)
            a["found"] += int((m >= 0).sum())
            a["extra"] += len(boxes) - int((m >= 0).sum())
            hit = np.flatnonzero(m >= 0)
            if landmarker is not None and len(hit):
                pts = _landmarks(landmarker, image, boxes[m[hit]], scheme)
                a["nme_det"] += nme_per_face(pts, truth[hit], scheme).tolist()
                a["nme_ref"] += nme_per_face(pts_gt[hit], truth[hit], scheme).tolist()
                if name in seeds:
                    pts = _landmarks(landmarker, image, seeds[name][m[hit]], scheme)
                    a["nme_seed"] += nme_per_face(pts, truth[hit], scheme).tolist()
    return len(groups)


def _landmarks(landmarker, image, boxes, scheme) -> np.ndarray:
    """The landmark model's points (N, K, 2) for `boxes`, in `scheme`."""
    from facepoints.schemes import project

    faces = landmarker.detect(image, boxes=boxes)
    pts = np.array([f.landmarks for f in faces], np.float32)
    return project(pts, landmarker.scheme, scheme)


def _resize_long_side(image: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    import cv2

    h, w = image.shape[:2]
    s = side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    out = cv2.resize(image, size, interpolation=interp)
    return out, size[0] / w


# --- fit and tune -----------------------------------------------------------------------------


def _fit(names: list[str], args) -> int:
    train = _sample(read_dataset("cuhk5", "train", SHARED / "cuhk5"), args.fit_images, args.seed)
    maps = {}
    for name in names:
        t0 = time.perf_counter()
        det = DETECTORS.get(name)(min_size=args.min_size, box_map=BoxMap())
        runs = run_detector(det, train, args.progress)
        maps[name] = fit_box_map(runs, train)
        sc = score_runs(runs, train, maps[name])
        print(
            f"{name}: box map {maps[name]}; on the fitting photos recall {sc['recall']:.4f}, "
            f"mean IoU {sc['mean_iou']:.3f} ({time.perf_counter() - t0:.0f} s)"
        )
    if args.write_maps and maps:
        note = (
            "raw detector box -> CUHK training box: centre + (dx*w, dy*h), size * (sx, sy); "
            f"median over matched faces of {len(_images(train))} CUHK training photos "
            f"(benchmarks/detectors.py --fit, min_size {args.min_size:g})"
        )
        print(f"box maps written to {write_box_maps(maps, note=note)}", file=sys.stderr)
    return 0


def _tune(names: list[str], args) -> int:
    """Recall and extras per threshold on training photos, from one low-threshold run."""
    cuhk = _sample(read_dataset("cuhk5", "train", SHARED / "cuhk5"), args.tune_images, args.seed)
    w300 = _sample(read_dataset("300w", "train", SHARED / "300w"), args.tune_images, args.seed)
    w300_ref = box_from_points(w300.points, w300.scheme)
    sets = {"cuhk train": (cuhk, cuhk.boxes.copy()), "300w train": (w300, w300_ref)}
    mosaics = _small_face_mosaics(w300, w300_ref, args.seed)
    print("| detector | set | " + " | ".join(f"{t:g}" for t in THRESHOLDS) + " |")
    print("|---|---|" + "---:|" * len(THRESHOLDS))
    for name in names:
        det = create_detector(name, min_size=args.min_size, threshold=min(THRESHOLDS))
        for set_name, (records, ref) in sets.items():
            runs = run_detector(det, records, args.progress)
            cells = []
            for t in THRESHOLDS:
                faces = found = extra = 0
                for run in runs:
                    keep = run.scores >= t
                    boxes = det.box_map.apply(run.raw[keep])
                    m = match_faces(boxes, ref[run.faces])
                    faces += len(run.faces)
                    found += int((m >= 0).sum())
                    extra += len(boxes) - int((m >= 0).sum())
                cells.append(f"{found / faces:.4f} / {extra / len(runs):.2f}")
            print(f"| {name} | {set_name} | " + " | ".join(cells) + " |")
        # the light detectors: also the input scale (`window`: the size, px, a min_size face
        # has for the network), which matters for small faces only
        windows = (16, 20, 24, 32) if hasattr(det, "long_side") else (None,)
        default_window = getattr(det, "window", None)
        for window in windows:
            if window is not None:
                det.window = window
            cells = _small_face_cells(det, mosaics)
            label = "" if window is None else f", window {window}"
            label += " (default)" if window is not None and window == default_window else ""
            faces = sum(len(ref) for _, ref in mosaics)
            print(f"| {name} | small faces ({faces}{label}) | " + " | ".join(cells) + " |")
    print("\ncells: recall / extra detections per photo at each score threshold")
    return 0


def _small_face_cells(det, mosaics) -> list[str]:
    """Recall / extras per mosaic at each of THRESHOLDS, for `det` on the mosaics."""
    found = np.zeros(len(THRESHOLDS))
    extra = np.zeros(len(THRESHOLDS))
    faces = 0
    for canvas, ref in mosaics:
        dets = det.detect(canvas)
        boxes = np.array([d.box for d in dets], np.float32).reshape(-1, 4)
        scores = np.array([d.score for d in dets])
        faces += len(ref)
        for k, t in enumerate(THRESHOLDS):
            m = match_faces(boxes[scores >= t], ref)
            found[k] += (m >= 0).sum()
            extra[k] += int((scores >= t).sum()) - int((m >= 0).sum())
    return [f"{f / faces:.4f} / {e / len(mosaics):.2f}" for f, e in zip(found, extra, strict=True)]


def _small_face_mosaics(records, ref, seed: int, cell: int = 96, grid: int = 4):
    """[(canvas (grid*cell, grid*cell, 3) uint8, face boxes (n, 4)), ...]: each face's photo
    scaled so that its box side is 20-48 px, centred on its cell (grey elsewhere)."""
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    per = grid * grid
    for start in range(0, len(records) - per + 1, per):
        canvas = np.full((grid * cell, grid * cell, 3), 110, np.uint8)
        boxes = []
        for j, i in enumerate(range(start, start + per)):
            image, box = load_image(records.images[i]), ref[i]
            s = rng.uniform(20, 48) / min(box[2] - box[0], box[3] - box[1])
            small = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
            cx, cy = (box[0] + box[2]) / 2 * s, (box[1] + box[3]) / 2 * s
            ox = (j % grid) * cell + cell / 2 - cx  # where the small photo's origin lands
            oy = (j // grid) * cell + cell / 2 - cy
            x0, y0 = max(int(round(ox)), (j % grid) * cell), max(int(round(oy)), (j // grid) * cell)
            x1 = min(int(round(ox)) + small.shape[1], (j % grid + 1) * cell)
            y1 = min(int(round(oy)) + small.shape[0], (j // grid + 1) * cell)
            sx0, sy0 = x0 - int(round(ox)), y0 - int(round(oy))
            canvas[y0:y1, x0:x1] = small[sy0 : sy0 + y1 - y0, sx0 : sx0 + x1 - x0]
            dx, dy = int(round(ox)), int(round(oy))
            boxes.append(box * s + np.array([dx, dy, dx, dy]))
        out.append((canvas, np.array(boxes, np.float32)))
    return out


# --- helpers ----------------------------------------------------------------------------------


def _runnable(names: list[str]) -> tuple[list[str], list[dict]]:
    ok, skipped = [], []
    for name in names:
        reason = detector_status(name)
        if reason is None:
            ok.append(name)
        else:
            skipped.append({"detector": name, "status": f"skipped: {reason}"})
            print(f"{name}: skipped ({reason})", file=sys.stderr)
    return ok, skipped


def _sample(records, n: int, seed: int):
    """The faces of n photos drawn at random (fixed seed), in list order; n <= 0: all."""
    images = _images(records)
    if 0 < n < len(images):
        rng = np.random.default_rng(seed)
        chosen = {images[i] for i in rng.choice(len(images), size=n, replace=False).tolist()}
        idx = [i for i, p in enumerate(records.images) if str(p) in chosen]
        return records.subset(np.array(idx))
    return records


def _images(records) -> list[str]:
    return list(dict.fromkeys(str(p) for p in records.images))


def _table(results: dict, skipped: list[dict], args, landmarker) -> str:
    lines = [
        "| set | detector | recall | found / faces | extra det./photo | ms/photo mean (median) "
        "| NME detected boxes | NME reference boxes (same faces) | NME seeded by its 5 points |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for set_name, per in results.items():
        for name, r in per.items():
            nd, nr = r["nme_detected"], r["nme_reference_same_faces"]
            ns = r["nme_seeded_by_5_points"]
            lines.append(
                f"| {set_name} | {name}{' (default)' if name == DEFAULT_DETECTOR else ''} | "
                f"{r['recall']:.4f} | {r['found']} / {r['faces']} | {r['extra_per_photo']:.2f} | "
                f"{r['ms_mean']:.1f} ({r['ms_median']:.1f}) | "
                f"{'' if nd is None else f'{100 * nd:.2f}%'} | "
                f"{'' if nr is None else f'{100 * nr:.2f}%'} | "
                f"{'' if ns is None else f'{100 * ns:.2f}%'} |"
            )
    for row in skipped:
        lines.append(f"| | {row['detector']} | {row['status']} |||||||")
    model = "" if landmarker is None else f"; landmarks: {landmarker.name}, inter-ocular NME"
    lines.append(
        f"\nmin_size {args.min_size:g} px, each detector's defaults, one thread{model}; "
        "photos per set as listed"
    )
    return "\n".join(lines)


def _one_thread() -> None:
    import cv2

    cv2.setNumThreads(1)
    import torch

    torch.set_num_threads(1)


def _environment() -> dict:
    import cv2
    import torch

    env = {
        "python": platform.python_version(),
        "opencv": cv2.__version__,
        "torch": torch.__version__,
    }
    try:
        env["dlib"] = __import__("dlib").__version__
    except ImportError:
        pass
    env["cpu"] = platform.processor() or platform.machine()
    env["load_average"] = list(os.getloadavg())
    return env


if __name__ == "__main__":
    raise SystemExit(main())
