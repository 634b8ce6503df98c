"""A net for the cheapest crops: a plain two-conv 3x3 stem of stride 4 (few channels, where the
map is large), then depthwise separable blocks (Howard et al. 2017) with shortcuts, so that the
many channels at the small final map cost a 1x1 convolution each instead of a 3x3 one."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ..errors import ConfigError
from .base import LandmarkModel, init_conv_bn
from .heads import make_head
from .registry import register_model

__all__ = ["SepNet", "SeparableBlock"]


@register_model("sepnet")
class SepNet(LandmarkModel):
    """Stride-4 stem of two 3x3 convolutions (`stem` channels), then one depthwise separable block
    per entry of `channels` with the matching `strides`; a heatmap (or regression) head."""

    def __init__(
        self,
        num_points: int = 5,
        input_size: int = 64,
        in_channels: int = 3,
        stem: Sequence[int] = (8, 16),
        channels: Sequence[int] = (32, 64, 64, 128, 128),
        strides: Sequence[int] = (1, 2, 1, 1, 1),
        head: str = "heatmap",
        vote: float | None = None,
    ):
        super().__init__(num_points, input_size, in_channels)
        if len(stem) != 2 or any(int(c) < 1 for c in stem):
            raise ConfigError(f"sepnet's stem needs two channel counts, got {stem!r}")
        if not channels or len(channels) != len(strides) or any(int(c) < 1 for c in channels):
            raise ConfigError(
                f"sepnet needs one stride per block, got channels={channels!r}, strides={strides!r}"
            )
        if any(int(s) not in (1, 2) for s in strides):
            raise ConfigError(f"sepnet's strides must be 1 or 2, got {strides!r}")
        layers: list[nn.Module] = []
        cin = in_channels
        for c in stem:
            layers += [
                nn.Conv2d(cin, int(c), 3, 2, 1, bias=False),
                nn.BatchNorm2d(int(c)),
                nn.ReLU(inplace=True),
            ]
            cin = int(c)
        for c, s in zip(channels, strides, strict=True):
            layers.append(SeparableBlock(cin, int(c), int(s)))
            cin = int(c)
        self.backbone = nn.Sequential(*layers)
        init_conv_bn(self.backbone)
        for m in self.backbone.modules():
            if isinstance(m, SeparableBlock) and m.residual:
                # a block with a shortcut starts as the shortcut alone (as ResNet's blocks do)
                nn.init.zeros_(m.bn2.weight)
        self.head = make_head(head, cin, num_points, vote=vote)


class SeparableBlock(nn.Module):
    """3x3 depthwise convolution (with the stride), batch norm, ReLU; 1x1 convolution, batch norm;
    plus the input where the shape allows; ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.dw = nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False)
        self.bn1 = nn.BatchNorm2d(cin)
        self.pw = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        y = self.bn2(self.pw(self.relu(self.bn1(self.dw(x)))))
        return self.relu(x + y if self.residual else y)
