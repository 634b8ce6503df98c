"""Where dense98's jaw-line error lies, and whether re-spacing the jaw points would help.

1. Test photos (report only): 300-W test, whole photos through each source's own detector, on
   the faces both dense98 (68-point block) and dlib find: each jaw point's error split into its
   part along the human jaw line and its part across it.
2. Validation faces (the seeded 10% of 300-W train that training holds out), given boxes: the
   NME when each inner jaw point is moved along dense98's own jaw line to the arc position the
   human labels give it (the best any re-spacing could do), and when it is moved to the arc
   position a ridge regression predicts from the rest of the face (the inner points and the
   jaw line's shape, resampled evenly so its spacing does not leak in), fitted on the training
   faces' human labels and blended with the model's own positions.

    .venv/bin/python benchmarks/jaw_error.py
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
W300 = ROOT.parent / "shared" / "data" / "300w"

from facepoints.data import read_dataset  # noqa: E402
from facepoints.evaluation.metrics import normalising_distance, point_errors  # noqa: E402
from facepoints.schemes import get_scheme  # noqa: E402

S = get_scheme("ibug68")
JAW = np.array(S.groups["contour"])
INNER = np.array([i for i in range(S.num_points) if i not in set(JAW.tolist())])
LEFT, RIGHT = S.norm_pair[0][0], S.norm_pair[1][0]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default="dense98")
    p.add_argument("--no-test", action="store_true", help="only the validation part")
    a = p.parse_args(argv)
    if not a.no_test:
        test_along_across(a.model)
    validation_respacing(a.model)
    return 0


def test_along_across(model: str) -> None:
    from facepoints.evaluation import wild

    rec = read_dataset("300w", "test", data_root=str(W300))
    photos = sorted({str(p) for p in rec.images})
    sources = {model: wild._model_source(model, None, S.name), "dlib": wild._peer_source("dlib68")}
    pred = {
        k: wild.whole_photo_points(src, rec, photos, S)[0]
        for k, src in sources.items()
        if not isinstance(src, dict)  # a peer that is not installed
    }
    both = np.logical_and.reduce([np.isfinite(v).all(axis=(1, 2)) for v in pred.values()])
    t = rec.points[both].astype(np.float64)
    print(f"300-W test, whole photos, the {both.sum()} faces every source found; jaw-line error")
    print("over the eye distance, split along and across the human jaw line:\n")
    print("| source | jaw | along the line | across it |")
    print("|---|--:|--:|--:|")
    for k, v in pred.items():
        total, along, across = _along_across(v[both], t)
        print(f"| {k} | {total:.2%} | {along:.2%} | {across:.2%} |")
    print()


def _along_across(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    iod = normalising_distance(truth, S)
    total, along, across = [], [], []
    for k, j in enumerate(JAW):
        a, b = truth[:, JAW[max(k - 1, 0)]], truth[:, JAW[min(k + 1, len(JAW) - 1)]]
        tangent = (b - a) / np.linalg.norm(b - a, axis=1, keepdims=True)
        d = pred[:, j] - truth[:, j]
        along.append(np.abs((d * tangent).sum(1)) / iod)
        across.append(np.abs(d[:, 0] * tangent[:, 1] - d[:, 1] * tangent[:, 0]) / iod)
        total.append(np.linalg.norm(d, axis=1) / iod)
    return float(np.mean(total)), float(np.mean(along)), float(np.mean(across))


def validation_respacing(model: str) -> None:
    from facepoints import FaceLandmarker
    from facepoints.io import load_image

    train = read_dataset("300w", "train", data_root=str(W300))
    fit, val = train.split(0.1, 0)
    lm = FaceLandmarker(model, scheme=S.name, threads=1, refine=True)
    pred = np.stack(
        [
            lm.landmarks(load_image(img), np.asarray(box)[None])[0]
            for img, box in zip(val.images, val.boxes, strict=True)
        ]
    ).astype(np.float64)
    truth = val.points.astype(np.float64)
    human = fit.points.astype(np.float64)
    print(f"300-W validation faces ({len(val)}), given boxes: NME / jaw NME\n")
    print("| jaw points | NME | jaw |")
    print("|---|--:|--:|")
    print(f"| as the model places them | {_nme(pred, truth)} |")
    oracle = _place(pred, _arc(truth[:, JAW])[0])
    print(f"| moved along its line to the human labels' spacing | {_nme(oracle, truth)} |")
    ridge = _fit_ridge(_features(human), _arc(human[:, JAW])[0][:, 1:-1], lam=100.0)
    own = _arc(pred[:, JAW])[0]
    guess = np.concatenate([own[:, :1], ridge(_features(pred)), own[:, -1:]], axis=1)
    for alpha in (0.25, 0.5, 1.0):
        s = np.maximum.accumulate(np.clip(alpha * guess + (1 - alpha) * own, 0, 1), axis=1)
        cells = _nme(_place(pred, s), truth)
        print(f"| moved to the ridge regression's spacing, weight {alpha:g} | {cells} |")


def _nme(pred: np.ndarray, truth: np.ndarray) -> str:
    """The table cells: NME and jaw NME over the outer eye corners' distance."""
    e = point_errors(pred, truth) / normalising_distance(truth, S)[:, None]
    return f"{e.mean():.2%} | {e[:, JAW].mean():.2%}"


