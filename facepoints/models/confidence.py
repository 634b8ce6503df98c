"""Per-point confidence: a small head beside a landmark model that predicts, for each point, its
expected error (a scale, in units of the scheme's normalising distance, trained with a negative
log-likelihood as in LUVLi, Kumar et al. CVPR 2020), and a calibration that maps that scale to the
probability that the point's error is below a threshold (0.10 of the normalising distance).

The head reads the landmark model's feature map (and, for heatmap heads, the score maps, at each
point's chosen cell), so the points themselves are untouched: adding confidence changes no NME.

    both = ConfidentModel(model, head)      # (B, C, S, S) -> points (B, K, 2), confidence (B, K)

Models without a fitted head get `FallbackConfidence`: the heatmap's peak score clipped to
[0, 1] (uncalibrated), or UNKNOWN (0.5) for regression heads; `facepoints calibrate` fits one.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError

__all__ = [
    "DEFAULT_THRESHOLD",
    "UNKNOWN",
    "ConfidenceHead",
    "FallbackConfidence",
    "ConfidentModel",
    "confidence_kind",
    "face_score",
]

DEFAULT_THRESHOLD = 0.10  # confidence c: P(point error < 0.10 x normalising distance) = c
UNKNOWN = 0.5  # the confidence of a model that cannot say anything (regression, uncalibrated)


class ConfidenceHead(nn.Module):
    """Log expected error per point from a feature map (B, C, h, w): a 3x3 (or 1x1) convolution to
    `hidden` channels (the heatmap scores (B, K, h, w) appended to its input when `heatmap`),
    then per point a 1x1 convolution read at the point's best-scoring cell (heatmap heads only)
    plus a linear layer on the pooled map, for what the whole face says.

    `calibration` (2,) holds Platt's a, b: confidence = sigmoid(a * -log_scale + b), fitted on
    validation faces; `info` what it was fitted on and how it scored (saved with the model)."""

    def __init__(
        self,
        in_channels: int,
        num_points: int,
        heatmap: bool,
        hidden: int = 32,
        threshold: float = DEFAULT_THRESHOLD,
        kernel: int = 3,
    ):
        super().__init__()
        if not (0 < float(threshold) < 1):
            raise ConfigError(f"confidence threshold must be in (0, 1), got {threshold!r}")
        self.num_points = int(num_points)
        self.heatmap = bool(heatmap)
        self.threshold = float(threshold)
        extra = self.num_points if self.heatmap else 0
        if kernel not in (1, 3):
            raise ConfigError(f"confidence head kernel must be 1 or 3, got {kernel!r}")
        self.conv = nn.Conv2d(int(in_channels) + extra, int(hidden), kernel, padding=kernel // 2)
        self.local = nn.Conv2d(int(hidden), self.num_points, 1) if self.heatmap else None
        self.pooled = nn.Linear(int(hidden), self.num_points)
        # start at an expected error of 5% of the normalising distance, everywhere
        nn.init.zeros_(self.pooled.weight)
        nn.init.constant_(self.pooled.bias, -3.0)
        self.register_buffer("calibration", torch.tensor([1.0, 0.0]))
        self.config: dict[str, Any] = {
            "in_channels": int(in_channels),
            "num_points": self.num_points,
            "heatmap": self.heatmap,
            "hidden": int(hidden),
            "threshold": self.threshold,
            "kernel": int(kernel),
        }
        self.info: dict[str, Any] = {}

    def log_scale(self, features: Tensor, outputs: dict[str, Tensor]) -> Tensor:
        """(B, K) log of each point's expected error over the normalising distance."""
        x = features.float()
        scores = outputs.get("scores") if self.heatmap else None
        if self.heatmap:
            if scores is None:
                raise ConfigError("this confidence head needs a heatmap head's scores")
            x = torch.cat([x, scores.float()], dim=1)
        h = F.relu(self.conv(x))
        out = self.pooled(h.mean(dim=(2, 3)))
        if self.local is not None:
            # the decoded cell, as HeatmapHead.decode; sizes as ints, constants in an export
            k, cells = self.num_points, int(scores.shape[-2]) * int(scores.shape[-1])
            index = scores.reshape(-1, k, cells).argmax(dim=2, keepdim=True)
            local = self.local(h).reshape(-1, k, cells)
            out = out + local.gather(2, index).reshape(-1, k)
        return out

    def forward(self, features: Tensor, outputs: dict[str, Tensor]) -> Tensor:
        """(B, K) calibrated confidences in [0, 1]."""
        a, b = self.calibration[0], self.calibration[1]
        return torch.sigmoid(-a * self.log_scale(features, outputs) + b)

    def describe(self) -> dict[str, Any]:
        """The JSON saved with the model: how to rebuild the head, and `info`."""
        return {"kind": "calibrated", "config": dict(self.config), **self.info}

    def extra_repr(self) -> str:
        a, b = (float(v) for v in self.calibration)
        return f"threshold={self.threshold:g}, calibration=({a:.4g}, {b:.4g})"

    @torch.no_grad()
    def folded(self, head: nn.Module) -> nn.Module:
        """The same confidences in fewer steps, for export: with a 1x1 convolution over the
        features and a heatmap `head`'s score maps (themselves a 1x1 convolution of the features:
        `head.conv`'s first K channels), the two convolutions fold into one over the features
        alone, and the calibration into the last layers' weights. Returns `self` where nothing
        folds (a 3x3 convolution, a regression head)."""
        conv = getattr(head, "conv", None)
        if not self.heatmap or self.conv.kernel_size != (1, 1) or conv is None:
            return self
        k = self.num_points
        if conv.kernel_size != (1, 1) or conv.out_channels != 3 * k:
            return self
        w_head, b_head = conv.weight[:k, :, 0, 0].float(), conv.bias[:k].float()
        w, b = self.conv.weight[:, :, 0, 0].float(), self.conv.bias.float()
        c = w_head.shape[1]
        w_feat, w_scores = w[:, :c], w[:, c:]
        a, shift = self.calibration.float()
        return FoldedConfidence(
            (w_feat + w_scores @ w_head, b + w_scores @ b_head),
            (-a * self.local.weight[:, :, 0, 0].float(), -a * self.local.bias.float()),
            (-a * self.pooled.weight.float(), -a * self.pooled.bias.float() + shift),
        )


