"""Eye and mouth openness from a model's points against the same measure on human labels.

Sets: the 300-W test faces (68 human points) and the WFLW sample (98 human points, measured in
both 98 and, projected, 68 points; the dense68 model was fine-tuned on the sample's "tune" half,
so its held-out half is reported alone too). For each: Pearson correlation and mean absolute
difference of eye openness (each eye a sample) and mouth openness.

    python benchmarks/analysis_openness.py --model dense68            # the table
    python benchmarks/analysis_openness.py --fit                      # facepoints/analysis/openness.json

`--fit` measures the typical open eye on training faces only: the 300-W training set's human
labels (68 points) and the WFLW sample's tune half (98 points).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analysis_common import (  # noqa: E402
    ROOT,
    SHARED,
    predictions,
    read_set,
    wflw_heldout,
    write_table,
)

from facepoints.analysis.openness import (  # noqa: E402
    contour_opening,
    eye_openness,
    mouth_openness,
)
from facepoints.schemes import get_scheme, project  # noqa: E402

TYPICAL = ROOT / "facepoints" / "analysis" / "openness.json"


def fit() -> None:
    from facepoints.data import read_dataset

    out = {
        "about": "median eye opening (eye aspect ratio, both eyes) of human-labelled training "
        "faces; fitted by benchmarks/analysis_openness.py --fit",
        "eye_opening": {},
    }
    for scheme, recs, where in (
        ("ibug68", read_set("300w_train"), "300-W training set, human labels"),
        (
            "wflw98",
            read_dataset("wflw68", "tune", SHARED / "wflw_sample"),
            "WFLW sample's tune half, human labels",
        ),
    ):
        s = get_scheme(scheme)
        pts = recs.points
        if s.num_points != pts.shape[1]:  # wflw68's tune half: the 98 human points again
            full = read_set("wflw")
            keep = np.isin([str(i) for i in full.images], [str(i) for i in recs.images])
            pts = full.points[keep]
        ear = np.concatenate(
            [
                contour_opening(pts, s.contours["eye_left"]),
                contour_opening(pts, s.contours["eye_right"]),
            ]
        )
        out["eye_opening"][scheme] = {
            "median": round(float(np.median(ear)), 4),
            "faces": int(len(pts)),
            "from": where,
        }
        print(scheme, out["eye_opening"][scheme])
    tmp = TYPICAL.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=1) + "\n")
    tmp.replace(TYPICAL)
    print(f"wrote {TYPICAL}")


def compare(human: np.ndarray, pred: np.ndarray, scheme) -> dict:
    """Correlation and MAE of eye (each eye) and mouth openness, human vs predicted points."""
    eh, ep = eye_openness(human, scheme).ravel(), eye_openness(pred, scheme).ravel()
    mh, mp = mouth_openness(human, scheme), mouth_openness(pred, scheme)
    return {
        "faces": len(human),
        "eye_r": float(np.corrcoef(eh, ep)[0, 1]),
        "eye_mae": float(np.abs(eh - ep).mean()),
        "eye_mean": float(eh.mean()),
        "mouth_r": float(np.corrcoef(mh, mp)[0, 1]),
        "mouth_mae": float(np.abs(mh - mp).mean()),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default="dense68")
    p.add_argument("--fit", action="store_true", help="write openness.json from training faces")
    a = p.parse_args(argv)
    if a.fit:
        fit()
        return 0
    rows = []
    w300 = read_set("300w_test")
    pred = predictions("300w_test", a.model, w300)
    model_scheme = get_scheme(pred.shape[1])
    s68 = get_scheme("ibug68")
    rows.append(
        ("300-W test (HELEN)", "68", compare(w300.points, project(pred, model_scheme, s68), s68))
    )
    wflw = read_set("wflw")
    pred = predictions("wflw", a.model, wflw)
    held = wflw_heldout(wflw)
    human68 = project(wflw.points, wflw.scheme, s68)
    pred68 = project(pred, model_scheme, s68)
    rows.append(("WFLW sample, all", "68", compare(human68, pred68, s68)))
    rows.append(("WFLW sample, held-out half", "68", compare(human68[held], pred68[held], s68)))
    if model_scheme.num_points == 98:
        rows.append(("WFLW sample, all", "98", compare(wflw.points, pred, model_scheme)))
        rows.append(
            (
                "WFLW sample, held-out half",
                "98",
                compare(wflw.points[held], pred[held], model_scheme),
            )
        )
    lines = [
        f"Openness from `{a.model}`'s points against human labels "
        "(`python benchmarks/analysis_openness.py --model " + a.model + "`)",
        "",
        "| set | points | faces | eye r | eye MAE | mean eye (human) | mouth r | mouth MAE |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name, k, r in rows:
        lines.append(
            f"| {name} | {k} | {r['faces']} | {r['eye_r']:.3f} | {r['eye_mae']:.3f} | "
            f"{r['eye_mean']:.2f} | {r['mouth_r']:.3f} | {r['mouth_mae']:.3f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    print(f"wrote {write_table('openness', text)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
