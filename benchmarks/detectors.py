"""Measure the offline face detectors on CUHK and fit their box maps.

For each detector: run it with the identity box map on training images and fit its BoxMap
(raw box -> CUHK box), then run it with that map on test images and report recall (listed faces
found), extra detections per image (detections matching no listed face: CUHK lists one face per
photo, so some extras are real, unlisted faces), mean IoU with the listed box after the map, the
share of found faces with IoU >= 0.5, and milliseconds per image on one thread.

The command behind the table below, run in one environment where every detector can run: a
virtual environment with opencv-python-headless 4.14 (OpenCV 5 wheels carry no Haar cascades),
dlib-bin 20.0.1, torch 2.13 (CPU) and facenet-pytorch 2.6.0 installed with --no-deps:

    OMP_NUM_THREADS=1 python benchmarks/detectors.py --fit-images 1000 --test-images 1000 \
        --min-size 40 --out benchmarks/results/detectors.json --write-maps

Maps fitted on 1,000 random training images (seed 0), scored on 1,000 random test images (seed
0; 390 LFW, 610 web photos), min_size 40 px, 2-core x86_64 VM shared with other jobs (load 3-5,
so compare the times with each other, not with other tables; the detectors took turns on each
image so they shared the same load):

| detector | recall | extra det./image | mean IoU (mapped) | IoU >= 0.5 | ms/image mean (median) |
|---|---:|---:|---:|---:|---:|
| mtcnn | 1.000 | 0.086 | 0.803 | 0.999 | 35.5 (32.0) |
| dlib_hog | 0.991 | 0.038 | 0.787 | 0.999 | 75.1 (54.8) |
| haar_default | 0.942 | 0.037 | 0.828 | 0.997 | 33.9 (23.6) |
| haar_alt2 | 0.933 | 0.012 | 0.830 | 0.999 | 26.8 (17.1) |

Most extra detections are real faces CUHK does not list (of 6 of mtcnn's extras looked at, 5 were
other people in the photo, several cut by the border; 1 was a second box on the listed face).

Detectors that cannot run here (a missing package) are listed as skipped, with the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facepoints.data import read_dataset  # noqa: E402
from facepoints.inference.detectors import (  # noqa: E402
    DETECTORS,
    BoxMap,
    detector_status,
)
from facepoints.inference.detectors.base import write_box_maps  # noqa: E402
from facepoints.inference.detectors.fit import (  # noqa: E402
    fit_box_map,
    run_detector,
    run_detectors,
    score_runs,
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data" / "cuhk5"))
    ap.add_argument("--detectors", nargs="*", default=None, help="default: all registered")
    ap.add_argument("--fit-images", type=int, default=1000, help="training images for the map")
    ap.add_argument("--test-images", type=int, default=1000, help="test images (0: all)")
    ap.add_argument("--min-size", type=float, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    ap.add_argument("--write-maps", action="store_true", help="update the shipped boxmaps.json")
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args(argv)

    _one_thread()
    train = _sample(read_dataset("cuhk5", "train", args.data_root), args.fit_images, args.seed)
    test = _sample(read_dataset("cuhk5", "test", args.data_root), args.test_images, args.seed)
    rows, maps, fitted = [], {}, {}
    for name in args.detectors or DETECTORS.names():
        reason = detector_status(name)
        if reason is not None:
            rows.append({"detector": name, "status": f"skipped: {reason}"})
            print(f"{name}: skipped ({reason})", file=sys.stderr)
            continue
        cls = DETECTORS.get(name)
        t0 = time.perf_counter()
        fit_runs = run_detector(cls(min_size=args.min_size, box_map=BoxMap()), train, args.progress)
        maps[name] = fit_box_map(fit_runs, train)
        fitted[name] = (cls(min_size=args.min_size, box_map=maps[name]), fit_runs)
        print(f"{name}: box map {maps[name]} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)

    # the test images: all detectors take turns on each image, so their times share one load
    test_runs = run_detectors({n: d for n, (d, _) in fitted.items()}, test, args.progress)
    for name, (_, fit_runs) in fitted.items():
        row = {"detector": name, "status": "ok", **score_runs(test_runs[name], test, maps[name])}
        row["fit"] = score_runs(fit_runs, train, maps[name])
        row["box_map"] = maps[name].to_dict()
        rows.append(row)
    rows.sort(key=lambda r: r["detector"])

    print(_table(rows, args))
    if args.out:
        out = Path(args.out)
        _write_rows(out, rows, vars(args) | {"environment": _environment()})
    if args.write_maps and maps:
        note = (
            f"raw detector box -> CUHK training box: centre + (dx*w, dy*h), size * (sx, sy); "
            f"median over matched faces of {len(_images(train))} CUHK training images "
            f"(benchmarks/detectors.py, min_size {args.min_size:g})"
        )
        print(f"box maps written to {write_box_maps(maps, note=note)}", file=sys.stderr)
    return 0


def _write_rows(out: Path, rows: list[dict], settings: dict) -> None:
    """Write rows to out, keeping the rows of other detectors an earlier run left there (each
    row carries the settings of its run)."""
    old = []
    if out.is_file():
        doc = json.loads(out.read_text(encoding="utf-8"))
        old = [r if "settings" in r else r | {"settings": doc.get("settings")} for r in doc["rows"]]
    done = {r["detector"] for r in rows if r["status"] == "ok"}
    rows = [r | {"settings": settings} for r in rows]
    kept = [r for r in old if r["detector"] not in done and r.get("status") == "ok"]
    merged = sorted(
        kept
        + [
            r
            for r in rows
            if r["status"] == "ok" or r["detector"] not in {k["detector"] for k in kept}
        ],
        key=lambda r: r["detector"],
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": merged}, indent=2) + "\n", encoding="utf-8")


def _sample(records, n: int, seed: int):
    """The faces of n images drawn at random (fixed seed), in list order; n <= 0: all."""
    images = _images(records)
    if 0 < n < len(images):
        rng = np.random.default_rng(seed)
        keep = set(rng.choice(len(images), size=n, replace=False).tolist())
        chosen = {images[i] for i in keep}
        idx = [i for i, p in enumerate(records.images) if str(p) in chosen]
        return records.subset(np.array(idx))
    return records


def _images(records) -> list[str]:
    return list(dict.fromkeys(str(p) for p in records.images))


def _table(rows: list[dict], args) -> str:
    head = (
        "| detector | test images | recall | extra det./image | mean IoU (mapped) "
        "| IoU >= 0.5 | ms/image (1 thread) | box map dx, dy, sx, sy |\n"
        "|---|---:|---:|---:|---:|---:|---:|---|"
    )
    lines = [head]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['detector']} | {r['status']} |||||||")
            continue
        m = r["box_map"]
        lines.append(
            f"| {r['detector']} | {r['images']} | {r['recall']:.3f} | "
            f"{r['extra_per_image']:.3f} | {r['mean_iou']:.3f} | {r['iou_ge_0_5']:.3f} | "
            f"{r['ms_per_image']:.1f} | {m['dx']:+.3f}, {m['dy']:+.3f}, {m['sx']:.3f}, "
            f"{m['sy']:.3f} |"
        )
    lines.append(
        f"\nmin_size {args.min_size:g} px; maps fitted on {args.fit_images} training images; "
        "extra detections include real faces that CUHK does not list."
    )
    return "\n".join(lines)


def _one_thread() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import cv2

    cv2.setNumThreads(1)
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


def _environment() -> dict:
    import platform

    import cv2

    env = {"python": platform.python_version(), "opencv": cv2.__version__}
    for module in ("dlib", "torch"):
        try:
            env[module] = __import__(module).__version__
        except ImportError:
            pass
    env["cpu"] = platform.processor() or platform.machine()
    return env


if __name__ == "__main__":
    raise SystemExit(main())
