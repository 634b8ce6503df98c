"""How far apart 300-W's and WFLW's markups are, measured with a composite model.

A composite model (e.g. `dense98`, scheme wflw98+ibug68+cuhk5) predicts the same face twice: in
WFLW's markup (its 98-point block, projected to 68 points) and in 300-W's (its 68-point block,
taught by 300-W faces alone). On each dataset's validation faces (the seeded split its training
held out, never test faces) this prints, per part of the face, the NME of each route against the
human labels, and the distance between the two routes: where it is large, one network head per
markup pays.

    python benchmarks/markup_gap.py dense98 --out docs/markup_gap.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="a composite model (shipped name or file)")
    ap.add_argument("--out", help="write the markdown table here as well")
    a = ap.parse_args()

    from facepoints.data import read_dataset
    from facepoints.data.mixture import parse_mix
    from facepoints.evaluation.evaluate import predict_records
    from facepoints.models.pretrained import resolve_model
    from facepoints.schemes import IBUG68, WFLW98, project

    loaded = resolve_model(a.model)
    tc = loaded.metadata["train_config"]
    if "+" not in loaded.scheme.name:
        raise SystemExit(f"{a.model} is not a composite model ({loaded.scheme.name})")
    rows = []
    for part in parse_mix(tc["mix"]):
        records = read_dataset(part.dataset, part.split, part.data_root)
        if records.scheme.name not in ("ibug68", "wflw98"):
            continue
        _, val = records.split(float(tc["val_fraction"]), int(tc["seed"]))
        pred = predict_records(loaded, val, progress=False)
        truth = project(val.points, val.scheme, IBUG68)
        routes = {
            "98-point block": project(project(pred, loaded.scheme, WFLW98), WFLW98, IBUG68),
            "68-point block": project(pred, loaded.scheme, IBUG68),
        }
        norm = IBUG68.norm_distance(truth)[:, None]
        gap = np.linalg.norm(routes["98-point block"] - routes["68-point block"], axis=-1) / norm
        for name, p in routes.items():
            err = np.linalg.norm(p - truth, axis=-1) / norm
            rows.append(_row(f"{part.label} val ({len(val)}), {name}", err, IBUG68))
        rows.append(_row(f"{part.label} val, between the blocks", gap, IBUG68))
    groups = list(IBUG68.groups)
    lines = [
        "| Faces, route | all | " + " | ".join(groups) + " |",
        "|---|--:|" + "--:|" * len(groups),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    table = "\n".join(lines)
    print(table)
    if a.out:
        Path(a.out).write_text(table + "\n")


def _row(label: str, err: np.ndarray, scheme) -> list[str]:
    cells = [label, f"{err.mean():.2%}"]
    cells += [f"{err[:, list(idx)].mean():.2%}" for idx in scheme.groups.values()]
    return cells


if __name__ == "__main__":
    main()
