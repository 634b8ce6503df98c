"""Temporal smoothing of landmarks in video: the One-Euro filter (Casiez, Roussel and Vogel, CHI
2012), a low-pass filter whose cut-off rises with speed, so a still face stops jittering while a
moving one is followed with little lag. `NoSmoothing` has the same interface and changes nothing.

Points are (K, 2) arrays in image pixels; time is in seconds (frame index / fps). Speed is measured
in units of `scale` per second when a scale is given (FaceTracker passes the face's inter-ocular
distance, so one `beta` suits near and far faces), else in pixels per second."""

from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError

__all__ = [
    "OneEuroFilter",
    "NoSmoothing",
    "make_smoother",
    "DEFAULT_MIN_CUTOFF",
    "DEFAULT_BETA",
    "DEFAULT_D_CUTOFF",
]

# Chosen with benchmarks/video_smoothing.py --sweep --simulate S (no trained model yet: the true
# points plus per-frame Gaussian noise of S = 1% and 2% of the inter-ocular distance, IOD): the
# setting that removes the most jitter on a still face (74% at 1%, 63% at 2%) while the error on a
# face moving at 3 IODs per second rises by at most a fifth (+18% at 1%, none at 2%). beta is per
# (scale unit / s): with scale = IOD, the cut-off rises by 20 Hz per IOD per second of speed.
DEFAULT_MIN_CUTOFF = 0.5  # Hz: the cut-off of a still face
DEFAULT_BETA = 20.0  # Hz per (scale / s): how fast the cut-off rises with speed
DEFAULT_D_CUTOFF = 1.0  # Hz: the cut-off of the speed estimate itself


class OneEuroFilter:
    """One-Euro filter over (K, 2) landmark arrays; call it once per frame.

    min_cutoff: cut-off frequency (Hz) when still; lower = smoother but more lag when slow.
    beta: speed coefficient; higher = less lag when moving fast, more jitter left in motion.
    d_cutoff: cut-off (Hz) of the low-pass on the speed estimate.

    The speed is the norm of each point's filtered velocity, so the cut-off is per point and the
    same for x and y (isotropic). A change in the number of points or a non-finite point starts
    the filter over (the frame is returned as is)."""

    def __init__(
        self,
        min_cutoff: float = DEFAULT_MIN_CUTOFF,
        beta: float = DEFAULT_BETA,
        d_cutoff: float = DEFAULT_D_CUTOFF,
    ):
        for name, v, low in (("min_cutoff", min_cutoff, 0.0), ("d_cutoff", d_cutoff, 0.0)):
            if not (math.isfinite(v) and v > low):
                raise ConfigError(f"{name} must be a positive number of Hz, got {v!r}")
        if not (math.isfinite(beta) and beta >= 0):
            raise ConfigError(f"beta must be >= 0, got {beta!r}")
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.d_cutoff = float(d_cutoff)
        self.reset()

    def reset(self) -> None:
        """Forget the past: the next frame passes unchanged and starts the filter."""
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def __call__(self, points: np.ndarray, t: float, scale: float | None = None) -> np.ndarray:
        """The filtered (K, 2) float32 points at time `t` (seconds, increasing). `scale` (e.g. the
        inter-ocular distance in pixels) makes the speed scale-free; None measures it in pixels."""
        x = np.asarray(points, dtype=np.float64)
        if (
            self._x is None
            or self._x.shape != x.shape
            or not np.isfinite(x).all()
            or not math.isfinite(t)
        ):
            self.reset()
            if np.isfinite(x).all() and math.isfinite(t):
                self._x, self._dx, self._t = x.copy(), np.zeros_like(x), float(t)
            return x.astype(np.float32)
        dt = float(t) - self._t
        if dt <= 0:
            return self._x.astype(np.float32)  # the same (or an older) frame again
        dx = (x - self._x) / dt
        self._dx = _lowpass(self._dx, dx, _alpha(self.d_cutoff, dt))
        speed = np.linalg.norm(self._dx, axis=-1, keepdims=True)
        if scale is not None and math.isfinite(scale) and scale > 0:
            speed = speed / scale
        cutoff = self.min_cutoff + self.beta * speed
        self._x = _lowpass(self._x, x, _alpha(cutoff, dt))
        self._t = float(t)
        return self._x.astype(np.float32)

    def __repr__(self) -> str:
        return (
            f"OneEuroFilter(min_cutoff={self.min_cutoff:g}, beta={self.beta:g}, "
            f"d_cutoff={self.d_cutoff:g})"
        )


class NoSmoothing:
    """The identity with OneEuroFilter's interface (for switching smoothing off)."""

    def reset(self) -> None:
        pass

    def __call__(self, points: np.ndarray, t: float, scale: float | None = None) -> np.ndarray:
        return np.asarray(points, dtype=np.float32).copy()

    def __repr__(self) -> str:
        return "NoSmoothing()"


def make_smoother(
    smoothing: bool = True,
    min_cutoff: float = DEFAULT_MIN_CUTOFF,
    beta: float = DEFAULT_BETA,
    d_cutoff: float = DEFAULT_D_CUTOFF,
) -> OneEuroFilter | NoSmoothing:
    """A new One-Euro filter, or NoSmoothing when `smoothing` is False."""
    return OneEuroFilter(min_cutoff, beta, d_cutoff) if smoothing else NoSmoothing()


def _alpha(cutoff, dt: float):
    """The exponential smoothing factor of a first-order low-pass at `cutoff` Hz over `dt` s."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt)


def _lowpass(prev: np.ndarray, x: np.ndarray, alpha) -> np.ndarray:
    return alpha * x + (1.0 - alpha) * prev
