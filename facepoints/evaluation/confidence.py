"""How much a landmark confidence can be trusted: risk-coverage, AUROC, calibration error and
reliability, for a model's own confidence beside plain baselines, on any annotated split.

A point is "good" when its error is at most `threshold` (0.10) of the normalising distance; a
confidence c is calibrated when a fraction c of the points given c are good.

- risk-coverage: the NME of the most confident x% of points (x = 10..100): a useful confidence
  makes it fall as x shrinks; a constant leaves it flat;
- AUROC: the probability that a good point gets a higher confidence than a bad one (ties count
  half): 0.5 is chance, 1 a perfect separation;
- ECE: sum over 10 equal-width confidence bins of (share of points) x |accuracy - confidence|;
- reliability: per bin, the mean confidence, the accuracy and the count.

Arrays are NumPy; confidences in [0, 1]; errors already divided by the normalising distance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError

__all__ = [
    "COVERAGES",
    "auroc",
    "expected_calibration_error",
    "reliability",
    "risk_coverage",
    "confidence_summary",
    "fit_platt",
    "platt",
    "ConfidencePrediction",
    "predict_with_confidence",
    "point_errors_in",
]

COVERAGES = tuple(round(0.1 * i, 1) for i in range(1, 11))  # 10%, 20%, ..., 100%
LANDMARK_SCORE_THRESHOLDS = (0.3, 0.5, 0.7)  # face-level scores a tracker might stop trusting
DEFAULT_BINS = 10


def auroc(confidence: np.ndarray, bad: np.ndarray) -> float:
    """P(confidence of a good point > confidence of a bad point), ties counted half; NaN when
    either kind is missing. `bad` (same shape) marks the points whose error is too large."""
    c = np.asarray(confidence, dtype=np.float64).ravel()
    b = np.asarray(bad, dtype=bool).ravel()
    if c.shape != b.shape:
        raise ConfigError(f"confidence and labels differ in size: {c.size} vs {b.size}")
    n_bad, n_good = int(b.sum()), int((~b).sum())
    if n_bad == 0 or n_good == 0:
        return float("nan")
    _, inverse, counts = np.unique(c, return_inverse=True, return_counts=True)
    # the average rank (1-based) of each distinct value, so ties share their rank
    upper = np.cumsum(counts)
    avg_rank = upper - (counts - 1) / 2.0
    ranks = avg_rank[inverse]
    u = ranks[~b].sum() - n_good * (n_good + 1) / 2.0  # Mann-Whitney U of the good points
    return float(u / (n_good * n_bad))


def reliability(
    confidence: np.ndarray, good: np.ndarray, bins: int = DEFAULT_BINS
) -> dict[str, np.ndarray]:
    """Equal-width bins over [0, 1] (the last one closed): "edges" (bins + 1,), "count",
    "confidence" (mean in the bin, NaN when empty) and "accuracy" (share of good points)."""
    c = np.asarray(confidence, dtype=np.float64).ravel()
    g = np.asarray(good, dtype=bool).ravel()
    if c.shape != g.shape:
        raise ConfigError(f"confidence and labels differ in size: {c.size} vs {g.size}")
    if bins < 1:
        raise ConfigError(f"bins must be >= 1, got {bins}")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip((np.clip(c, 0, 1) * bins).astype(int), 0, bins - 1)
    count = np.bincount(which, minlength=bins).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.bincount(which, weights=c, minlength=bins) / count
        acc = np.bincount(which, weights=g.astype(np.float64), minlength=bins) / count
    return {"edges": edges, "count": count, "confidence": conf, "accuracy": acc}


def expected_calibration_error(
    confidence: np.ndarray, good: np.ndarray, bins: int = DEFAULT_BINS
) -> float:
    """Sum over equal-width bins of (share of points) x |accuracy - mean confidence|."""
    r = reliability(confidence, good, bins)
    n = r["count"].sum()
    if n == 0:
        return float("nan")
    used = r["count"] > 0
    gap = np.abs(r["accuracy"][used] - r["confidence"][used])
    return float(np.sum(r["count"][used] / n * gap))


def risk_coverage(
    confidence: np.ndarray, errors: np.ndarray, coverages: Sequence[float] = COVERAGES
) -> np.ndarray:
    """The mean error of the most confident fraction x of points, for each x in `coverages`.
    Points of equal confidence are taken as a random subset would be on average (their mean
    error), so a constant confidence gives a flat curve at the overall mean."""
    c = np.asarray(confidence, dtype=np.float64).ravel()
    e = np.asarray(errors, dtype=np.float64).ravel()
    if c.shape != e.shape:
        raise ConfigError(f"confidence and errors differ in size: {c.size} vs {e.size}")
    n = e.size
    if n == 0:
        return np.full(len(coverages), np.nan)
    order = np.argsort(-c, kind="stable")
    c, e = c[order], e[order]
    _, start, counts = np.unique(-c, return_index=True, return_counts=True)
    group_mean = np.add.reduceat(e, start) / counts
    e = np.repeat(group_mean, counts)  # ties share their mean
    cum = np.concatenate([[0.0], np.cumsum(e)])
    out = []
    for x in coverages:
        if not (0 < float(x) <= 1):
            raise ConfigError(f"coverage must be in (0, 1], got {x}")
        k = max(1, int(round(float(x) * n)))
        out.append(cum[k] / k)
    return np.asarray(out)


def confidence_summary(
    confidence: np.ndarray,
    errors: np.ndarray,
    threshold: float = 0.10,
    bins: int = DEFAULT_BINS,
    coverages: Sequence[float] = COVERAGES,
) -> dict[str, Any]:
    """All the numbers for one confidence on one set of points (N, K): n points, share of bad
    points, NME, AUROC, ECE, mean confidence, risk-coverage, reliability, and the face-level
    AUROC of the mean confidence for faces whose NME exceeds `threshold`."""
    c = np.asarray(confidence, dtype=np.float64)
    e = np.asarray(errors, dtype=np.float64)
    good = e <= threshold
    out: dict[str, Any] = {
        "points": int(e.size),
        "bad_share": float(1 - good.mean()) if e.size else float("nan"),
        "nme": float(e.mean()) if e.size else float("nan"),
        "mean_confidence": float(c.mean()) if c.size else float("nan"),
        "auroc": auroc(c, ~good),
        "ece": expected_calibration_error(c, good, bins),
        "coverages": list(coverages),
        "risk_coverage": risk_coverage(c, e, coverages),
        "reliability": reliability(c, good, bins),
    }
    if e.ndim == 2:
        score, failed = c.mean(axis=1), e.mean(axis=1) > threshold
        out["faces"] = int(e.shape[0])
        out["face_auroc"] = auroc(score, failed)
        out["landmark_score"] = {t: _flagged(score, failed, t) for t in LANDMARK_SCORE_THRESHOLDS}
    return out


def platt(z: np.ndarray, ab: Sequence[float]) -> np.ndarray:
    """sigmoid(a * z + b)."""
    a, b = float(ab[0]), float(ab[1])
    logit = a * np.asarray(z, dtype=np.float64) + b
    return 1.0 / (1.0 + np.exp(-np.clip(logit, -50.0, 50.0)))


def fit_platt(z: np.ndarray, good: np.ndarray, l2: float = 1e-4) -> tuple[float, float]:
    """(a, b) of P(good | z) = sigmoid(a * z + b) by maximum likelihood (Newton's method on the
    two parameters, a tiny ridge on a). All-good or all-bad labels give a = 0 and b the
    (smoothed) log-odds of the rate."""
    x = np.asarray(z, dtype=np.float64).ravel()
    y = np.asarray(good, dtype=np.float64).ravel()
    if x.shape != y.shape or x.size == 0:
        raise ConfigError(f"cannot fit a calibration on {x.size} values and {y.size} labels")
    ok = np.isfinite(x)
    x, y = x[ok], y[ok]
    rate = (y.sum() + 0.5) / (len(y) + 1.0)
    if y.min() == y.max() or np.ptp(x) == 0:
        return 0.0, float(np.log(rate / (1 - rate)))
    mu, sd = x.mean(), x.std()
    u = (x - mu) / sd  # standardised for a well-conditioned Newton step
    w = np.array([0.0, np.log(rate / (1 - rate))])
    design = np.stack([u, np.ones_like(u)], axis=1)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ w, -50.0, 50.0)))
        grad = design.T @ (p - y) + np.array([l2 * len(y) * w[0], 0.0])
        hess = (design * (p * (1 - p))[:, None]).T @ design + np.diag([l2 * len(y), 1e-9])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    a = w[0] / sd
    return float(a), float(w[1] - a * mu)


def _flagged(score: np.ndarray, failed: np.ndarray, t: float) -> dict[str, float]:
    """Faces whose landmark score is below `t`: their share ("flagged"), the share of failed
    faces among them ("precision") and of the failed faces they hold ("recall")."""
    low = score < t
    nan = float("nan")
    return {
        "flagged": float(low.mean()) if low.size else nan,
        "precision": float(failed[low].mean()) if low.any() else nan,
        "recall": float(low[failed].mean()) if failed.any() else nan,
    }


# --- predictions with confidence -----------------------------------------------------------------


@dataclass
class ConfidencePrediction:
    """A model's outputs on annotated faces: `points` (N, K, 2) image pixels from the model with
    its confidence, `plain` (N, K, 2) from the model alone (the same numbers when confidence
    costs no accuracy), `confidence` (N, K), `peak` (N, K) heatmap peak scores (None for other
    heads), `crop_points` (N, K, 2) normalised to the crop."""

    points: np.ndarray
    plain: np.ndarray
    confidence: np.ndarray
    peak: np.ndarray | None
    crop_points: np.ndarray


def predict_with_confidence(
    loaded, records, batch_size: int = 64, progress: bool = False
) -> ConfidencePrediction:
    """Run `loaded` (a LoadedModel) with its confidence on the faces of `records`, cropped from
    their boxes as in evaluation."""
    import torch

    from ..data.dataset import LandmarkDataset, crop_to_image

    model = loaded.model.eval()
    both = loaded.confident().eval()
    ds = LandmarkDataset(
        records,
        model.input_size,
        in_channels=model.in_channels,
        margin=loaded.margin,
        progress=progress,
    )
    n, k = len(ds), model.num_points
    crop = np.zeros((n, k, 2), np.float32)
    plain = np.zeros((n, k, 2), np.float32)
    conf = np.zeros((n, k), np.float32)
    peak = np.zeros((n, k), np.float32)
    has_peak = True
    mats = np.zeros((n, 2, 3))
    device = next(model.parameters()).device
    with torch.inference_mode():
        for s in range(0, n, batch_size):
            items = [ds[i] for i in range(s, min(s + batch_size, n))]
            x = torch.stack([it["image"] for it in items]).to(device)
            pts, c = both(x)
            crop[s : s + len(items)] = pts.float().cpu().numpy()
            conf[s : s + len(items)] = c.float().cpu().numpy()
            plain[s : s + len(items)] = model(x).float().cpu().numpy()
            scores = model.forward_train(x).get("scores")
            if scores is None:
                has_peak = False
            else:
                peak[s : s + len(items)] = scores.float().flatten(2).amax(2).cpu().numpy()
            mats[s : s + len(items)] = np.stack([it["matrix"].numpy() for it in items])
    size = model.input_size
    return ConfidencePrediction(
        points=crop_to_image(crop, mats, size).astype(np.float32),
        plain=crop_to_image(plain, mats, size).astype(np.float32),
        confidence=conf,
        peak=peak if has_peak else None,
        crop_points=crop,
    )


def point_errors_in(pred: np.ndarray, records, model_scheme, norm: str = "inter-ocular"):
    """(errors (N, K_c), scheme compared in, projection (K_c, K_model)): each point's error over
    the normalising distance, compared in the scheme both model and data reach."""
    from ..schemes import get_scheme, project, projection_matrix
    from .evaluate import common_scheme
    from .metrics import normalising_distance

    ms = get_scheme(model_scheme)
    scheme = common_scheme(ms, records.scheme)
    p = project(pred, ms, scheme)
    g = project(records.points, records.scheme, scheme)
    d = normalising_distance(g, scheme, norm, records.boxes)
    err = np.linalg.norm(p.astype(np.float64) - g, axis=-1) / d[:, None]
    return err, scheme, projection_matrix(ms, scheme)
