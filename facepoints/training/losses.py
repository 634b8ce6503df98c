"""Point losses by name: `loss(pred, target) -> scalar` on (B, K, 2) points normalised to the crop.

Every loss is computed per coordinate, summed over x and y of a point, and averaged over the
batch and the points, so losses of different schemes and batch sizes compare.

Parameters given "in pixels" (Wing's w and epsilon, smooth L1's beta) are pixels of a crop of
`REFERENCE_SIZE` = 64 pixels, the input of Feng et al.'s CNN-6: on normalised coordinates they act
as fractions of the crop side (w = 10/64, epsilon = 2/64), the same for every input size, and the
losses stay in normalised units (a mean point error of 0.01 is 1% of the crop side).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ..registry import Registry

__all__ = ["LOSSES", "get_loss", "REFERENCE_SIZE", "mse", "l1", "smooth_l1", "wing"]

PointLoss = Callable[[Tensor, Tensor], Tensor]

LOSSES: Registry[PointLoss] = Registry("loss")

REFERENCE_SIZE = 64  # the crop side in which "pixel" parameters are given


def get_loss(name: str) -> PointLoss:
    """The point loss registered as `name` (mse, l1, smooth_l1, wing)."""
    return LOSSES.get(name)


@LOSSES.register("mse")
def mse(pred: Tensor, target: Tensor) -> Tensor:
    """Squared point distance (dx^2 + dy^2), averaged over batch and points."""
    return _reduce((pred - target) ** 2)


@LOSSES.register("l1")
def l1(pred: Tensor, target: Tensor) -> Tensor:
    """|dx| + |dy|, averaged over batch and points."""
    return _reduce((pred - target).abs())


@LOSSES.register("smooth_l1")
def smooth_l1(pred: Tensor, target: Tensor, beta: float = 1.0) -> Tensor:
    """Huber-like: 0.5 d^2 / beta' below beta' = beta / REFERENCE_SIZE, else |d| - 0.5 beta';
    beta in pixels of the reference crop (1 pixel by default)."""
    b = beta / REFERENCE_SIZE
    d = (pred - target).abs()
    return _reduce(torch.where(d < b, 0.5 * d * d / b, d - 0.5 * b))


@LOSSES.register("wing")
def wing(pred: Tensor, target: Tensor, w: float = 10.0, epsilon: float = 2.0) -> Tensor:
    """Wing loss (Feng et al., CVPR 2018): w ln(1 + |d| / eps) for |d| < w, else |d| - C with
    C = w - w ln(1 + w / eps); w and eps in pixels of the reference crop (the paper's 10 and 2)."""
    w_, e_ = w / REFERENCE_SIZE, epsilon / REFERENCE_SIZE
    c = w_ - w_ * math.log1p(w_ / e_)
    d = (pred - target).abs()
    return _reduce(torch.where(d < w_, w_ * torch.log1p(d / e_), d - c))


def _reduce(per_coordinate: Tensor) -> Tensor:
    """(B, K, 2) -> scalar: sum over x, y, mean over the batch and the points."""
    return per_coordinate.sum(dim=-1).mean()
