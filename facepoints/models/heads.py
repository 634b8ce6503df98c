"""Heads that turn a feature map into points: direct regression, and PIPNet-style heatmaps with
offsets (Jin et al., "Pixel-in-Pixel Net", IJCV 2021)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .base import PointLoss

__all__ = ["RegressionHead", "HeatmapHead", "HEADS", "make_head", "set_vote"]


class RegressionHead(nn.Module):
    """Pool (global average) or flatten the feature map, optional hidden fully connected layers,
    then a linear layer to K*2 coordinates whose bias starts at the crop centre."""

    def __init__(
        self,
        in_channels: int,
        num_points: int,
        pool: str = "avg",
        feature_size: int | None = None,
        hidden: Sequence[int] = (),
        act: Callable[[], nn.Module] = nn.ReLU,
        init_point: float = 0.5,
    ):
        super().__init__()
        self.num_points = num_points
        if pool == "avg":
            self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
            width = in_channels
        elif pool == "flatten":
            if not feature_size or feature_size < 1:
                raise ConfigError("a flattening regression head needs the feature map's size")
            self.pool = nn.Flatten()
            width = in_channels * feature_size * feature_size
        else:
            raise ConfigError(f"unknown pooling {pool!r}; known: avg, flatten")
        layers: list[nn.Module] = []
        for h in hidden:
            layers += [nn.Linear(width, h), act()]
            width = h
        self.hidden = nn.Sequential(*layers)
        self.fc = nn.Linear(width, num_points * 2)
        # Small weights and a mean-position bias: the first prediction is the crop centre, so
        # early gradients are about shape, not about finding the crop.
        nn.init.normal_(self.fc.weight, std=0.01)
        nn.init.constant_(self.fc.bias, init_point)

    def forward(self, features: Tensor) -> dict[str, Tensor]:
        return {"points": self.points(features)}

    def points(self, features: Tensor) -> Tensor:
        return self.fc(self.hidden(self.pool(features))).reshape(-1, self.num_points, 2)

    def loss(
        self,
        outputs: dict[str, Tensor],
        target: Tensor,
        point_loss: PointLoss,
        mask: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, float]]:
        """`point_loss` of the points; with `mask` (B, K) only over the points it marks (a face
        labelled in a sparser scheme than the model's)."""
        # float32 for the loss even under autocast: coordinates need the precision.
        pred, target = outputs["points"].float(), target.float()
        if mask is not None:
            keep = mask.bool()
            pred, target = pred[keep], target[keep]
        loss = point_loss(pred, target)
        return loss, {"point": float(loss.detach())}


class HeatmapHead(nn.Module):
    """PIPNet-style head on an h x w feature map: per point one score map and x, y offset maps
    (in cell units). A point is its best-scoring cell plus that cell's offset, / map size.

    `vote` (None: off): the point is instead a weighted mean of the votes of the best cell and
    its 8 neighbours (each cell's corner plus its own offset), weighted by softmax(vote x score)
    over the cells on the map. Near a cell's edge the best cell and its neighbour share the
    point; 15 measures best on validation faces (`benchmarks/decode_vote.py`). Training is the
    same either way: only the reading of the maps changes.

    Loss as PIPNet's "l2_l1_10_1": MSE of the scores against a one-hot map at the target's cell
    (weight 10), L1 of the offsets at that cell only (weight 1). Targets off the map use the
    nearest cell, with an offset beyond 0..1, so decoding still recovers them."""

    def __init__(
        self,
        in_channels: int,
        num_points: int,
        score_weight: float = 10.0,
        offset_weight: float = 1.0,
        vote: float | None = None,
    ):
        super().__init__()
        self.num_points = num_points
        self.vote = _vote(vote)
        self.score_weight = score_weight
        self.offset_weight = offset_weight
        self.conv = nn.Conv2d(in_channels, 3 * num_points, kernel_size=1)
        nn.init.normal_(self.conv.weight, std=0.001)
        nn.init.zeros_(self.conv.bias)

    def forward(self, features: Tensor) -> dict[str, Tensor]:
        scores, offsets = self.maps(features)
        points = self.decode(scores, offsets, self.vote)
        return {"points": points, "scores": scores, "offsets": offsets}

    def points(self, features: Tensor) -> Tensor:
        return self.decode(*self.maps(features), vote=self.vote)

    def maps(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """Scores (B, K, h, w) and offsets (B, 2, K, h, w), x offsets first."""
        out = self.conv(features)
        h, w = _size(out)
        out = out.reshape(-1, 3, self.num_points, h, w)
        return out[:, 0], out[:, 1:]

    @staticmethod
    def decode(scores: Tensor, offsets: Tensor, vote: float | None = None) -> Tensor:
        """Best cell plus its offset, normalised to the crop: (B, K, 2); with `vote`, the
        weighted votes of the best cell's 3 x 3 neighbourhood (see the class). No loops,
        ONNX-safe, and lean there: corners and neighbours come from tables, not from index
        arithmetic."""
        h, w = _size(scores)
        k = int(scores.shape[1])
        index = scores.reshape(-1, k, h * w).argmax(dim=2)  # (B, K)
        flat = offsets.reshape(-1, 2 * k, h * w)  # x offsets of the K points, then y
        corner, cell = _corners(h, w, flat.device)
        if vote is None:
            # both offsets of each point at its cell in one gather: (B, 2K, h*w) at (B, 2K, 1)
            off = flat.gather(2, torch.cat((index, index), dim=1)[..., None]).reshape(-1, 2, k)
            off = off.float()  # float32 even under autocast
            return corner[index] + off.transpose(1, 2) * cell
        near, outside = _neighbours(h, w, flat.device)
        cells = near[index]  # (B, K, 9) flat cells around each point's best one
        both = torch.cat((cells, cells), dim=1)  # (B, 2K, 9)
        off = flat.gather(2, both).float().reshape(-1, 2, k, 9)
        weight = scores.reshape(-1, k, h * w).gather(2, cells).float() * vote + outside[index]
        weight = torch.softmax(weight, dim=2)  # (B, K, 9)
        votes = corner[cells] + off.permute(0, 2, 3, 1) * cell  # (B, K, 9, 2)
        return (votes * weight[..., None]).sum(dim=2)

    @staticmethod
    def encode(target: Tensor, h: int, w: int) -> tuple[Tensor, Tensor]:
        """Target maps for normalised (B, K, 2) points: one-hot scores (B, K, h, w) and offsets
        (B, 2, K, h, w), set at each point's cell only. `decode` inverts it."""
        index, off = _cells(target, h, w)
        b, k = index.shape
        scores = target.new_zeros(b, k, h * w).scatter_(2, index[..., None], 1.0)
        offsets = target.new_zeros(b, 2, k, h * w)
        offsets.scatter_(3, index[:, None, :, None].expand(-1, 2, -1, 1), off[..., None])
        return scores.view(b, k, h, w), offsets.view(b, 2, k, h, w)

    def loss(
        self,
        outputs: dict[str, Tensor],
        target: Tensor,
        point_loss: PointLoss,
        mask: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, float]]:
        """With `mask` (B, K), only the marked points' maps and offsets count (a face labelled in
        a sparser scheme than the model's); the means are over the marked points."""
        scores, offsets = outputs["scores"].float(), outputs["offsets"].float()
        h, w = scores.shape[-2:]
        target = target.detach().float()
        index, off_target = _cells(target, h, w)
        score_target = torch.zeros_like(scores).flatten(2).scatter_(2, index[..., None], 1.0)
        score_err = (scores.flatten(2) - score_target).pow(2).mean(dim=2)  # (B, K)
        offset_err = (_at(offsets, index) - off_target).abs().mean(dim=1)  # (B, K)
        if mask is None:
            score_loss, offset_loss = score_err.mean(), offset_err.mean()
        else:
            m = mask.to(score_err.dtype)
            n = m.sum().clamp_min(1.0)
            score_loss, offset_loss = (score_err * m).sum() / n, (offset_err * m).sum() / n
        loss = self.score_weight * score_loss + self.offset_weight * offset_loss
        return loss, {"score": float(score_loss.detach()), "offset": float(offset_loss.detach())}


HEADS: dict[str, type[nn.Module]] = {"regression": RegressionHead, "heatmap": HeatmapHead}


def make_head(
    kind: str,
    in_channels: int,
    num_points: int,
    pool: str = "avg",
    feature_size: int | None = None,
    vote: float | None = None,
) -> nn.Module:
    """A head by name on a feature map of `in_channels`: "regression" (global average pool, or
    with pool="flatten" a linear layer over every cell of a `feature_size` map, which keeps
    where things are) or "heatmap" (`vote`: how it reads its maps, see HeatmapHead)."""
    try:
        cls = HEADS[kind]
    except KeyError:
        raise ConfigError(f"unknown head {kind!r}; known: {', '.join(HEADS)}") from None
    if cls is RegressionHead:
        if vote is not None:
            raise ConfigError("vote reads heatmaps: it needs head='heatmap'")
        return cls(in_channels, num_points, pool=pool, feature_size=feature_size)
    return cls(in_channels, num_points, vote=vote)


def set_vote(model: nn.Module, vote: float | None) -> None:
    """Read `model`'s heatmaps by neighbourhood vote from now on (`vote`, see HeatmapHead; None:
    the best cell alone), recorded in its config so that a saved, reloaded or exported copy
    reads them the same way (the ONNX cache is keyed on the config too)."""
    head = getattr(model, "head", None)
    if not isinstance(head, HeatmapHead):
        raise ConfigError("vote reads heatmaps: this model has no heatmap head")
    head.vote = _vote(vote)
    config = getattr(model, "config", None)
    if isinstance(config, dict):
        config.pop("vote", None)
        if head.vote is not None:
            config["vote"] = head.vote


def _vote(vote: float | None) -> float | None:
    """A vote weight as a float, checked (None: off)."""
    if vote is not None and not float(vote) > 0:
        raise ConfigError(f"vote must be a positive number or None, got {vote!r}")
    return None if vote is None else float(vote)


def _cells(target: Tensor, h: int, w: int) -> tuple[Tensor, Tensor]:
    """Each point's cell as a flat index (B, K) (clamped onto the map) and its offset from that
    cell's corner in cell units (B, 2, K)."""
    u, v = target[..., 0] * w, target[..., 1] * h
    cx = u.floor().clamp(0, w - 1)
    cy = v.floor().clamp(0, h - 1)
    index = (cy * w + cx).long()
    return index, torch.stack((u - cx, v - cy), dim=1)


def _at(offsets: Tensor, index: Tensor) -> Tensor:
    """Offsets (B, 2, K, h, w) at flat cells (B, K) -> (B, 2, K)."""
    flat = offsets.flatten(3)
    return flat.gather(3, index[:, None, :, None].expand(-1, 2, -1, 1)).squeeze(3)


def _size(maps: Tensor) -> tuple[int, int]:
    """A map's (h, w) as Python ints: constants in a traced export (the map size is fixed by the
    input size), so the graph holds no shape arithmetic."""
    return int(maps.shape[-2]), int(maps.shape[-1])


def _neighbours(h: int, w: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Each flat cell's 3 x 3 neighbourhood as flat cells (h*w, 9), clamped onto the map, and an
    additive weight (h*w, 9) that is 0 for a neighbour on the map and -1e4 for one off it (its
    clamped stand-in then counts for nothing)."""
    cy, cx = torch.meshgrid(
        torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij"
    )
    cy, cx = cy.reshape(-1, 1), cx.reshape(-1, 1)
    dy, dx = torch.meshgrid(
        torch.arange(-1, 2, device=device), torch.arange(-1, 2, device=device), indexing="ij"
    )
    y, x = cy + dy.reshape(1, -1), cx + dx.reshape(1, -1)
    on = (y >= 0) & (y < h) & (x >= 0) & (x < w)
    near = y.clamp(0, h - 1) * w + x.clamp(0, w - 1)
    return near, torch.where(on, 0.0, -1e4).to(torch.float32)


def _corners(h: int, w: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Each flat cell's top-left corner normalised to the map, (h*w, 2) x then y, and one cell's
    size (2,)."""
    cy, cx = torch.meshgrid(
        torch.arange(h, dtype=torch.float32, device=device),
        torch.arange(w, dtype=torch.float32, device=device),
        indexing="ij",
    )
    cell = torch.tensor([1.0 / w, 1.0 / h], device=device)
    return torch.stack((cx.flatten(), cy.flatten()), dim=1) * cell, cell
