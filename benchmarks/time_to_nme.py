"""Validation NME against training minutes, from training logs, beside the peers' test NME.

    .venv/bin/python benchmarks/time_to_nme.py docs/logs/*.csv --bench runs/bench/bench.json \
        --out docs/time_to_nme.png

Each log is a run folder's log.csv (facepoints train); `elapsed_s` is wall-clock training time on
the machine that trained (2 CPU cores here). The dashed lines are the peers' NME from a
`facepoints bench` run. Prints, per log, the first epoch and minute at which the validation NME
fell below each peer's NME (validation faces are training faces held out; the peers' figures are
on the test faces, so this is a guide to training time, not a claim about the test set).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from facepoints.evaluation.plots import plot_time_to_nme, read_training_log


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("logs", nargs="+", help="training log CSVs")
    ap.add_argument("--bench", help="bench.json of `facepoints bench` (peer reference lines)")
    ap.add_argument("--out", default="runs/time_to_nme.png")
    a = ap.parse_args()
    refs = {}
    if a.bench:
        for row in json.loads(Path(a.bench).read_text())["rows"]:
            if row.get("kind") == "peer" and row.get("nme") is not None:
                refs[row["source"]] = float(row["nme"])
    runs = {Path(p).stem: p for p in a.logs}
    plot_time_to_nme(
        runs, a.out, reference=refs, title="validation NME by training time (2 CPU cores)"
    )
    print("| run | best val NME | minutes | " + " | ".join(f"below {k}" for k in refs) + " |")
    print("|---|---:|---:|" + "---:|" * len(refs))
    for label, path in runs.items():
        log = read_training_log(path)
        t, y = log["elapsed_s"] / 60, log["val_nme"]
        cells = []
        for nme in refs.values():
            hit = np.flatnonzero(y < nme)
            cells.append(f"{t[hit[0]]:.1f} min" if len(hit) else "never")
        print(f"| {label} | {np.nanmin(y):.2%} | {t[-1]:.1f} | " + " | ".join(cells) + " |")
    print(f"\nplot written to {a.out}")


if __name__ == "__main__":
    main()
