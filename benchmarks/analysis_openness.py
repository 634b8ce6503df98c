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
    CACHE,
    ROOT,
    SHARED,
    model_tag,
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


EYES = ROOT / "facepoints" / "analysis" / "eyes.json"


def patch_features(set_name: str, model: str, recs, pred: np.ndarray) -> np.ndarray:
    """(N, 2, D) eye-patch features of the model's points on a set (cached)."""
    import cv2

    from facepoints.analysis.eyes import eye_patch_features
    from facepoints.io import load_image

    path = CACHE / f"eyes.{set_name}.{model_tag(model)}.npy"
    if path.is_file():
        f = np.load(path)
        if len(f) == len(recs):
            return f
    scheme = get_scheme(pred.shape[1])
    f = np.stack(
        [
            eye_patch_features(cv2.cvtColor(load_image(img), cv2.COLOR_RGB2GRAY), p, scheme)
            for img, p in zip(recs.images, pred, strict=True)
        ]
    )
    np.save(path, f)
    return f


def regressor():
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-1, 4, 11)))


def fit_eyes(model: str) -> None:
    from facepoints.analysis.eyes import paired

    recs = read_set("300w_train")
    pred = predictions("300w_train", model, recs)
    f = paired(patch_features("300w_train", model, recs, pred))
    y = eye_openness(recs.points, recs.scheme)
    pipe = regressor().fit(f.reshape(-1, f.shape[-1]), y.ravel())
    sc, rr = pipe[0], pipe[1]
    doc = {
        "about": "ridge regression from an eye's patch (HOG) and its points' openness, then the "
        "other eye's, to the human labels' openness (facepoints.analysis.eyes), fitted by "
        f"benchmarks/analysis_openness.py --fit-eyes on the 300-W training faces ({len(recs)}, "
        f"both eyes) from {model}'s points",
        "points_from": model,
        "alpha": float(rr.alpha_),
        "mean": [round(float(v), 6) for v in sc.mean_],
        "scale": [round(float(v), 6) for v in sc.scale_],
        "coef": [round(float(v), 6) for v in rr.coef_],
        "intercept": round(float(rr.intercept_), 6),
    }
    tmp = EYES.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc) + "\n")
    tmp.replace(EYES)
    print(f"wrote {EYES} (alpha {rr.alpha_:g})")


def image_eyes(set_name: str, model: str, recs, pred: np.ndarray) -> np.ndarray:
    """(N, 2) eye openness from the points and the eye patches (the shipped eyes.json)."""
    from facepoints.analysis.eyes import _model, paired

    f = paired(patch_features(set_name, model, recs, pred))
    m = _model()
    return np.maximum(((f - m["mean"]) / m["scale"]) @ m["coef"] + m["intercept"], 0.0)


def compare(human: np.ndarray, pred: np.ndarray, scheme, eyes_img: np.ndarray) -> dict:
    """Correlation and MAE of eye (each eye) and mouth openness, human vs predicted points, and
    of eye openness from the points and eye patches."""
    eh, ep = eye_openness(human, scheme).ravel(), eye_openness(pred, scheme).ravel()
    ei = eyes_img.ravel()
    mh, mp = mouth_openness(human, scheme), mouth_openness(pred, scheme)
    return {
        "faces": len(human),
        "eye_r": float(np.corrcoef(eh, ep)[0, 1]),
        "eye_mae": float(np.abs(eh - ep).mean()),
        "eye_img_r": float(np.corrcoef(eh, ei)[0, 1]),
        "eye_img_mae": float(np.abs(eh - ei).mean()),
        "mouth_r": float(np.corrcoef(mh, mp)[0, 1]),
        "mouth_mae": float(np.abs(mh - mp).mean()),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default="dense68")
    p.add_argument("--fit", action="store_true", help="write openness.json from training faces")
    p.add_argument(
        "--fit-eyes",
        action="store_true",
        help="write eyes.json (the eye-patch model) from training faces",
    )
    a = p.parse_args(argv)
    if a.fit:
        fit()
        return 0
    if a.fit_eyes:
        fit_eyes(a.model)
        return 0
    rows = []
    s68 = get_scheme("ibug68")
    w300 = read_set("300w_test")
    pred = predictions("300w_test", a.model, w300)
    model_scheme = get_scheme(pred.shape[1])
    img = image_eyes("300w_test", a.model, w300, pred)
    pred68 = project(pred, model_scheme, s68)
    rows.append(("300-W test (HELEN)", "68", compare(w300.points, pred68, s68, img)))
    wflw = read_set("wflw")
    pred = predictions("wflw", a.model, wflw)
    img = image_eyes("wflw", a.model, wflw, pred)
    held = wflw_heldout(wflw)
    human68 = project(wflw.points, wflw.scheme, s68)
    pred68 = project(pred, model_scheme, s68)
    rows.append(("WFLW sample, all", "68", compare(human68, pred68, s68, img)))
    rows.append(
        ("WFLW sample, held-out half", "68", compare(human68[held], pred68[held], s68, img[held]))
    )
    if model_scheme.num_points == 98:
        rows.append(("WFLW sample, all", "98", compare(wflw.points, pred, model_scheme, img)))
    lines = [
        f"Openness from `{a.model}` against the same measure on human labels "
        f"(`python benchmarks/analysis_openness.py --model {a.model}`); eyes: each eye one "
        'sample; "points": from the points alone, "+ patch": from the points and the eye\'s '
        "patch (`image=` given)",
        "",
        "| set | points | faces | eye r, points | eye MAE | eye r, + patch | eye MAE | "
        "mouth r | mouth MAE |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name, k, r in rows:
        lines.append(
            f"| {name} | {k} | {r['faces']} | {r['eye_r']:.3f} | {r['eye_mae']:.3f} | "
            f"{r['eye_img_r']:.3f} | {r['eye_img_mae']:.3f} | {r['mouth_r']:.3f} | "
            f"{r['mouth_mae']:.3f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    print(f"wrote {write_table('openness', text)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
