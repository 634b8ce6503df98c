"""The base of every landmark model: a backbone makes a feature map, a head turns it into points.

Points are normalised to the crop: pixel = value * input_size, x then y, pixel-centre convention,
so 0..1 roughly spans the crop whatever its size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from ..errors import ConfigError

__all__ = [
    "LandmarkModel",
    "PointLoss",
    "limit_strides",
    "init_conv_bn",
    "feature_map_size",
]

PointLoss = Callable[[Tensor, Tensor], Tensor]


class LandmarkModel(nn.Module):
    """A landmark model: `(B, C, S, S)` crops -> `(B, K, 2)` normalised points.

    Subclasses set `backbone` (crop -> feature map) and `head` (a head from `heads.py`) and keep
    every constructor argument JSON-friendly: `create_model` records them in `config`, which
    is all `create_model(**config)` needs to rebuild the model."""

    backbone: nn.Module
    head: nn.Module

    def __init__(self, num_points: int, input_size: int, in_channels: int):
        super().__init__()
        if not isinstance(num_points, int) or num_points < 1:
            raise ConfigError(f"num_points must be a positive integer, got {num_points!r}")
        if not isinstance(input_size, int) or input_size < 8:
            raise ConfigError(f"input_size must be an integer >= 8, got {input_size!r}")
        if in_channels not in (1, 3):
            raise ConfigError(f"in_channels must be 1 (grey) or 3 (RGB), got {in_channels!r}")
        self.num_points = num_points
        self.input_size = input_size
        self.in_channels = in_channels
        self.config: dict = {}  # filled by create_model

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, S, S) float crops -> (B, K, 2) points; exportable (ONNX, TorchScript trace)."""
        self._check_input(x)
        return self.head.points(self.backbone(x))

    def forward_train(self, x: Tensor) -> dict[str, Tensor]:
        """Everything the head's loss needs, with at least "points" (B, K, 2)."""
        self._check_input(x)
        return self.head(self.backbone(x))

    def compute_loss(
        self,
        outputs: dict[str, Tensor],
        target: Tensor,
        point_loss: PointLoss,
        mask: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, float]]:
        """The training loss against normalised (B, K, 2) targets, and its named parts; `mask`
        (B, K) marks the points that are labelled (None: all)."""
        return self.head.loss(outputs, target, point_loss, mask=mask)

    def extra_repr(self) -> str:
        return (
            f"num_points={self.num_points}, input_size={self.input_size}, "
            f"in_channels={self.in_channels}"
        )

    def _check_input(self, x: Tensor) -> None:
        if torch.jit.is_tracing() or torch.compiler.is_compiling():
            return
        want = (self.in_channels, self.input_size, self.input_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != want:
            raise ConfigError(
                f"{type(self).__name__} expects input (B, {want[0]}, {want[1]}, {want[2]}), "
                f"got {tuple(x.shape)}"
            )


def limit_strides(strides: Sequence[int], start: int, out_stride: int) -> list[int]:
    """Turn stride-2 stages into stride 1 once the running stride reaches `out_stride`, so a
    backbone ends at that stride (`start` is the stride before the first stage)."""
    if out_stride not in (8, 16, 32) or out_stride < start:
        raise ConfigError(f"out_stride must be 8, 16 or 32 (>= {start}), got {out_stride!r}")
    out, total = [], start
    for s in strides:
        if s > 1 and total >= out_stride:
            s = 1
        total *= s
        out.append(s)
    return out


def init_conv_bn(module: nn.Module) -> None:
    """He initialisation for convolutions, unit scale and zero shift for batch norms."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def feature_map_size(backbone: nn.Module, in_channels: int, input_size: int) -> int:
    """The side of the square feature map `backbone` makes from an input_size crop."""
    with torch.no_grad():
        was = backbone.training
        backbone.eval()
        out = backbone(torch.zeros(1, in_channels, input_size, input_size))
        backbone.train(was)
    return int(out.shape[-1])
