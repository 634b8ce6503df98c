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


def add_landmarker_options(p: argparse.ArgumentParser) -> None:
    """--model, --detector, --backend, --device, --threads: how a FaceLandmarker is built."""
    p.add_argument("--model", help="shipped name, .safetensors, .pt, run folder or .onnx")
    p.add_argument("--detector", help="face detector name (default: the shipped default)")
    p.add_argument(
        "--backend",
        choices=("auto", "onnx", "torch"),
        default="auto",
        help="auto (default): ONNX Runtime where installed, else PyTorch",
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
