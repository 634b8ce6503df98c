"""`facepoints bench`: shipped models and peers side by side on the same test faces."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    from ..evaluation.bench import DEFAULT_PEERS

    p = sub.add_parser(
        "bench",
        help="accuracy, speed and size of models and peers (dlib, MTCNN) on the same test faces",
        description="Benchmark facepoints models and peer tools on the same faces and boxes: NME, "
        "median NME, FR@10%, AUC@10%, ms per face on one CPU thread, model size. Peers not "
        "installed are listed as such (install them with `pip install 'facepoints[peers]'`).",
    )
    p.add_argument(
        "models",
        nargs="*",
        metavar="MODEL",
        help="shipped model names, .safetensors files or run folders (default: every shipped "
        "model)",
    )
    p.add_argument("--data-root", help="the dataset folder (default: the user data folder)")
    p.add_argument("--dataset", default="cuhk5", help="dataset name (default: cuhk5)")
    p.add_argument("--split", default="test", help="which split to test on (default: test)")
    p.add_argument("--max-faces", type=int, help="a fixed random subset of this many faces")
    p.add_argument(
        "--peers",
        default=",".join(DEFAULT_PEERS),
        help=f"comma-separated peers, or none (default: {','.join(DEFAULT_PEERS)})",
    )
    p.add_argument(
        "--fit-split",
        default="train",
        help="the split whose faces fit each peer's box and map (default: train)",
    )
    p.add_argument(
        "--fit-faces",
        type=int,
        default=300,
        help="training faces on which each peer's box and map are fitted (default: 300)",
    )
    p.add_argument(
        "--timing-faces", type=int, default=200, help="faces timed per source (default: 200)"
    )
    p.add_argument(
        "--threads", type=int, default=1, help="threads for the accuracy pass (timing uses 1)"
    )
    p.add_argument("--out", default="runs/bench", help="folder for bench.json and bench.md")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX Runtime rows of models")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--speed",
        action="store_true",
        help="time the calls users make instead, one thread: ms/face at batch 1 and 32, ms per "
        "640x480 photo with 1 and 10 faces, video fps with tracking; ratios to dlib68 (writes "
        "speed.json and speed.md; --timing-faces faces, default 200)",
    )
    p.add_argument("--frames", type=int, default=150, help="video frames for --speed")
    p.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="--speed: time by the calling thread's CPU time (default: the work itself, steady on "
        "a busy machine; with one thread all work runs on it) or by the wall clock",
    )
    p.add_argument(
        "--backend",
        choices=("auto", "onnx", "torch"),
        default="auto",
        help="--speed: the models' backend (default auto, as users get it)",
    )
    p.add_argument(
        "--whole-photos",
        action="store_true",
        help="run each source's whole pipeline on the dataset's photos (its own face detector, "
        "then landmarks), misses counted as failures; peers default to dlib68 (HOG + shape "
        "predictor) and mediapipe (Face Mesh); --detector picks facepoints' detector",
    )
    p.add_argument(
        "--detector", help="--whole-photos: facepoints' face detector (default: default)"
    )
    p.add_argument("--max-photos", type=int, help="--whole-photos: the first N photos only")
    p.add_argument(
        "--scheme", help="--whole-photos: the points facepoints models give (default: their own)"
    )
    p.add_argument(
        "--compare",
        help="--whole-photos: compare every source in this scheme (default: the one each "
        "shares with the labels)",
    )
    p.add_argument(
        "--precision",
        choices=("float32", "int8"),
        default="float32",
        help="--whole-photos: the models' precision (int8: their shipped int8 files; the other "
        "modes measure those beside the float rows by themselves)",
    )
    p.add_argument(
        "--tta",
        action="store_true",
        help="--whole-photos: the models averaged over box scales (FaceLandmarker tta=True)",
    )
    p.add_argument(
        "--parts",
        action="store_true",
        help="--whole-photos: the models with their part refiners (FaceLandmarker parts=True)",
    )
    p.set_defaults(handler=_bench)


def _bench(a: argparse.Namespace) -> int:

    from ..evaluation.bench import format_attributes, format_bench, run_bench
    from ..models.pretrained import list_pretrained

    models = a.models or list_pretrained()
    peers = [] if a.peers.strip().lower() in ("", "none") else a.peers.split(",")
    peers = [p.strip() for p in peers if p.strip()]
    if a.speed:
        return _speed(a, models, peers)
    if a.whole_photos:
        return _whole(a, models, peers)
    rows = run_bench(
        models,
        data_root=a.data_root,
        split=a.split,
        max_faces=a.max_faces,
        threads=a.threads,
        peers=peers,
        fit_faces=a.fit_faces,
        fit_split=a.fit_split,
        timing_faces=a.timing_faces,
        dataset=a.dataset,
        progress=not a.no_progress,
        onnx=not a.no_onnx,
    )
    faces = next((r["n"] for r in rows if "n" in r), 0)
    title = f"{a.dataset} {a.split}: {faces} faces, the dataset's boxes"
    table = format_bench(rows)
    attributes = format_attributes(rows)
    if attributes:
        table += "\n\nBy attribute:\n\n" + attributes
    options = {
        "models": [str(m) for m in models],
        "peers": peers,
        "max_faces": a.max_faces,
        "fit_faces": a.fit_faces,
        "fit_split": a.fit_split,
        "timing_faces": a.timing_faces,
        "threads": a.threads,
    }
    data = {"dataset": a.dataset, "split": a.split, "faces": faces, "options": options}
    return _report(a.out, "bench", title, table, {**data, "rows": rows})


def _whole(a: argparse.Namespace, models: list, peers: list) -> int:
    """`bench --whole-photos`: every source end to end on whole photos (evaluation.wild)."""

    from ..evaluation.bench import DEFAULT_PEERS
    from ..evaluation.wild import WHOLE_PEERS, format_whole, run_whole

    if a.peers == ",".join(DEFAULT_PEERS):
        peers = list(WHOLE_PEERS)
    result = run_whole(
        models,
        dataset=a.dataset,
        split=a.split,
        data_root=a.data_root,
        peers=peers,
        detector=a.detector,
        max_photos=a.max_photos,
        progress=not a.no_progress,
        scheme=a.scheme,
        compare=a.compare,
        precision=a.precision,
        tta=a.tta,
        parts=True if a.parts else None,
    )
    title = (
        f"{a.dataset} {a.split}: {result['faces']} labelled faces on {result['photos']} whole "
        f"photos, each source's own detector, misses counted as failures"
    )
    table = format_whole(result)
    return _report(a.out, "whole", title, table, result)


def _speed(a: argparse.Namespace, models: list, peers: list) -> int:

    from ..evaluation.bench import LINEAR_SUFFIX
    from ..evaluation.speed import format_speed, run_speed

    # a peer's linear output map costs nothing: time each peer once
    peers = list(dict.fromkeys(p.removesuffix(LINEAR_SUFFIX) for p in peers))
    rows = run_speed(
        models,
        peers=peers,
        data_root=a.data_root,
        faces=a.timing_faces,
        frames=a.frames,
        backend=a.backend,
        clock=a.clock,
        progress=not a.no_progress,
    )
    import os
    import platform

    title = (
        f"One thread ({platform.processor() or platform.machine()}, {os.cpu_count()} cores "
        f"present), {a.clock} time: {a.timing_faces} CUHK test faces, 640x480 photos, "
        f"{a.frames} video frames; (Nx): N times dlib68's speed"
    )
    table = format_speed(rows)
    return _report(
        a.out,
        "speed",
        title,
        table,
        {
            "options": {
                "models": [str(m) for m in models],
                "peers": peers,
                "faces": a.timing_faces,
                "clock": a.clock,
                "frames": a.frames,
                "backend": a.backend,
            },
            "rows": rows,
        },
    )


def _report(out: str, stem: str, title: str, table: str, data: dict) -> int:
    """Print a benchmark's title and table, and write them as OUT/STEM.md beside its numbers in
    OUT/STEM.json (both atomically)."""
    from pathlib import Path

    from ..evaluation.report import write_json
    from ..io import atomic_write_bytes

    print(title)
    print(table)
    folder = Path(out)
    write_json(folder / f"{stem}.json", data)
    atomic_write_bytes(folder / f"{stem}.md", f"{title}\n\n{table}\n".encode())
    print(f"{stem}.json and {stem}.md written to {folder}")
    return 0
