"""Options shared by several commands."""

from __future__ import annotations

import argparse


def add_data_options(p: argparse.ArgumentParser, split: bool = True) -> None:
    p.add_argument(
        "--data-root",
        help="the dataset folder (else $FACEPOINTS_DATA/<name>, else the user cache folder)",
    )
    p.add_argument("--dataset", help="dataset name (default: recognised from --data-root)")
    p.add_argument("--skip-bad", action="store_true", help="report and skip malformed list lines")
    if split:
        p.add_argument("--split", default="train", help="which split (default: train)")


def report_skipped(records_or_list) -> None:
    """Print the lines a lenient read skipped, one per line, to stderr."""
    import sys

    skipped = getattr(records_or_list, "skipped", records_or_list) or []
    for b in skipped:
        print(f"skipped {b}", file=sys.stderr)
    if skipped:
        print(f"{len(skipped)} bad line(s) skipped", file=sys.stderr)


def add_landmarker_options(p: argparse.ArgumentParser, faces: bool = False) -> None:
    """--model, --detector, --backend, --precision, --device, --threads: how a FaceLandmarker is
    built; with `faces`, also --min-face and --max-faces (which detected faces are kept)."""
    p.add_argument("--model", help="shipped name, .safetensors, .pt, run folder or .onnx")
    p.add_argument("--detector", help="face detector name (default: the shipped default)")
    p.add_argument(
        "--backend",
        choices=("auto", "onnx", "torch"),
        default="auto",
        help="auto (default): ONNX Runtime where installed, else PyTorch",
    )
    p.add_argument(
        "--precision",
        choices=("float32", "int8"),
        default="float32",
        help="int8: a shipped model's int8 file (ONNX Runtime; several times faster on CPUs "
        "with 8-bit dot products; see docs/speed.md)",
    )
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="N",
        help="CPU threads for the model (default 1: fastest for per-face work, and robust "
        "when other jobs share the cores)",
    )
    if faces:
        p.add_argument(
            "--min-face",
            type=float,
            default=20,
            metavar="PX",
            help="smallest face box side kept (20)",
        )
        p.add_argument(
            "--min-face-share",
            type=float,
            default=None,
            metavar="F",
            help="and the smallest as a share of a photo's longer side (0.01: 40 px in a 4000 px "
            "photo, a quarter of the detector's time; 0: off)",
        )
        p.add_argument("--max-faces", type=int, metavar="N", help="at most N faces per image")


def landmarker_from_args(a: argparse.Namespace, **overrides):
    """The FaceLandmarker that `add_landmarker_options`'s flags describe (`overrides` win)."""
    from ..inference.landmarker import MIN_FACE_SHARE, FaceLandmarker

    share = getattr(a, "min_face_share", None)
    kw = {
        "model": a.model,
        "detector": a.detector,
        "backend": a.backend,
        "device": a.device,
        "threads": a.threads,
        "precision": getattr(a, "precision", "float32"),
        "min_face": getattr(a, "min_face", 20),
        "min_face_share": MIN_FACE_SHARE if share is None else share,
        "max_faces": getattr(a, "max_faces", None),
    }
    return FaceLandmarker(**{**kw, **overrides})
