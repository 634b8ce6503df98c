"""Residual networks of basic blocks (He et al. 2016) for small face crops: a two-conv 3x3 stem
of stride 4 instead of 7x7 + max-pool, and a final stride of 16 by default, so a 112 px crop
ends on a 7x7 map (PIPNet's grid granularity at under a quarter of its 256 px input)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ..errors import ConfigError
from .base import LandmarkModel, feature_map_size, init_conv_bn, limit_strides
from .heads import make_head
from .registry import register_model

__all__ = ["ResNet", "BasicBlock", "deepen_state"]


@register_model(
    "resnet18_heatmap",
    depth=(2, 2, 2, 2),
    head="heatmap",
    description="ResNet-18 layout with a PIPNet-style heatmap + offset head",
)
@register_model("resnet18", depth=(2, 2, 2, 2), description="ResNet-18 layout, regression head")
@register_model("resnet10", depth=(1, 1, 1, 1), description="ResNet-10 layout, regression head")
@register_model("resnet")
class ResNet(LandmarkModel):
    """Residual net of basic blocks: `depth` blocks per stage, channels width x 1, 2, 4, 8."""

    def __init__(
        self,
        num_points: int = 5,
        input_size: int = 112,
        in_channels: int = 3,
        depth: Sequence[int] = (2, 2, 2, 2),
        width: int = 64,
        out_stride: int = 16,
        head: str = "regression",
        pool: str = "avg",
    ):
        super().__init__(num_points, input_size, in_channels)
        if not depth or any(int(d) < 1 for d in depth) or width < 4:
            raise ConfigError(
                f"resnet needs >= 1 block per stage and width >= 4, got depth={depth!r}, "
                f"width={width!r}"
            )
        strides = limit_strides([1] + [2] * (len(depth) - 1), 4, out_stride)
        half = max(width // 2, 1)
        layers: list[nn.Module] = [
            *_conv_bn_relu(in_channels, half, stride=2),
            *_conv_bn_relu(half, width, stride=2),
        ]
        cin = width
        for i, (n, s) in enumerate(zip(depth, strides, strict=True)):
            cout = width * 2**i
            for j in range(int(n)):
                layers.append(BasicBlock(cin, cout, s if j == 0 else 1))
                cin = cout
        self.backbone = nn.Sequential(*layers)
        init_conv_bn(self.backbone)
        for m in self.backbone.modules():
            if isinstance(m, BasicBlock):
                # Each block starts as its shortcut alone, so deep stacks train from the first step.
                nn.init.zeros_(m.bn2.weight)
        fsize = (
            feature_map_size(self.backbone, in_channels, input_size) if pool == "flatten" else None
        )
        self.head = make_head(head, cin, num_points, pool=pool, feature_size=fsize)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm, plus a shortcut (1x1 when the shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: Tensor) -> Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + self.shortcut(x))


def deepen_state(source: dict, source_config: dict, target: nn.Module) -> dict | None:
    """`target`'s state dict holding the weights `source` of a ResNet built from `source_config`,
    where `target` is that net with more blocks per stage (same width, strides and head): each
    stage's first blocks are the source's, the extra ones keep their identity start (zeroed last
    batch norm), so the deeper net begins as the same function (Chen et al.'s Net2DeeperNet).
    None where the two do not fit so."""
    if not isinstance(target, ResNet):
        return None
    keys = ("width", "out_stride", "in_channels", "input_size", "head", "pool")
    src_depth, dst_depth = source_config.get("depth"), target.config.get("depth")
    if (
        any(source_config.get(k) != target.config.get(k) for k in keys)
        or src_depth is None
        or dst_depth is None
        or len(src_depth) != len(dst_depth)
        or any(int(a) > int(b) for a, b in zip(src_depth, dst_depth, strict=True))
        or list(src_depth) == list(dst_depth)
    ):
        return None
    stem = len(target.backbone) - sum(int(d) for d in dst_depth)
    index = {i: i for i in range(stem)}  # source layer -> target layer
    s, t = stem, stem
    for a, b in zip(src_depth, dst_depth, strict=True):
        for j in range(int(a)):
            index[s + j] = t + j
        s, t = s + int(a), t + int(b)
    out = {k: v.clone() for k, v in target.state_dict().items()}
    for key, value in source.items():
        parts = key.split(".")
        if parts[0] == "backbone":
            if int(parts[1]) not in index:
                return None
            parts[1] = str(index[int(parts[1])])
        new = ".".join(parts)
        if new not in out or out[new].shape != value.shape:
            return None
        out[new] = value.clone()
    return out


def _conv_bn_relu(cin: int, cout: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
