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
