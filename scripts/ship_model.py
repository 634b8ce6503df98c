"""Ship a trained run as a named model: facepoints/weights/NAME.safetensors (the run's best
weights and metadata, plus the recipe), recipes/NAME.json (the run's config) and
docs/logs/NAME.csv (its training log, for the time-to-NME figure); `--recipe STAGE` writes
those two as recipes/STAGE.json and docs/logs/STAGE.csv instead, for a stage shipped under the
model's name only so that the next stage can start from it.

    .venv/bin/python scripts/ship_model.py runs/cuhk5-resnet cuhk5-resnet
    .venv/bin/python scripts/ship_model.py runs/dense98 dense98 --vote 15   # heatmaps read by vote

The model card (facepoints/weights/NAME.md) is written by hand from `facepoints eval` and
`facepoints bench` output: test numbers never come from training.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

from facepoints.io import atomic_write_bytes
from facepoints.models import load_model, save_model
from facepoints.models.heads import set_vote
from facepoints.models.pretrained import WEIGHTS_DIR, resolve_model
from facepoints.models.weights import read_metadata

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", help="the run folder (holds best.safetensors, config.json, log.csv)")
    ap.add_argument("name", help="the shipped model's name")
    ap.add_argument(
        "--checkpoint",
        choices=("best", "last"),
        default="best",
        help="the run's best epoch by its own validation NME (default), or its last epoch (where "
        "a measure on other validation faces chose it)",
    )
    ap.add_argument(
        "--recipe",
        help="the name the recipe and log are written under (default: the model's); for a stage "
        "shipped only for the next stage to start from, so the final recipe stays",
    )
    ap.add_argument(
        "--vote",
        type=float,
        help="read the heatmaps by neighbourhood vote with this weight (facepoints.models.heads."
        "HeatmapHead; chosen on validation faces by benchmarks/decode_vote.py)",
    )
    a = ap.parse_args()
    recipe_name = a.recipe or a.name
    run = Path(a.run)
    meta = read_metadata(run / "best.safetensors")
    config = json.loads((run / "config.json").read_text())
    recipe = {k: v for k, v in config.items() if k not in ("resume", "out")}
    if a.checkpoint == "best":
        model = load_model(run / "best.safetensors")
    else:
        model = resolve_model(run / "last.pt").model
        with open(run / "log.csv", newline="") as f:
            last = list(csv.DictReader(f))[-1]
        meta.update(epoch=int(last["epoch"]), val_nme=float(last["val_nme"]))
    if a.vote is not None:
        set_vote(model, a.vote)
    meta.update({"name": a.name, "recipe": f"recipes/{recipe_name}.json"})
    meta.pop("config", None)
    meta.pop("format", None)
    save_model(model, WEIGHTS_DIR / f"{a.name}.safetensors", meta)
    atomic_write_bytes(
        ROOT / "recipes" / f"{recipe_name}.json", (json.dumps(recipe, indent=2) + "\n").encode()
    )
    (ROOT / "docs" / "logs").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run / "log.csv", ROOT / "docs" / "logs" / f"{recipe_name}.csv")
    size = (WEIGHTS_DIR / f"{a.name}.safetensors").stat().st_size / 1e6
    print(
        f"shipped {a.name}: {size:.2f} MB, val NME {meta.get('val_nme')}, epoch {meta.get('epoch')}"
    )


if __name__ == "__main__":
    main()
