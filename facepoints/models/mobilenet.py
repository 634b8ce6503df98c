"""MobileNet v1 (Howard et al. 2017: depthwise separable convolutions) and v2 (Sandler et al.
2018: inverted residuals, linear bottlenecks, ReLU6), ending at stride 16 by default so a 112 px
crop gives a 7x7 map, as the ResNets do."""

from __future__ import annotations

from torch import Tensor, nn

from ..errors import ConfigError
from .base import LandmarkModel, init_conv_bn, limit_strides
from .heads import make_head
from .registry import register_model

__all__ = ["MobileNet", "MobileNetV2", "InvertedResidual"]

# v1: (channels, stride) of each depthwise separable block after the 32-channel stride-2 stem.
_V1 = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5
_V1 += [(1024, 2), (1024, 1)]
# v2: (expansion t, channels c, repeats n, stride s) per stage, after the 32-channel stem.
_V2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1)]
_V2 += [(6, 160, 3, 2), (6, 320, 1, 1)]


@register_model("mobilenet")
class MobileNet(LandmarkModel):
    """MobileNet v1: 13 depthwise separable blocks with batch norm and ReLU; `width_mult`."""

    def __init__(
        self,
        num_points: int = 5,
        input_size: int = 112,
        in_channels: int = 3,
        width_mult: float = 1.0,
        out_stride: int = 16,
        head: str = "regression",
        vote: float | None = None,
    ):
        super().__init__(num_points, input_size, in_channels)
        _check_width(width_mult)
        strides = limit_strides([s for _, s in _V1], 2, out_stride)
        cin = _divisible(32 * width_mult)
        layers: list[nn.Module] = [_conv_bn(in_channels, cin, 3, 2, nn.ReLU)]
        for (c, _), s in zip(_V1, strides, strict=True):
            cout = _divisible(c * width_mult)
            layers += [
                _conv_bn(cin, cin, 3, s, nn.ReLU, groups=cin),
                _conv_bn(cin, cout, 1, 1, nn.ReLU),
            ]
            cin = cout
        self.backbone = nn.Sequential(*layers)
        init_conv_bn(self.backbone)
        self.head = make_head(head, cin, num_points, vote=vote)


@register_model(
    "mobilenetv2_heatmap",
    head="heatmap",
    description="MobileNet v2 with a PIPNet-style heatmap + offset head",
)
@register_model("mobilenetv2")
class MobileNetV2(LandmarkModel):
    """MobileNet v2: inverted residual blocks with ReLU6 and a 1x1 conv to 1280; `width_mult`."""

    def __init__(
        self,
        num_points: int = 5,
        input_size: int = 112,
        in_channels: int = 3,
        width_mult: float = 1.0,
        out_stride: int = 16,
        head: str = "regression",
        vote: float | None = None,
    ):
        super().__init__(num_points, input_size, in_channels)
        _check_width(width_mult)
        strides = limit_strides([s for *_, s in _V2], 2, out_stride)
        cin = _divisible(32 * width_mult)
        layers: list[nn.Module] = [_conv_bn(in_channels, cin, 3, 2, nn.ReLU6)]
        for (t, c, n, _), s in zip(_V2, strides, strict=True):
            cout = _divisible(c * width_mult)
            for j in range(n):
                layers.append(InvertedResidual(cin, cout, s if j == 0 else 1, t))
                cin = cout
        last = _divisible(1280 * max(1.0, width_mult))
        layers.append(_conv_bn(cin, last, 1, 1, nn.ReLU6))
        self.backbone = nn.Sequential(*layers)
        init_conv_bn(self.backbone)
        self.head = make_head(head, last, num_points, vote=vote)


class InvertedResidual(nn.Module):
    """1x1 expansion, 3x3 depthwise, 1x1 linear projection; residual when the shape allows."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(_conv_bn(cin, mid, 1, 1, nn.ReLU6))
        layers += [_conv_bn(mid, mid, 3, stride, nn.ReLU6, groups=mid), _conv_bn(mid, cout, 1, 1)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        y = self.block(x)
        return x + y if self.residual else y


def _conv_bn(
    cin: int, cout: int, k: int, stride: int, act: type[nn.Module] | None = None, groups: int = 1
) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act is not None:
        layers.append(act(inplace=True))
    return nn.Sequential(*layers)


def _divisible(v: float, divisor: int = 8) -> int:
    """Round channels to a multiple of 8, never more than 10% below `v` (as the papers' code)."""
    out = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * v else out


def _check_width(width_mult: float) -> None:
    if not isinstance(width_mult, (int, float)) or not 0.1 <= width_mult <= 4:
        raise ConfigError(f"width_mult must be between 0.1 and 4, got {width_mult!r}")
