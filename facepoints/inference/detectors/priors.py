"""Anchors, decoding and non-maximum suppression for single-shot face detectors, in NumPy.

Anchors are square, centred on each cell of a level's grid (stride `step`), listed level by
level, then row, column and anchor size: the order of the networks' outputs. Offsets decode as
in SSD with variances (0.1, 0.2): centre = anchor centre + offset * 0.1 * anchor size, size =
anchor size * exp(offset * 0.2); a point = anchor centre + offset * 0.1 * anchor size."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["anchor_boxes", "box_iou", "decode_boxes", "decode_points", "nms"]

VARIANCES = (0.1, 0.2)


def anchor_boxes(
    height: int, width: int, steps: Sequence[int], min_sizes: Sequence[Sequence[int]]
) -> np.ndarray:
    """Anchors (A, 4) float32 cx cy w h in pixels of an image of `height` x `width`; level k
    has a ceil(height / steps[k]) x ceil(width / steps[k]) grid with anchors of min_sizes[k]."""
    out = []
    for step, sizes in zip(steps, min_sizes, strict=True):
        rows, cols = math.ceil(height / step), math.ceil(width / step)
        cy, cx = np.meshgrid(
            (np.arange(rows) + 0.5) * step, (np.arange(cols) + 0.5) * step, indexing="ij"
        )
        n = len(sizes)
        level = np.empty((rows, cols, n, 4), dtype=np.float32)
        level[..., 0] = cx[..., None]
        level[..., 1] = cy[..., None]
        level[..., 2] = np.asarray(sizes, dtype=np.float32)
        level[..., 3] = np.asarray(sizes, dtype=np.float32)
        out.append(level.reshape(-1, 4))
    return np.concatenate(out) if out else np.zeros((0, 4), np.float32)


def decode_boxes(offsets: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Box offsets (A, 4) at anchors (A, 4) -> boxes (A, 4) x1 y1 x2 y2 in pixels."""
    off = np.asarray(offsets, dtype=np.float32)
    centre = anchors[:, :2] + off[:, :2] * VARIANCES[0] * anchors[:, 2:]
    size = anchors[:, 2:] * np.exp(np.clip(off[:, 2:] * VARIANCES[1], -10, 10))
    return np.concatenate([centre - size / 2, centre + size / 2], axis=1)


def decode_points(offsets: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Point offsets (A, 2K) at anchors (A, 4) -> points (A, K, 2) in pixels."""
    off = np.asarray(offsets, dtype=np.float32)
    off = off.reshape(off.shape[0], off.shape[1] // 2, 2)
    return anchors[:, None, :2] + off * VARIANCES[0] * anchors[:, None, 2:]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes a (N, 4) with boxes b (M, 4): (N, M)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(1, -1, 4)
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / np.maximum(area_a + area_b - inter, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = 0.4) -> np.ndarray:
    """Indices of the boxes (N, 4) x1 y1 x2 y2 kept by greedy non-maximum suppression: best
    score first, dropping every box whose IoU with a kept one exceeds `iou`."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    area = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    order = np.argsort(-np.asarray(scores), kind="stable")
    keep = []
    while len(order):
        i, rest = order[0], order[1:]
        keep.append(i)
        iw = np.clip(np.minimum(b[i, 2], b[rest, 2]) - np.maximum(b[i, 0], b[rest, 0]), 0, None)
        ih = np.clip(np.minimum(b[i, 3], b[rest, 3]) - np.maximum(b[i, 1], b[rest, 1]), 0, None)
        inter = iw * ih
        overlap = inter / np.maximum(area[i] + area[rest] - inter, 1e-9)
        order = rest[overlap <= iou]
    return np.array(keep, dtype=np.int64)