class FoldedConfidence(nn.Module):
    """`ConfidenceHead.folded`'s module: sigmoid(pooled(h) + local(h) at each point's best
    cell), h = relu(one 1x1 convolution of the features); each part given as (weight, bias)."""

    def __init__(self, conv, local, pooled):
        super().__init__()
        self.conv = nn.Conv2d(conv[0].shape[1], conv[0].shape[0], 1)
        self.local = nn.Conv2d(local[0].shape[1], local[0].shape[0], 1)
        self.pooled = nn.Linear(pooled[0].shape[1], pooled[0].shape[0])
        for layer, (w, b) in ((self.conv, conv), (self.local, local), (self.pooled, pooled)):
            layer.weight.data.copy_(w.reshape(layer.weight.shape))
            layer.bias.data.copy_(b)

    def forward(self, features: Tensor, outputs: dict[str, Tensor]) -> Tensor:
        scores = outputs["scores"]
        k, cells = int(scores.shape[1]), int(scores.shape[-2]) * int(scores.shape[-1])
        h = F.relu(self.conv(features.float()))
        index = scores.reshape(-1, k, cells).argmax(dim=2, keepdim=True)
        local = self.local(h).reshape(-1, k, cells).gather(2, index).reshape(-1, k)
        return torch.sigmoid(self.pooled(h.mean(dim=(2, 3))) + local)


class FallbackConfidence(nn.Module):
    """The confidence of a model without a fitted head: a heatmap head's peak score clipped to
    [0, 1] (it was trained towards 1 at the right cell, 0 elsewhere; uncalibrated), else UNKNOWN
    for every point."""

    def forward(self, features: Tensor, outputs: dict[str, Tensor]) -> Tensor:
        scores = outputs.get("scores")
        if scores is not None:
            return scores.float().flatten(2).amax(dim=2).clamp(0.0, 1.0)
        points = outputs["points"]
        return torch.full_like(points[..., 0], UNKNOWN, dtype=torch.float32)

    def describe(self) -> dict[str, Any]:
        return {"kind": "uncalibrated"}


class ConfidentModel(nn.Module):
    """A landmark model and its confidence as one module: (B, C, S, S) crops -> points (B, K, 2)
    normalised to the crop (exactly the model's own) and confidence (B, K) in [0, 1]. Exportable
    to ONNX; `confidence` None uses `FallbackConfidence`. A model that is not a backbone and a
    head (any module giving points) gets UNKNOWN for every point."""

    def __init__(self, model: nn.Module, confidence: nn.Module | None = None):
        super().__init__()
        self.model = model
        self.confidence = confidence if confidence is not None else FallbackConfidence()
        for name in ("num_points", "input_size", "in_channels", "config"):
            if hasattr(model, name):
                setattr(self, name, getattr(model, name))
        self._split = all(hasattr(model, n) for n in ("backbone", "head", "_check_input"))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if not self._split:
            points = self.model(x)
            return points, torch.full_like(points[..., 0], UNKNOWN, dtype=torch.float32)
        self.model._check_input(x)
        features = self.model.backbone(x)
        outputs = self.model.head(features)
        return outputs["points"], self.confidence(features, outputs)


def confidence_kind(model: nn.Module, confidence: nn.Module | None) -> str:
    """ "calibrated" (a fitted head), "peak" (a heatmap model's raw peak score) or "constant"."""
    from .heads import HeatmapHead

    if not hasattr(model, "backbone"):
        return "constant"
    if isinstance(confidence, ConfidenceHead):
        return "calibrated"
    return "peak" if isinstance(getattr(model, "head", None), HeatmapHead) else "constant"


def face_score(confidence: Any) -> Any:
    """The face-level landmark score: the mean of its points' confidences (..., K) -> (...),
    NaN where there are none."""
    import numpy as np

    c = np.asarray(confidence, dtype=np.float64)
    if c.shape[-1] == 0:
        return np.full(c.shape[:-1], np.nan)
    return c.mean(axis=-1)
