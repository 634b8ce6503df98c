"""Residual networks of basic blocks (He et al. 2016) for small face crops: a two-conv 3x3 stem
of stride 4 instead of 7x7 + max-pool, and a final stride of 16 by default, so a 112 px crop
ends on a 7x7 map (PIPNet's grid granularity at under a quarter of its 256 px input)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .base import LandmarkModel, feature_map_size, init_conv_bn, limit_strides
from .heads import make_head
from .registry import register_model

__all__ = ["ResNet", "BasicBlock", "deepen_state", "widen_state"]


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
        vote: float | None = None,
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
        self.head = make_head(head, cin, num_points, pool=pool, feature_size=fsize, vote=vote)


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
    if not _same_but(source_config, target, "depth"):
        return None
    src_depth, dst_depth = source_config.get("depth"), target.config.get("depth")
    if (
        src_depth is None
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


def widen_state(source: dict, source_config: dict, target: nn.Module, seed: int = 0) -> dict | None:
    """`target`'s state dict holding the weights `source` of a ResNet built from `source_config`,
    where `target` is that net made wider (same depth, strides and head): each new channel copies
    a random old one, and the layers that read a copied channel split its weight among the
    copies in random shares that sum to one, so the wider net begins as the same function, in
    training mode too (Chen et al.'s Net2WiderNet; the random shares break the copies' symmetry).
    None where the two do not fit so."""
    if not _same_but(source_config, target, "width"):
        return None
    old_w, new_w = source_config.get("width"), target.config.get("width")
    if old_w is None or new_w is None or int(new_w) <= int(old_w):
        return None
    g = torch.Generator().manual_seed(seed)
    out = {k: v.clone() for k, v in target.state_dict().items()}

    def fresh(old: int, new: int) -> tuple[Tensor, Tensor]:
        """(new,) old channel of each new one, and each one's share of that old channel."""
        pick = torch.cat([torch.arange(old), torch.randint(old, (new - old,), generator=g)])
        share = torch.rand(new, generator=g) + 0.5
        share = share / torch.zeros(old).index_add_(0, pick, share)[pick]
        share[torch.bincount(pick, minlength=old)[pick] == 1] = 1.0
        return pick, share

    def put(key: str, value: Tensor) -> bool:
        if key not in out or out[key].shape != value.shape:
            return False
        out[key] = value.to(out[key].dtype)
        return True

    def conv(name: str, cin: tuple[Tensor, Tensor] | None, cout: tuple[Tensor, Tensor] | None):
        w = source[f"{name}.weight"]
        if cout is not None:
            w = w[cout[0]]
        if cin is not None:
            w = w[:, cin[0]] * cin[1].view(1, -1, *([1] * (w.dim() - 2)))
        ok = put(f"{name}.weight", w)
        if f"{name}.bias" in source:
            b = source[f"{name}.bias"]
            ok = ok and put(f"{name}.bias", b[cout[0]] if cout is not None else b)
        return ok

    def bn(name: str, m: tuple[Tensor, Tensor]) -> bool:
        ok = put(f"{name}.num_batches_tracked", source[f"{name}.num_batches_tracked"])
        for part in ("weight", "bias", "running_mean", "running_var"):
            ok = ok and put(f"{name}.{part}", source[f"{name}.{part}"][m[0]])
        return ok

    def width_of(name: str) -> int:
        return int(source[f"{name}.weight"].shape[0])

    try:
        ok, m = True, None
        layers = list(target.backbone)
        for i, layer in enumerate(layers):
            name = f"backbone.{i}"
            if isinstance(layer, nn.Conv2d):
                new = fresh(width_of(name), layer.out_channels)
                ok = ok and conv(name, m, new) and bn(f"backbone.{i + 1}", new)
                m = new
            elif isinstance(layer, BasicBlock):
                mid = fresh(width_of(f"{name}.conv1"), layer.conv1.out_channels)
                m_out = m
                if not isinstance(layer.shortcut, nn.Identity):
                    m_out = fresh(width_of(f"{name}.conv2"), layer.conv2.out_channels)
                    ok = ok and conv(f"{name}.shortcut.0", m, m_out)
                    ok = ok and bn(f"{name}.shortcut.1", m_out)
                ok = ok and conv(f"{name}.conv1", m, mid) and bn(f"{name}.bn1", mid)
                ok = ok and conv(f"{name}.conv2", mid, m_out) and bn(f"{name}.bn2", m_out)
                m = m_out
        heads = [
            k[: -len(".weight")] for k in source if k.startswith("head.") and k.endswith(".weight")
        ]
        if len(heads) != 1 or source[f"{heads[0]}.weight"].dim() != 4:
            return None  # a head of more than one layer: not widened here
        ok = ok and conv(heads[0], m, None)
    except (KeyError, IndexError, RuntimeError):
        return None
    return out if ok else None


def _same_but(source_config: dict, target: nn.Module, varying: str) -> bool:
    """Whether `target` is a ResNet built as `source_config` in all but `varying` (and the
    number of points, which the head's remapping handles)."""
    if not isinstance(target, ResNet):
        return False
    keys = {"depth", "width", "out_stride", "in_channels", "input_size", "head", "pool"} - {varying}
    return all(_listed(source_config.get(k)) == _listed(target.config.get(k)) for k in keys)


def _listed(v):
    return list(v) if isinstance(v, (list, tuple)) else v


def _conv_bn_relu(cin: int, cout: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
