"""Smile score: 5-fold cross-validation on the LFW smile labels of CUHK's lfw_5590 faces (1,677
faces, 786 smiling; ../shared/data/lfw_smile/cuhk5_lfw_smile.txt), and the fit that ships.

Rows: logistic regression (C chosen by an inner 5-fold CV on each training fold) on
- the mouth's shape from the points of a model (dense68: 68 points; cuhk5-resnet: 5 points), or
  from CUHK's 5 human points;
- pixels only: HOG of the grey 64x64 "face" chip (aligned on the human 5 points), the baseline;
- points and pixels together.
AUROC and accuracy (at probability 0.5) over the held-out folds (stratified, seed 0).

    python benchmarks/analysis_smile.py            # the table
    python benchmarks/analysis_smile.py --ship     # also fit on all faces: facepoints/analysis/smile.json
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning, module="sklearn")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analysis_common import CACHE, ROOT, predictions, read_set, write_table  # noqa: E402

from facepoints.analysis.smile import feature_scheme, smile_features  # noqa: E402

MODELS = ROOT / "facepoints" / "analysis" / "smile.json"
SHIPPED = {"ibug68": "dense68", "cuhk5": "cuhk5-resnet"}  # which model's points each is fitted on


def classifier():
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        StandardScaler(),
        LogisticRegressionCV(Cs=np.logspace(-3, 2, 11), cv=5, scoring="roc_auc", max_iter=2000),
    )


def cross_validate(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    prob = np.zeros(len(y))
    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(x, y):
        prob[test] = classifier().fit(x[train], y[train]).predict_proba(x[test])[:, 1]
    return float(roc_auc_score(y, prob)), float(accuracy_score(y, prob >= 0.5))


def hog_features(recs) -> np.ndarray:
    """HOG of each face's grey 64x64 "face" chip aligned on its human 5 points (cached)."""
    path = CACHE / "lfw_smile.hog.npy"
    if path.is_file():
        f = np.load(path)
        if len(f) == len(recs):
            return f
    import cv2

    from facepoints.analysis import chips
    from facepoints.io import load_image

    hog = cv2.HOGDescriptor((64, 64), (16, 16), (8, 8), (8, 8), 9)
    out = []
    for img, pts in zip(recs.images, recs.points, strict=True):
        chip = chips([load_image(img)], [pts], "cuhk5", template="face", size=64)[0]
        out.append(hog.compute(cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY)).ravel())
    f = np.stack(out)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, f)
    return f


def ship(feats: dict[str, np.ndarray], y: np.ndarray) -> None:
    models = {}
    for scheme, x in feats.items():
        pipe = classifier().fit(x, y)
        sc, lr = pipe[0], pipe[1]
        models[scheme] = {
            "points_from": SHIPPED[scheme],
            "C": float(lr.C_[0]),
            "mean": [round(float(v), 6) for v in sc.mean_],
            "scale": [round(float(v), 6) for v in sc.scale_],
            "coef": [round(float(v), 6) for v in lr.coef_[0]],
            "intercept": round(float(lr.intercept_[0]), 6),
        }
    doc = {
        "about": "logistic regression of a smile on the mouth's shape (facepoints.analysis.smile), "
        "fitted by benchmarks/analysis_smile.py --ship on the 1,677 LFW smile labels of CUHK's "
        "lfw_5590 faces, from the points of the model named in points_from",
        "faces": int(len(y)),
        "models": models,
    }
    tmp = MODELS.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(MODELS)
    print(f"wrote {MODELS}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--models", nargs="+", default=["dense68", "cuhk5-resnet"])
    p.add_argument("--ship", action="store_true", help="fit on all faces and write smile.json")
    a = p.parse_args(argv)
    recs = read_set("lfw_smile")
    y = recs.labels
    hog = hog_features(recs)
    rows = []
    feats = {}
    for model in a.models:
        pts = predictions("lfw_smile", model, recs)
        f = smile_features(pts)
        feats[feature_scheme(pts.shape[1]).name] = f
        rows.append((f"`{model}` points ({pts.shape[1]})", *cross_validate(f, y)))
        rows.append((f"`{model}` points + pixels", *cross_validate(np.hstack([f, hog]), y)))
    rows.append(("human 5 points (CUHK)", *cross_validate(smile_features(recs.points, 5), y)))
    rows.append(("pixels only (HOG of the face chip)", *cross_validate(hog, y)))
    lines = [
        f"Smile by 5-fold cross-validation on {len(y)} LFW faces ({int(y.sum())} smiling) "
        "(`python benchmarks/analysis_smile.py`)",
        "",
        "| features | AUROC | accuracy |",
        "|---|--:|--:|",
    ]
    lines += [f"| {n} | {auc:.3f} | {acc:.3f} |" for n, auc, acc in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    print(f"wrote {write_table('smile', text)}")
    if a.ship:
        ship({k: v for k, v in feats.items() if SHIPPED.get(k) in a.models}, y)
    return 0


if __name__ == "__main__":
    sys.exit(main())