def _arc(line: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Arc fractions (N, P) of a polyline's points, and its cumulative lengths."""
    seg = np.linalg.norm(np.diff(line, axis=1), axis=2)
    cum = np.concatenate([np.zeros((len(line), 1)), np.cumsum(seg, axis=1)], axis=1)
    return cum / cum[:, -1:], cum


def _at(line: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Points on each polyline (N, P, 2) at arc fractions s (N, M)."""
    frac, _ = _arc(line)
    out = np.zeros((*s.shape, 2))
    for n in range(len(line)):
        for d in range(2):
            out[n, :, d] = np.interp(s[n], frac[n], line[n, :, d])
    return out


def _place(pred: np.ndarray, s: np.ndarray) -> np.ndarray:
    """The inner jaw points moved along the predicted jaw line to arc fractions s (N, 17)."""
    out = pred.copy()
    out[:, JAW[1:-1]] = _at(pred[:, JAW], s)[:, 1:-1]
    return out


def _features(points: np.ndarray) -> np.ndarray:
    """Inner points and the evenly resampled jaw line in the eyes' frame, and a constant."""
    centre = (points[:, LEFT] + points[:, RIGHT]) / 2
    v = points[:, RIGHT] - points[:, LEFT]
    d = np.linalg.norm(v, axis=1)
    cos, sin = v[:, 0] / d, v[:, 1] / d
    q = points - centre[:, None]
    x = (q[..., 0] * cos[:, None] + q[..., 1] * sin[:, None]) / d[:, None]
    y = (-q[..., 0] * sin[:, None] + q[..., 1] * cos[:, None]) / d[:, None]
    f = np.stack([x, y], -1)
    even = _at(f[:, JAW], np.tile(np.linspace(0, 1, len(JAW)), (len(f), 1)))
    n = len(f)
    return np.concatenate([f[:, INNER].reshape(n, -1), even.reshape(n, -1), np.ones((n, 1))], 1)


def _fit_ridge(x: np.ndarray, y: np.ndarray, lam: float):
    mu, sd = x[:, :-1].mean(0), x[:, :-1].std(0) + 1e-9

    def z(v: np.ndarray) -> np.ndarray:
        return np.concatenate([(v[:, :-1] - mu) / sd, v[:, -1:]], axis=1)

    zx = z(x)
    penalty = lam * np.diag(np.r_[np.ones(zx.shape[1] - 1), 0.0])
    w = np.linalg.solve(zx.T @ zx + penalty, zx.T @ y)
    return lambda v: z(v) @ w


if __name__ == "__main__":
    raise SystemExit(main())
