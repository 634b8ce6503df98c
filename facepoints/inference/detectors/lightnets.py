"""The networks of the light single-shot face detectors, in torch.nn: RetinaFace with a
MobileNet-0.25 backbone, and the "slim" and "RFB" versions of the ultra-light detector, as in the
repository "Face-Detector-1MB-with-landmark" (MIT). Attribute names follow its state dicts' keys,
so its trained weights load unchanged.

Each network maps a (B, 3, H, W) BGR-minus-mean image to, per anchor (levels in order, then rows,
columns and the level's anchor sizes): box offsets (B, A, 4), face probability (B, A) and
5-point offsets (B, A, 10); `priors.anchor_boxes` lists the anchors in the same order.
Imported only when a detector is created (it imports torch)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["RetinaFaceMobileNet", "UltraLight", "NETWORKS"]


class RetinaFaceMobileNet(nn.Module):
    """RetinaFace: MobileNet-0.25 (three stages, strides 8, 16, 32), a feature pyramid, one SSH
    context module per level and 1x1 heads with two anchors per cell."""

    anchors_per_cell = (2, 2, 2)

    def __init__(self) -> None:
        super().__init__()
        self.body = _MobileNetBody()
        self.fpn = _FPN((64, 128, 256), 64)
        self.ssh1, self.ssh2, self.ssh3 = _SSH(64, 64), _SSH(64, 64), _SSH(64, 64)
        self.ClassHead = nn.ModuleList(_Head(64, 2 * 2) for _ in range(3))
        self.BboxHead = nn.ModuleList(_Head(64, 2 * 4) for _ in range(3))
        self.LandmarkHead = nn.ModuleList(_Head(64, 2 * 10) for _ in range(3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        levels = self.fpn(self.body(x))
        feats = [self.ssh1(levels[0]), self.ssh2(levels[1]), self.ssh3(levels[2])]
        return _outputs(feats, self.BboxHead, self.ClassHead, self.LandmarkHead)


class UltraLight(nn.Module):
    """The ultra-light detector: a MobileNet-like trunk read at strides 8, 16, 32 and 64, with
    depthwise heads (3, 2, 2, 3 anchors per cell). `rfb` puts a receptive-field block at the
    stride-8 output (the "RFB" version) instead of a depthwise block ("slim")."""

    anchors_per_cell = (3, 2, 2, 3)

    def __init__(self, rfb: bool = False) -> None:
        super().__init__()
        self.conv1 = _conv_bn(3, 16, 2)
        self.conv2 = _conv_dw(16, 32, 1)
        self.conv3 = _conv_dw(32, 32, 2)
        self.conv4 = _conv_dw(32, 32, 1)
        self.conv5 = _conv_dw(32, 64, 2)
        self.conv6 = _conv_dw(64, 64, 1)
        self.conv7 = _conv_dw(64, 64, 1)
        self.conv8 = _RFB(64, 64) if rfb else _conv_dw(64, 64, 1)
        self.conv9 = _conv_dw(64, 128, 2)
        self.conv10 = _conv_dw(128, 128, 1)
        self.conv11 = _conv_dw(128, 128, 1)
        self.conv12 = _conv_dw(128, 256, 2)
        self.conv13 = _conv_dw(256, 256, 1)
        self.conv14 = nn.Sequential(
            nn.Conv2d(256, 64, 1),
            nn.ReLU(inplace=True),
            _depthwise_head(64, 256, stride=2),
            nn.ReLU(inplace=True),
        )
        self.loc = _ssd_heads(4, self.anchors_per_cell)
        self.conf = _ssd_heads(2, self.anchors_per_cell)
        self.landm = _ssd_heads(10, self.anchors_per_cell)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        feats = []
        for i in range(1, 15):
            x = getattr(self, f"conv{i}")(x)
            if i in (8, 11, 13, 14):
                feats.append(x)
        return _outputs(feats, self.loc, self.conf, self.landm)


# name -> (constructor, key prefix in the shipped weight file)
NETWORKS = {
    "retinaface": (RetinaFaceMobileNet, "retinaface."),
    "ultralight_slim": (lambda: UltraLight(rfb=False), "slim."),
    "ultralight_rfb": (lambda: UltraLight(rfb=True), "rfb."),
}


def _outputs(feats, box_heads, class_heads, point_heads):
    """Concatenate the heads' outputs over levels as (B, A, 4), (B, A) face prob., (B, A, 10)."""

    def flat(heads, k):
        return torch.cat(
            [
                h(f).permute(0, 2, 3, 1).reshape(f.shape[0], -1, k)
                for h, f in zip(heads, feats, strict=True)
            ],
            dim=1,
        )

    boxes, logits, points = flat(box_heads, 4), flat(class_heads, 2), flat(point_heads, 10)
    return boxes, logits.softmax(dim=-1)[..., 1], points


