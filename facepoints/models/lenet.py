"""LeNet-style landmark regressor, as in the course: two 5x5 convolutions with pooling, then
fully connected 120 and 84, out 2K. ReLU and max pooling (not LeNet-5's tanh and averaging)."""

from __future__ import annotations

from torch import nn

from ..errors import ConfigError
from .base import LandmarkModel
from .heads import RegressionHead
from .registry import register_model

__all__ = ["LeNet"]


@register_model("lenet")
class LeNet(LandmarkModel):
    """LeNet-style: conv5x5-6, pool, conv5x5-16, pool, fc 120, fc 84 (40 px grey by default)."""

    def __init__(self, num_points: int = 5, input_size: int = 40, in_channels: int = 1):
        super().__init__(num_points, input_size, in_channels)
        side = ((input_size - 4) // 2 - 4) // 2
        if side < 1:
            raise ConfigError(f"lenet needs input_size >= 16, got {input_size}")
        self.backbone = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.head = RegressionHead(16, num_points, "flatten", side, hidden=(120, 84))
