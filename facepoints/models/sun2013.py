"""Sun, Wang and Tang, "Deep Convolutional Network Cascade for Facial Point Detection" (CVPR 2013):
the level-1 network F1 on the whole face. Plain convolutions stand in for the paper's locally
shared weights; its |tanh| activation is kept as an option."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .base import LandmarkModel
from .heads import RegressionHead
from .registry import register_model

__all__ = ["Sun2013", "AbsTanh"]


class AbsTanh(nn.Module):
    """|tanh(x)|, the paper's activation."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.tanh(x).abs()


ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "abs_tanh": AbsTanh}


@register_model("sun2013")
class Sun2013(LandmarkModel):
    """Sun et al. 2013 F1: conv4-20, conv3-40, conv3-60 (each max-pooled), conv2-80, fc 120."""

    def __init__(
        self, num_points: int = 5, input_size: int = 39, in_channels: int = 1, act: str = "abs_tanh"
    ):
        super().__init__(num_points, input_size, in_channels)
        if act not in ACTIVATIONS:
            raise ConfigError(f"unknown activation {act!r}; known: {', '.join(ACTIVATIONS)}")
        a = ACTIVATIONS[act]
        side = ((((input_size - 3) // 2 - 2) // 2 - 2) // 2) - 1
        if side < 1:
            raise ConfigError(f"sun2013 needs input_size >= 31, got {input_size}")
        self.backbone = nn.Sequential(
            nn.Conv2d(in_channels, 20, 4),
            a(),
            nn.MaxPool2d(2),
            nn.Conv2d(20, 40, 3),
            a(),
            nn.MaxPool2d(2),
            nn.Conv2d(40, 60, 3),
            a(),
            nn.MaxPool2d(2),
            nn.Conv2d(60, 80, 2),
            a(),
        )
        self.head = RegressionHead(80, num_points, "flatten", side, hidden=(120,), act=a)
