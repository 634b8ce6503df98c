"""Boxes and 2x3 affine maps between image and crop coordinates.

Boxes are (4,) or (N, 4) float arrays x1, y1, x2, y2 in pixels. An affine map `M` (2x3) sends a
point p (x, y) of one frame to M[:, :2] @ p + M[:, 2] of another; crops are made with
`cv2.warpAffine(image, M, size)`, so points and pixels always move by the same matrix.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "box_center_size",
    "square_box",
    "crop_matrix",
    "crop_matrices",
    "invert_many",
    "warp_many",
    "warp_into",
    "similarity_matrix",
    "compose",
    "invert",
    "apply",
    "warp",
    "fit_similarity",
]


def box_center_size(box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre (.., 2) and size (.., 2) of boxes (.., 4)."""
    b = np.asarray(box, dtype=np.float64)
    c = np.stack([(b[..., 0] + b[..., 2]) / 2, (b[..., 1] + b[..., 3]) / 2], axis=-1)
    s = np.stack([b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]], axis=-1)
    return c, s


def square_box(box: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """The square box with the same centre, side = scale * max(width, height)."""
    c, s = box_center_size(box)
    half = scale * s.max(axis=-1, keepdims=True) / 2
    return np.concatenate([c - half, c + half], axis=-1).astype(np.float32)


def similarity_matrix(
    scale: float, angle_deg: float = 0.0, tx: float = 0.0, ty: float = 0.0
) -> np.ndarray:
    """2x3 matrix: rotate by angle (counter-clockwise on screen when positive), scale, translate."""
    a = np.deg2rad(angle_deg)
    c, s = np.cos(a) * scale, np.sin(a) * scale
    return np.array([[c, s, tx], [-s, c, ty]], dtype=np.float64)


def crop_matrix(
    box: np.ndarray,
    out_size: int | tuple[int, int],
    margin: float = 0.0,
    angle_deg: float = 0.0,
    shift: tuple[float, float] = (0.0, 0.0),
    flip: bool = False,
) -> np.ndarray:
    """Map image -> crop for a square crop of `out_size` around `box`.

    The crop covers the box's larger side enlarged by `margin` (0.2 = 20% more), rotated by
    `angle_deg` around the box centre, shifted by `shift` (fractions of the crop side), and
    mirrored when `flip`. Pixel centres map to pixel centres (x' = M @ x in pixel-index units)."""
    w, h = (out_size, out_size) if isinstance(out_size, int) else out_size
    c, s = box_center_size(box)
    side = float(np.max(s)) * (1.0 + margin)
    side = max(side, 1e-3)
    scale = min(w, h) / side
    m = similarity_matrix(scale, angle_deg)
    # centre of the box -> centre of the crop (pixel-centre convention: (w-1)/2)
    dst_c = np.array([(w - 1) / 2 + shift[0] * w, (h - 1) / 2 + shift[1] * h])
    m[:, 2] = dst_c - m[:, :2] @ c
    if flip:
        m = compose(np.array([[-1.0, 0.0, w - 1.0], [0.0, 1.0, 0.0]]), m)
    return m


def crop_matrices(
    boxes: np.ndarray,
    out_size: int,
    margin: float = 0.0,
    angles: np.ndarray | None = None,
    inverse: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """`crop_matrix` (no shift or flip) of every box (N, 4) at once, each turned by its
    `angles` (N,) degrees (None: none): (N, 2, 3) float64, the same numbers as calling it box
    by box. `inverse`: (maps, their inverses), the inverses in closed form (a rotation and a
    scale). One box takes plain float arithmetic: the common call, where NumPy's per-call cost
    on tiny arrays would be most of the time."""
    b = boxes if getattr(boxes, "shape", None) == (1, 4) else np.asarray(boxes, np.float64)
    b = b.reshape(-1, 4)
    if len(b) == 1:
        x1, y1, x2, y2 = b[0].tolist()  # Python floats: float32 values stay exact
        a = 0.0 if angles is None else math.radians(float(np.reshape(angles, -1)[0]))
        m, inv = _similarity(x1, y1, x2, y2, out_size, margin, math.cos(a), math.sin(a), max)
        m, inv = np.array((m, inv)).reshape(2, 1, 2, 3)  # one array: the map, its inverse
    else:
        x1, y1, x2, y2 = b.T
        a = np.zeros(len(b)) if angles is None else np.deg2rad(np.reshape(angles, len(b)))
        m, inv = _similarity(x1, y1, x2, y2, out_size, margin, np.cos(a), np.sin(a), np.maximum)
        m, inv = np.stack(m, axis=-1).reshape(-1, 2, 3), np.stack(inv, axis=-1).reshape(-1, 2, 3)
    return (m, inv) if inverse else m


def _similarity(x1, y1, x2, y2, out_size, margin, cos, sin, maximum):
    """The six numbers of the map box -> crop (turned by the angle of `cos`, `sin`) and of its
    inverse, row by row; on floats or on arrays alike (`maximum` fits the kind)."""
    side = maximum(maximum(x2 - x1, y2 - y1) * (1.0 + margin), 1e-3)
    k = out_size / side
    c, s = cos * k, sin * k
    cx, cy, h = (x1 + x2) / 2, (y1 + y2) / 2, (out_size - 1) / 2
    m = (c, s, h - c * cx - s * cy, -s, c, h + s * cx - c * cy)
    ic, is_ = cos / k, sin / k  # the inverse: the turn undone, 1 / k the scale
    inv = (ic, -is_, cx - (ic - is_) * h, is_, ic, cy - (is_ + ic) * h)
    return m, inv


def invert_many(m: np.ndarray) -> np.ndarray:
    """Inverses of affine maps (N, 2, 3), all at once (closed form of the 2x2 part)."""
    m = np.asarray(m, dtype=np.float64)
    a, b, c, d = m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1]
    det = a * d - b * c
    out = np.empty_like(m)
    out[:, 0, 0], out[:, 0, 1] = d / det, -b / det
    out[:, 1, 0], out[:, 1, 1] = -c / det, a / det
    out[:, :, 2] = -np.einsum("nij,nj->ni", out[:, :, :2], m[:, :, 2])
    return out


def warp_many(
    images: list[np.ndarray], owner: np.ndarray, m: np.ndarray, out: np.ndarray
) -> np.ndarray:
    """Crop face j from `images[owner[j]]` with map `m[j]` (image -> crop) into `out[j]`, an
    (N, S, S, C) uint8 buffer, bilinear with black outside, as `warp` does; returns `out`."""
    for j in range(len(m)):
        warp_into(images[owner[j]], m[j], out[j])
    return out


def warp_into(image: np.ndarray, m: np.ndarray, out: np.ndarray) -> np.ndarray:
    """One crop of `image` by the map `m` (2, 3) (image -> crop) into `out` (S, S, C) uint8,
    bilinear with black outside, as `warp` does; returns `out`."""
    import cv2

    return cv2.warpAffine(
        image,
        m,
        (out.shape[1], out.shape[0]),
        dst=out,
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The map that applies b, then a."""
    a3 = np.vstack([a, [0, 0, 1]])
    b3 = np.vstack([b, [0, 0, 1]])
    return (a3 @ b3)[:2]


def invert(m: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine map (image <- crop from image -> crop)."""
    m3 = np.vstack([np.asarray(m, dtype=np.float64), [0, 0, 1]])
    return np.linalg.inv(m3)[:2]


def apply(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 map (or a batch (N, 2, 3) to (N, K, 2)) to points (..., 2)."""
    m = np.asarray(m, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64)
    if m.ndim == 3:
        out = np.einsum("nij,nkj->nki", m[:, :, :2], p) + m[:, None, :, 2]
    else:
        out = p @ m[:, :2].T + m[:, 2]
    return out.astype(np.float32)


def warp(
    image: np.ndarray, m: np.ndarray, out_size: int | tuple[int, int], border_value=0
) -> np.ndarray:
    """Crop/warp an image with map m (image -> output). Outside pixels are `border_value`."""
    import cv2

    w, h = (out_size, out_size) if isinstance(out_size, int) else out_size
    return cv2.warpAffine(
        image,
        np.asarray(m, dtype=np.float64),
        (int(w), int(h)),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=border_value,
    )


def fit_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (scale, rotation, translation) sending src (K, 2) to dst (K, 2),
    as a 2x3 map (Umeyama without reflection)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    var = (a**2).sum()
    if var < 1e-12:
        return np.array([[1.0, 0, md[0] - ms[0]], [0, 1.0, md[1] - ms[1]]])
    cov = b.T @ a / len(src)
    u, d, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    r = u @ sign @ vt
    scale = (d * np.diag(sign)).sum() / (var / len(src))
    m = np.zeros((2, 3))
    m[:, :2] = scale * r
    m[:, 2] = md - m[:, :2] @ ms
    return m