def _conv_bn(cin: int, cout: int, stride: int = 1, kernel: int = 3, relu: bool = True):
    layers = [
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _conv_dw(cin: int, cout: int, stride: int):
    """Depthwise 3x3 + BN + ReLU, then pointwise 1x1 + BN + ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
        nn.BatchNorm2d(cin),
        nn.ReLU(inplace=True),
        nn.Conv2d(cin, cout, 1, 1, 0, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def _depthwise_head(cin: int, cout: int, stride: int = 1):
    """Depthwise 3x3 (with bias) + ReLU, then a pointwise 1x1 (with bias)."""
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin),
        nn.ReLU(inplace=True),
        nn.Conv2d(cin, cout, 1),
    )


def _ssd_heads(k: int, anchors: tuple[int, ...]):
    """One head per level: depthwise heads on the 64-, 128- and 256-channel outputs, a plain 3x3
    convolution on the last."""
    return nn.Sequential(
        _depthwise_head(64, anchors[0] * k),
        _depthwise_head(128, anchors[1] * k),
        _depthwise_head(256, anchors[2] * k),
        nn.Conv2d(256, anchors[3] * k, 3, padding=1),
    )


class _MobileNetBody(nn.Module):
    """MobileNet-0.25 in three stages, returning each stage's output (64, 128, 256 channels)."""

    def __init__(self) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(
            _conv_bn(3, 8, 2),
            _conv_dw(8, 16, 1),
            _conv_dw(16, 32, 2),
            _conv_dw(32, 32, 1),
            _conv_dw(32, 64, 2),
            _conv_dw(64, 64, 1),
        )
        self.stage2 = nn.Sequential(
            _conv_dw(64, 128, 2), *(_conv_dw(128, 128, 1) for _ in range(5))
        )
        self.stage3 = nn.Sequential(_conv_dw(128, 256, 2), _conv_dw(256, 256, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        c1 = self.stage1(x)
        c2 = self.stage2(c1)
        return [c1, c2, self.stage3(c2)]


class _FPN(nn.Module):
    """Top-down feature pyramid: 1x1 lateral convolutions, nearest upsampling, 3x3 merges."""

    def __init__(self, cins: tuple[int, int, int], cout: int) -> None:
        super().__init__()
        self.output1 = _conv_bn(cins[0], cout, kernel=1)
        self.output2 = _conv_bn(cins[1], cout, kernel=1)
        self.output3 = _conv_bn(cins[2], cout, kernel=1)
        self.merge1 = _conv_bn(cout, cout)
        self.merge2 = _conv_bn(cout, cout)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        o1, o2, o3 = self.output1(feats[0]), self.output2(feats[1]), self.output3(feats[2])
        o2 = self.merge2(o2 + F.interpolate(o3, size=o2.shape[2:], mode="nearest"))
        o1 = self.merge1(o1 + F.interpolate(o2, size=o1.shape[2:], mode="nearest"))
        return [o1, o2, o3]


class _SSH(nn.Module):
    """SSH context module: 3x3, 5x5 and 7x7 receptive fields from stacked 3x3 convolutions."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv3X3 = _conv_bn(cin, cout // 2, relu=False)
        self.conv5X5_1 = _conv_bn(cin, cout // 4)
        self.conv5X5_2 = _conv_bn(cout // 4, cout // 4, relu=False)
        self.conv7X7_2 = _conv_bn(cout // 4, cout // 4)
        self.conv7x7_3 = _conv_bn(cout // 4, cout // 4, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mid = self.conv5X5_1(x)
        five = self.conv5X5_2(mid)
        seven = self.conv7x7_3(self.conv7X7_2(mid))
        return F.relu(torch.cat([self.conv3X3(x), five, seven], dim=1))


class _Head(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1x1 = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1x1(x)


class _BasicConv(nn.Module):
    """Convolution (no bias) + BN, optionally ReLU; keys `conv`, `bn`."""

    def __init__(self, cin, cout, kernel, stride=1, padding=0, dilation=1, relu=True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, dilation, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.01)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return F.relu(x) if self.relu else x


class _RFB(nn.Module):
    """Receptive-field block: three branches with dilations 2, 3 and 5, concatenated, projected
    and added to a 1x1 shortcut."""

    def __init__(self, cin: int, cout: int, reduce: int = 8) -> None:
        super().__init__()
        m = cin // reduce
        self.branch0 = nn.Sequential(
            _BasicConv(cin, m, 1, relu=False),
            _BasicConv(m, 2 * m, 3, padding=1),
            _BasicConv(2 * m, 2 * m, 3, padding=2, dilation=2, relu=False),
        )
        self.branch1 = nn.Sequential(
            _BasicConv(cin, m, 1, relu=False),
            _BasicConv(m, 2 * m, 3, padding=1),
            _BasicConv(2 * m, 2 * m, 3, padding=3, dilation=3, relu=False),
        )
        self.branch2 = nn.Sequential(
            _BasicConv(cin, m, 1, relu=False),
            _BasicConv(m, m // 2 * 3, 3, padding=1),
            _BasicConv(m // 2 * 3, 2 * m, 3, padding=1),
            _BasicConv(2 * m, 2 * m, 3, padding=5, dilation=5, relu=False),
        )
        self.ConvLinear = _BasicConv(6 * m, cout, 1, relu=False)
        self.shortcut = _BasicConv(cin, cout, 1, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([self.branch0(x), self.branch1(x), self.branch2(x)], dim=1)
        return F.relu(self.ConvLinear(y) + self.shortcut(x))
