"""End-to-end speed on ONE CPU thread: the face detector on a 640x480 frame, landmarks per face
with PyTorch and with ONNX Runtime, and frames per second through a 640x480 video with one face
and tracking (the detector every `--detect-every` frames).

The frame is a CUHK test image (scaled by `--face-scale`, so the face is webcam-sized) on a grey
640x480 canvas; the video moves it slightly (a few pixels a frame) along a figure eight.

- detector: median ms of `create_detector(--detector, min_size=--min-face).detect` per frame.
- landmarks/face: median ms of one tracked face (crop, model, map back), `landmarks(refine=False)`.
- tracking fps: FaceTracker over the frames in memory (BGR, as OpenCV gives them).
- video fps: `process_video` on an mp4 of the same frames: decode, track, draw, encode, JSONL.

The command behind docs/predict.md's table:

    python benchmarks/speed.py --model cuhk5-fast

`--arch NAME` times an untrained model of a registered architecture instead: speed does not
depend on the weights, and a regression head is set to answer the mean CUHK face of its crop, so
the tracker keeps its track as it would with a trained model.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch is imported
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facepoints.data import read_dataset  # noqa: E402
from facepoints.evaluation.report import format_table  # noqa: E402
from facepoints.io import load_image  # noqa: E402

W, H = 640, 480


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="model name or path (default: shipped default)")
    ap.add_argument("--arch", default=None, help="time an untrained model of this architecture")
    ap.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data" / "cuhk5"))
    ap.add_argument("--detector", default=None, help="detector name (default: the default)")
    ap.add_argument("--min-face", type=float, default=60, help="smallest face, px (default 60)")
    ap.add_argument("--face-scale", type=float, default=1.5, help="CUHK image scale on the canvas")
    ap.add_argument("--detect-every", type=int, default=30)
    ap.add_argument("--frames", type=int, default=300, help="frames in the tracking video")
    ap.add_argument("--repeats", type=int, default=50, help="timed calls per figure")
    ap.add_argument("--backends", nargs="+", default=["torch", "onnx"])
    ap.add_argument("--no-video", action="store_true", help="skip the process_video figure")
    ap.add_argument("--out", default=None, help="also write the results as JSON here")
    args = ap.parse_args(argv)

    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)

    from facepoints.inference.detectors import DEFAULT_DETECTOR, create_detector

    frames, boxes = make_video(args)
    model = _model(args)
    det_name = args.detector or DEFAULT_DETECTOR
    detector = create_detector(det_name, min_size=args.min_face)
    rgb0 = cv2.cvtColor(frames[0], cv2.COLOR_BGR2RGB)
    found = detector.detect(rgb0)
    det_ms = _median_ms(lambda: detector.detect(rgb0), max(5, args.repeats // 5))
    print(f"detector {det_name}: {det_ms:.1f} ms, {len(found)} face(s)", file=sys.stderr)

    rows = []
    for backend in args.backends:
        lm = _landmarker(model, backend, detector, args)
        box = found[0].box if found else boxes[0]
        face_ms = _median_ms(
            lambda lm=lm, box=box: lm.landmarks(rgb0, box[None], refine=False), args.repeats
        )
        fps, calls = _tracking_fps(lm, frames, args.detect_every)
        row = {
            "backend": "PyTorch" if backend == "torch" else "ONNX Runtime",
            "detector_ms": det_ms,
            "face_ms": face_ms,
            "tracking_fps": fps,
            "detector_calls": calls,
        }
        if not args.no_video:
            row["video_fps"] = _video_fps(lm, frames, args.detect_every)
        rows.append(row)
        print(f"{backend}: {row}", file=sys.stderr)
    cols = [
        ("backend", "Landmarks with", None),
        ("detector_ms", f"Detector ms/frame ({det_name}, 640x480)", ".1f"),
        ("face_ms", "Landmarks ms/face", ".2f"),
        ("tracking_fps", f"Tracking fps (detector every {args.detect_every})", ".0f"),
    ]
    if not args.no_video:
        cols.append(("video_fps", "Video fps (decode+track+draw+encode)", ".0f"))
    what = f"untrained {args.arch}" if args.arch else model.name
    size = model.model.input_size
    print(
        f"\nOne CPU thread ({platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores present); model {what} ({size}px); {len(frames)} frames "
        f"640x480, one face; detector min face {args.min_face:g}px\n"
    )
    print(format_table(rows, cols, style="markdown"))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"settings": vars(args), "rows": rows}, indent=2))
    return 0


def make_video(args) -> tuple[list[np.ndarray], np.ndarray]:
    """BGR 640x480 frames of one CUHK test face moving a few pixels a frame, and its true boxes."""
    import cv2

    recs = read_dataset("cuhk5", "test", data_root=args.data_root)
    img = cv2.cvtColor(load_image(recs.images[0]), cv2.COLOR_RGB2BGR)
    s = args.face_scale
    img = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_LINEAR)
    h, w = img.shape[:2]
    x0, y0 = (W - w) // 2, (H - h) // 2
    t = np.arange(args.frames) / 30.0
    path = np.stack([40 * np.sin(2 * np.pi * 0.2 * t), 20 * np.sin(4 * np.pi * 0.2 * t)], axis=1)
    frames, boxes = [], []
    for dx, dy in path:
        m = np.float32([[1, 0, x0 + dx], [0, 1, y0 + dy]])
        frames.append(
            cv2.warpAffine(img, m, (W, H), borderMode=cv2.BORDER_CONSTANT, borderValue=(96,) * 3)
        )
        boxes.append(recs.boxes[0] * s + np.array([x0 + dx, y0 + dy] * 2))
    return frames, np.asarray(boxes, dtype=np.float32)


def _model(args):
    from facepoints.models import create_model
    from facepoints.models.pretrained import LoadedModel, resolve_model

    if args.arch:
        m = create_model(args.arch).eval()
        _answer_mean_shape(m, args)
        return LoadedModel(model=m, name=args.arch, path=Path(""))
    return resolve_model(args.model)


def _answer_mean_shape(model, args) -> None:
    """Make an untrained regression model answer the mean CUHK shape of its crop, so the tracker
    keeps its track (and calls the detector) as it would with a trained model."""
    import torch

    from facepoints.geometry import apply, crop_matrix

    fc = getattr(model.head, "fc", None)
    if fc is None:
        print(f"{args.arch}: not a regression head; the tracker may lose the face", file=sys.stderr)
        return
    recs = read_dataset("cuhk5", "test", data_root=args.data_root)
    s = model.input_size
    mean = np.mean(
        [
            apply(crop_matrix(b, s, margin=0.2), p) / s
            for b, p in zip(recs.boxes[:200], recs.points[:200], strict=True)
        ],
        axis=0,
    )
    with torch.no_grad():
        fc.weight.zero_()
        fc.bias.copy_(torch.from_numpy(mean.reshape(-1)))


def _landmarker(model, backend: str, detector, args):
    from facepoints.inference.landmarker import FaceLandmarker

    return FaceLandmarker(
        model, detector=detector, backend=backend, threads=1, min_face=args.min_face
    )


def _tracking_fps(lm, frames, detect_every: int) -> tuple[float, int]:
    from facepoints.inference.tracking import FaceTracker

    tracker = FaceTracker(lm, detect_every=detect_every)
    tracker.update(frames[0], color="bgr")  # warm-up (first calls allocate)
    tracker.reset()
    start = time.perf_counter()
    for f in frames:
        tracker.update(f, color="bgr")
    return len(frames) / (time.perf_counter() - start), tracker.detector_calls


def _video_fps(lm, frames, detect_every: int) -> float:
    import cv2

    from facepoints.inference.video import process_video

    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "in.mp4"
        writer = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"mp4v"), 30, (W, H))
        for f in frames:
            writer.write(f)
        writer.release()
        start = time.perf_counter()
        s = process_video(
            lm,
            src,
            Path(d) / "out.mp4",
            Path(d) / "out.jsonl",
            detect_every=detect_every,
            progress=False,
        )
        return s["frames"] / (time.perf_counter() - start)


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


if __name__ == "__main__":
    sys.exit(main())
