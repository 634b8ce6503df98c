"""How the heatmap models read their maps, on validation faces only: the best cell plus its
offset (as they ship unless their config says otherwise) against the vote of the best cell's 3 x 3
neighbourhood at several weights (`HeatmapHead`'s `vote`, `set_vote`), NME on the sets' own
boxes with each landmarker's defaults (dense98: mirror averaged).

    .venv/bin/python benchmarks/decode_vote.py cuhk5-fast cuhk5-resnet dense98-fast dense98
    .venv/bin/python benchmarks/decode_vote.py cuhk5-fast dense98-fast dense98 --speed

`--speed`: instead, the time of `FaceLandmarker(...).landmarks(rgb, box)` through ONNX Runtime on
one thread, best cell and vote 15 interleaved face by face (median over 200 CUHK validation
faces).

Sets: the seeded 10% validation faces of CUHK's and 300-W's training sets and all of the WFLW
sample's tune half (its 68 points, which a dense model's 68-point block never learns from); a
5-point model on CUHK only, a dense model on all three (68 points; CUHK's 5). Test faces are
never read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"

# (label, dataset, split, folder, fraction of it held out for validation, scheme compared in)
SETS = (
    ("CUHK", "cuhk5", "train", "cuhk5", 0.1, "cuhk5"),
    ("300-W", "300w", "train", "300w", 0.1, "ibug68"),
    ("WFLW tune all", "wflw98", "tune", "wflw_sample", 1.0, "ibug68"),
)


def _vote_name(v: float | None) -> str:
    return "best cell" if v is None else f"vote {v:g}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("models", nargs="+")
    p.add_argument("--votes", default="none,10,15,20", help="comma-separated; none: best cell")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--speed", action="store_true", help="time a face, best cell against vote 15")
    a = p.parse_args(argv)
    votes = [None if v.strip().lower() == "none" else float(v) for v in a.votes.split(",")]
    if a.speed:
        return speed(a.models, a.seed)

    from facepoints import FaceLandmarker
    from facepoints.data import read_dataset
    from facepoints.evaluation.metrics import nme_per_face
    from facepoints.io import load_image
    from facepoints.models.heads import set_vote
    from facepoints.models.pretrained import resolve_model
    from facepoints.schemes import get_scheme, project

    print("| model | set | faces | " + " | ".join(_vote_name(v) for v in votes) + " |")
    print("|---|---|--:|" + "--:|" * len(votes))
    for label, dataset, split, folder, fraction, compare in SETS:
        records = read_dataset(dataset, split, SHARED / folder)
        val = records.split(fraction, a.seed)[1]
        scheme = get_scheme(compare)
        truth = project(val.points, val.scheme, scheme)
        images = [load_image(x) for x in val.images]
        for model in a.models:
            loaded = resolve_model(model)
            if loaded.model.num_points < scheme.num_points:
                continue  # a 5-point model on the 68-point sets
            cells = []
            for v in votes:
                set_vote(loaded.model, v)
                lm = FaceLandmarker(loaded, threads=1, scheme=compare, backend="torch")
                pred = np.stack(
                    [
                        lm.landmarks(img, np.asarray(box)[None])[0]
                        for img, box in zip(images, val.boxes, strict=True)
                    ]
                )
                cells.append(f"{100 * float(np.mean(nme_per_face(pred, truth, scheme))):.2f}%")
            print(f"| {model} | {label} | {len(val)} | " + " | ".join(cells) + " |", flush=True)
    return 0


def speed(models: list[str], seed: int, faces: int = 200) -> int:
    import time

    from facepoints import FaceLandmarker
    from facepoints.data import read_dataset
    from facepoints.io import load_image
    from facepoints.models.heads import set_vote
    from facepoints.models.pretrained import resolve_model

    label, dataset, split, folder, fraction, _ = SETS[0]
    val = read_dataset(dataset, split, SHARED / folder).split(fraction, seed)[1]
    crops = [(load_image(val.images[i]), np.asarray(val.boxes[i])[None]) for i in range(faces)]
    print(f"ms a face, `landmarks(rgb, box)`, ONNX Runtime, one thread ({faces} {label} faces)")
    print("| model | best cell | vote 15 |")
    print("|---|--:|--:|")
    for model in models:
        runs = {}
        for v in (None, 15.0):
            loaded = resolve_model(model)
            set_vote(loaded.model, v)
            runs[v] = FaceLandmarker(loaded, threads=1, backend="onnx")
            runs[v].landmarks(*crops[0])  # export and warm up
        times: dict = {v: [] for v in runs}
        for rgb, box in crops:
            for v, lm in runs.items():
                start = time.perf_counter()
                lm.landmarks(rgb, box)
                times[v].append(time.perf_counter() - start)
        cells = " | ".join(f"{1000 * float(np.median(t)):.2f}" for t in times.values())
        print(f"| {model} | {cells} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
