"""Jitter and lag of landmarks through video, with and without One-Euro smoothing, on clips made
from CUHK test faces (no video dataset needed: the true path of every point is known).

For each of `--faces` test faces (default 10), clips of `--frames` frames at 30 fps, every frame
with Gaussian pixel noise (sigma `--noise` = 3 grey levels, as a webcam's sensor adds):

- still: the same image every frame. Jitter = mean frame-to-frame motion of a point, as a
  percentage of the face's inter-ocular distance (IOD); error = mean point error / IOD (NME).
- moving: the image translated (cv2.warpAffine, sub-pixel) along a figure eight, x = A sin(wt),
  y = A/2 sin(2wt), A = one IOD, at three speeds; the true points move with the same map.
  Error = NME against the true moving points: what smoothing adds here is its lag.

The first frame's crop comes from the listed box moved along the path; after it, FaceTracker
crops each frame where the previous frame's landmarks put the face (the "detector" is an oracle
that gives the true box; with `--detector NAME` a real one runs every `--detect-every` frames).

The command behind the README's table:

    python benchmarks/video_smoothing.py --model cuhk5-resnet

`--sweep` adds rows for a grid of (min_cutoff, beta) (how the defaults in
facepoints/inference/smoothing.py were chosen: the most jitter removed on a still face for at
most a small rise of the error at the fastest speed). `--simulate S` replaces the model by the
true points plus Gaussian noise of S IODs per frame, to study the filter alone.
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
from facepoints.evaluation.report import format_table  # noqa: E402
from facepoints.inference.detectors import Detection  # noqa: E402
from facepoints.inference.smoothing import DEFAULT_BETA, DEFAULT_MIN_CUTOFF  # noqa: E402
from facepoints.inference.tracking import FaceTracker  # noqa: E402
from facepoints.io import load_image  # noqa: E402

FPS = 30.0
SPEEDS = {"slow": 0.1, "medium": 0.25, "fast": 0.5}  # figure-eight cycles per second
SWEEP = [(mc, b) for mc in (0.3, 0.5, 1.0) for b in (5.0, 10.0, 20.0, 40.0)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="model name or path (default: shipped default)")
    ap.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data" / "cuhk5"))
    ap.add_argument("--faces", type=int, default=10)
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--noise", type=float, default=3.0, help="pixel noise sigma, grey levels")
    ap.add_argument("--detector", default="oracle", help="'oracle' (true box) or a detector name")
    ap.add_argument("--detect-every", type=int, default=30)
    ap.add_argument("--min-cutoff", type=float, default=DEFAULT_MIN_CUTOFF)
    ap.add_argument("--beta", type=float, default=DEFAULT_BETA)
    ap.add_argument("--sweep", action="store_true", help="also a grid of (min_cutoff, beta)")
    ap.add_argument("--simulate", type=float, default=None, help="true points + noise (IODs)")
    ap.add_argument("--backend", default="torch", choices=["torch", "onnx"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="also write the rows as JSON here")
    args = ap.parse_args(argv)
    if args.simulate is not None and args.detector != "oracle":
        ap.error("--simulate works with the oracle detector only")
    _one_thread()

    clips = make_clips(args)
    landmarker = _landmarker(args)
    configs = [("none", None, None), ("One-Euro", args.min_cutoff, args.beta)]
    if args.sweep:
        configs += [
            (f"One-Euro {mc:g}/{b:g}", mc, b)
            for mc, b in SWEEP
            if (mc, b) != (args.min_cutoff, args.beta)
        ]
    rows = []
    start = time.perf_counter()
    for label, mc, beta in configs:
        rows.append({"smoothing": label, **run_config(landmarker, clips, args, mc, beta)})
        print(f"{label}: done ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    cols = [
        ("smoothing", "Smoothing (min_cutoff/beta)", None),
        ("still_jitter", "Still: jitter %IOD/frame", ".3f"),
        ("still_nme", "Still: NME %", ".2f"),
    ]
    for name in SPEEDS:
        cols.append(
            (f"{name}_nme", f"{name.capitalize()} ({clips['speed'][name]:.1f} IOD/s): NME %", ".2f")
        )
    cols.append(("detector_calls", "Detector calls", "d"))
    what = "simulated model" if args.simulate is not None else landmarker.name
    print(
        f"\n{args.faces} CUHK test faces, {args.frames} frames at {FPS:g} fps, pixel noise "
        f"sigma {args.noise:g}; model {what}; defaults min_cutoff {args.min_cutoff:g}, "
        f"beta {args.beta:g}\n"
    )
    print(format_table(rows, cols, style="markdown"))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"settings": vars(args), "rows": rows}, indent=2))
    return 0


def make_clips(args) -> dict:
    """Per face: the clean image, its true box and points, and per clip the frame maps."""
    recs = read_dataset("cuhk5", "test", data_root=args.data_root)
    rng = np.random.default_rng(args.seed)
    pick = rng.choice(len(recs), size=min(args.faces, len(recs)), replace=False)
    t = np.arange(args.frames) / FPS
    faces = []
    for i in pick:
        pts = recs.points[i].astype(np.float64)
        iod = float(recs.scheme.norm_distance(pts))
        paths = {"still": np.zeros((args.frames, 2))}
        for name, hz in SPEEDS.items():
            w = 2 * np.pi * hz
            paths[name] = np.stack([iod * np.sin(w * t), iod / 2 * np.sin(2 * w * t)], axis=1)
        faces.append(
            {
                "image": load_image(recs.images[i]),
                "box": recs.boxes[i],
                "points": pts,
                "iod": iod,
                "paths": paths,
            }
        )
    speed = {}
    for name in SPEEDS:
        v = [
            np.linalg.norm(np.diff(f["paths"][name], axis=0), axis=1).mean() * FPS / f["iod"]
            for f in faces
        ]
        speed[name] = float(np.mean(v))
    return {"faces": faces, "speed": speed}


def run_config(landmarker, clips, args, min_cutoff, beta) -> dict:
    """Mean jitter and NME over faces for one smoothing setting."""
    import cv2

    smoothing = min_cutoff is not None
    out: dict[str, list[float]] = {"still_jitter": [], "still_nme": []}
    for name in SPEEDS:
        out[f"{name}_nme"] = []
    calls = 0
    for k, face in enumerate(clips["faces"]):
        img, h, w = face["image"], *face["image"].shape[:2]
        for c, (name, path) in enumerate(face["paths"].items()):
            noise = np.random.default_rng((args.seed, k, c))
            oracle = _Oracle(face["box"], path)
            if args.simulate is not None:
                landmarker.truth = face["points"]
            if args.detector == "oracle":
                landmarker._detector = oracle
            tracker = FaceTracker(
                landmarker,
                detect_every=args.detect_every if args.detector != "oracle" else 10**9,
                smoothing=smoothing,
                min_cutoff=min_cutoff or 1.0,
                beta=beta or 0.0,
                fps=FPS,
            )
            pred, true = [], []
            for j, (dx, dy) in enumerate(path):
                m = np.float32([[1, 0, dx], [0, 1, dy]])
                frame = cv2.warpAffine(
                    img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
                )
                frame = frame + noise.standard_normal(frame.shape, np.float32) * args.noise
                frame = np.clip(frame, 0, 255)
                oracle.frame = j
                if args.simulate is not None:
                    landmarker.shift = (dx, dy)
                faces = tracker.update(frame.astype(np.uint8), t=j / FPS)
                p = faces[0].landmarks if faces else np.full_like(face["points"], np.nan)
                pred.append(p)
                true.append(face["points"] + [dx, dy])
            calls += tracker.detector_calls
            pred, true = np.asarray(pred), np.asarray(true)
            err = np.linalg.norm(pred - true, axis=-1).mean(axis=-1) / face["iod"] * 100
            if name == "still":
                move = np.linalg.norm(np.diff(pred, axis=0), axis=-1).mean(axis=-1)
                out["still_jitter"].append(float(np.nanmean(move[1:]) / face["iod"] * 100))
                out["still_nme"].append(float(np.nanmean(err)))
            else:
                out[f"{name}_nme"].append(float(np.nanmean(err)))
    row = {k: float(np.mean(v)) for k, v in out.items()}
    row["detector_calls"] = calls
    return row


class _Oracle:
    """A detector that returns the true box of the current frame."""

    def __init__(self, box, path):
        self.box, self.path, self.frame = np.asarray(box, np.float32), path, 0

    def detect(self, rgb):
        dx, dy = self.path[self.frame]
        b = (self.box + np.array([dx, dy, dx, dy])).astype(np.float32)
        return [Detection(box=b, raw_box=b, score=1.0)]


class _Simulated:
    """A stand-in for FaceLandmarker: the true points plus Gaussian noise of `sigma` IODs."""

    def __init__(self, sigma: float, seed: int):
        from facepoints.schemes import get_scheme

        self.sigma, self.rng = sigma, np.random.default_rng(seed)
        self.scheme, self.name = get_scheme("cuhk5"), f"simulated (noise {sigma:g} IOD)"
        self.min_face, self.max_faces, self._detector = 1.0, None, None
        self.truth, self.shift = None, (0.0, 0.0)

    @property
    def detector(self):
        return self._detector

    def landmarks(self, rgb, boxes, refine=None):
        p = self.truth + np.asarray(self.shift)
        iod = float(self.scheme.norm_distance(p))
        noisy = p + self.rng.normal(0, self.sigma * iod, p.shape)
        return np.repeat(noisy[None], len(boxes), axis=0).astype(np.float32)


def _landmarker(args):
    if args.simulate is not None:
        return _Simulated(args.simulate, args.seed)
    from facepoints.inference.landmarker import FaceLandmarker

    detector = None if args.detector == "oracle" else args.detector
    return FaceLandmarker(args.model, detector=detector, backend=args.backend, threads=1)


def _one_thread() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


if __name__ == "__main__":
    sys.exit(main())
