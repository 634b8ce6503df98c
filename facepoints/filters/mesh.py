"""The canonical dense face and the piecewise-affine warp that lays artwork drawn on it onto a
real face, so an overlay follows roll, yaw and expression instead of one similarity transform.

The canonical face is the 68 iBUG points in the filters' *face units* (eye centres at (-0.5, 0) and
(0.5, 0), y down), ringed by virtual points: a forehead above the brows, a band outside the jaw
and an outer circle. On a real face the 68 points are its own (projected from its scheme); the
forehead and jaw band move with their brow and jaw points, the circle with the face as a whole
(a similarity fitted to all 68), so artwork reaching past the face (a crown, dog's ears) follows
without tearing. A fixed Delaunay triangulation of the canonical points maps each image pixel to
the artwork through its triangle's affine map (one `cv2.remap` per face).

    mesh = face_mesh(face)                  # None when the face has no usable points
    region, rgba = warp_premultiplied(src, art_to_face, mesh, image.shape)
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..geometry import apply, fit_similarity, invert
from ..schemes import IBUG68, get_scheme, project

__all__ = ["CANONICAL68", "FaceMesh", "face_mesh", "generic_mesh", "warp_premultiplied"]

# The median of the 1,207 human-labelled faces of 300-W's training set (HELEN train + AFW), each
# mapped by the similarity that best fits its 5-point projection to `base.TEMPLATE`, then made
# left-right symmetric. Face units: eye centres at (+-0.5, 0), y down. (Made by
# `python benchmarks/filters_canonical.py`.)
CANONICAL68 = np.array(
    [
        [-1.124, 0.074], [-1.102, 0.364], [-1.064, 0.652], [-1.011, 0.934], [-0.901, 1.198],
        [-0.729, 1.438], [-0.506, 1.628], [-0.266, 1.777], [0.0, 1.821], [0.266, 1.777],
        [0.506, 1.628], [0.729, 1.438], [0.901, 1.198], [1.011, 0.934], [1.064, 0.652],
        [1.102, 0.364], [1.124, 0.074],
        [-0.933, -0.155], [-0.787, -0.286], [-0.583, -0.329], [-0.378, -0.304], [-0.183, -0.231],
        [0.183, -0.231], [0.378, -0.304], [0.583, -0.329], [0.787, -0.286], [0.933, -0.155],
        [0.0, 0.001], [0.0, 0.187], [0.0, 0.377], [0.0, 0.572],
        [-0.234, 0.713], [-0.12, 0.751], [0.0, 0.782], [0.12, 0.751], [0.234, 0.713],
        [-0.699, 0.036], [-0.571, -0.035], [-0.423, -0.033], [-0.291, 0.065], [-0.431, 0.088],
        [-0.579, 0.085],
        [0.291, 0.065], [0.423, -0.033], [0.571, -0.035], [0.699, 0.036], [0.579, 0.085],
        [0.431, 0.088],
        [-0.433, 1.071], [-0.272, 0.999], [-0.112, 0.964], [0.0, 0.992], [0.112, 0.964],
        [0.272, 0.999], [0.433, 1.071], [0.276, 1.215], [0.12, 1.279], [0.0, 1.291],
        [-0.12, 1.279], [-0.276, 1.215],
        [-0.364, 1.076], [-0.113, 1.059], [0.0, 1.07], [0.113, 1.059], [0.364, 1.076],
        [0.115, 1.126], [0.0, 1.138], [-0.115, 1.126],
    ],
    dtype=np.float64,
)  # fmt: skip

_JAW = list(range(0, 17))
_BROWS = list(range(17, 27))
_CORE = list(range(17, 68))  # brows, nose, eyes, mouth: what the global fit and the far ring use
_FOREHEAD_RISE = (0.45, 1.0)  # two rows above the brows, in face units
_JAW_OUT = 0.35  # the band outside the jaw line, face units
_RING_CENTER = (0.0, 0.2)
_RING_RADII = (2.4, 4.2)
_RING_POINTS = 20


@dataclass(frozen=True)
class FaceMesh:
    """One face's mesh: `points` (N, 2) float64 image pixels, matching `canonical_points()`,
    `confidence` (N,) in [0, 1] (virtual points take their parent's, the circles the face's
    core), and `scale` (image pixels per face unit)."""

    points: np.ndarray
    confidence: np.ndarray | None
    scale: float


def canonical_points() -> np.ndarray:
    """(N, 2) face units: the 68 canonical points, then the virtual ones (forehead rows, jaw band,
    two circles)."""
    return _canonical()[0]


def face_mesh(face: Any) -> FaceMesh | None:
    """The mesh of a face whose scheme reaches the 68 iBUG points (68 or 98 points); None for a
    sparser scheme (use `generic_mesh`) or points that are not finite."""
    scheme = getattr(face, "scheme", None)
    pts = np.asarray(getattr(face, "landmarks", face), dtype=np.float64)
    scheme = get_scheme(scheme if scheme is not None else len(pts))
    try:
        dense = pts if scheme.name == IBUG68.name else project(pts, scheme, IBUG68)
    except ConfigError:
        return None
    dense = np.asarray(dense, dtype=np.float64)
    if not np.isfinite(dense).all():
        return None
    conf = getattr(face, "confidence", None)
    c68 = None
    if conf is not None:
        c = np.asarray(conf, dtype=np.float64).reshape(-1)
        c68 = c if scheme.name == IBUG68.name else _project_conf(c, scheme)
    return _build(dense, c68)


def generic_mesh(m: np.ndarray, confidence: float | None = None) -> FaceMesh:
    """The canonical face placed by one map `m` (2x3, face units -> image): the mesh of a face
    known by its 5 points only (the warp is then that map)."""
    pts = apply(m, canonical_points())
    scale = math.sqrt(abs(np.linalg.det(np.asarray(m)[:, :2])))
    conf = None if confidence is None else np.full(len(pts), float(confidence))
    return FaceMesh(points=pts, confidence=conf, scale=scale)


def warp_premultiplied(
    src: np.ndarray,
    art_to_face: np.ndarray,
    mesh: FaceMesh,
    shape: tuple[int, ...],
    fade: tuple[float, float] | None = None,
) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """`src` (h, w, 4) float32 premultiplied artwork, whose pixels map to face units by
    `art_to_face` (2x3), warped through `mesh` into an image of `shape`: (the region (rows,
    cols) it covers, (rh, rw, 4) float32 premultiplied). With `fade` (lo, hi) and mesh
    confidences, the artwork fades out where the points under it are less sure than hi,
    gone below lo. None when nothing lands inside the image."""
    import cv2

    canon, tris = _canonical()
    img = mesh.points
    hh, ww = shape[:2]
    # only where the artwork can land: its corners through the outer map, with room for bending
    h, w = src.shape[:2]
    corners = apply(art_to_face, np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64))
    outer = fit_similarity(canon, img)
    c_img = apply(outer, corners)
    pad = 0.35 * mesh.scale
    x0 = max(int(math.floor(c_img[:, 0].min() - pad)), 0)
    y0 = max(int(math.floor(c_img[:, 1].min() - pad)), 0)
    x1 = min(int(math.ceil(c_img[:, 0].max() + pad)) + 1, ww)
    y1 = min(int(math.ceil(c_img[:, 1].max() + pad)) + 1, hh)
    if x1 <= x0 or y1 <= y0 or not np.isfinite(img).all():
        return None
    local = img - (x0, y0)
    index = np.full((y1 - y0, x1 - x0), -1, np.int32)
    tri_img = local[tris]  # (T, 3, 2)
    area = _signed_area(tri_img)
    folded = area * _signed_area(canon[tris]) <= 0  # turned over (a face seen from the side)
    fixed = np.round(tri_img * 16).astype(np.int32)
    for t in np.concatenate([np.flatnonzero(folded), np.flatnonzero(~folded)]):
        cv2.fillConvexPoly(index, fixed[t], int(t), cv2.LINE_8, 4)
    inside = index >= 0
    if not inside.any():
        return None
    # each triangle's map image -> artwork pixels
    to_art = np.vstack([invert(art_to_face), [0, 0, 1]])
    maps = np.einsum("ij,tjk->tik", to_art, _h(_affines(tri_img, canon[tris])))[:, :2]
    ys, xs = np.nonzero(inside)
    m = maps[index[ys, xs]]
    mapx = np.full(index.shape, -1e4, np.float32)
    mapy = np.full(index.shape, -1e4, np.float32)
    mapx[ys, xs] = m[:, 0, 0] * xs + m[:, 0, 1] * ys + m[:, 0, 2]
    mapy[ys, xs] = m[:, 1, 0] * xs + m[:, 1, 1] * ys + m[:, 1, 2]
    out = cv2.remap(
        src, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    if fade is not None and mesh.confidence is not None:
        lo, hi = fade
        tri_conf = mesh.confidence[tris].mean(axis=1).astype(np.float32)
        conf = np.where(inside, tri_conf[np.maximum(index, 0)], 1.0).astype(np.float32)
        conf = cv2.GaussianBlur(conf, (0, 0), max(0.15 * mesh.scale, 0.5))
        out *= np.clip((conf - lo) / max(hi - lo, 1e-6), 0.0, 1.0)[..., None]
    return (slice(y0, y1), slice(x0, x1)), out


# --- helpers -------------------------------------------------------------------------------------


def _build(dense: np.ndarray, c68: np.ndarray | None) -> FaceMesh:
    """The mesh from a face's 68 image points (and their confidences)."""
    canon = CANONICAL68
    global_map = fit_similarity(canon[_CORE], dense[_CORE])
    lin = global_map[:, :2]
    scale = math.sqrt(abs(np.linalg.det(lin)))
    parts = [dense]
    for rise in _FOREHEAD_RISE:
        parts.append(dense[_BROWS] + (lin @ np.array([0.0, -rise])))
    parts.append(dense[_JAW] + (_jaw_normals(canon) * _JAW_OUT) @ lin.T)
    parts.append(apply(global_map, _rings()))
    points = np.concatenate(parts)
    conf = None
    if c68 is not None:
        core = float(np.mean(c68[_CORE])) if len(c68) else 1.0
        conf = np.concatenate(
            [
                c68,
                np.tile(c68[_BROWS], len(_FOREHEAD_RISE)),
                c68[_JAW],
                np.full(len(_rings()), core),
            ]
        )
        conf = np.where(np.isfinite(conf), np.clip(conf, 0, 1), 0.0)
    return FaceMesh(points=points, confidence=conf, scale=scale)


@functools.cache
def _rings() -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, _RING_POINTS, endpoint=False)
    return np.concatenate(
        [np.stack([r * np.cos(t), r * np.sin(t)], -1) + _RING_CENTER for r in _RING_RADII]
    )


def _jaw_normals(canon: np.ndarray) -> np.ndarray:
    """Unit normals pointing out of the face at each jaw point (canonical)."""
    jaw = canon[_JAW]
    tangent = np.gradient(jaw, axis=0)
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], -1)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    centre = canon[_CORE].mean(0)
    flip = np.sum(normal * (jaw - centre), axis=1) < 0
    normal[flip] *= -1
    return normal


@functools.cache
def _canonical() -> tuple[np.ndarray, np.ndarray]:
    """(canonical points (N, 2), triangles (T, 3) int) of the full mesh, triangulated once."""
    import cv2

    canon = CANONICAL68
    lin = np.eye(2)
    parts = [canon]
    for rise in _FOREHEAD_RISE:
        parts.append(canon[_BROWS] + lin @ np.array([0.0, -rise]))
    parts.append(canon[_JAW] + _jaw_normals(canon) * _JAW_OUT)
    parts.append(_rings())
    pts = np.concatenate(parts)
    lo, hi = pts.min(0) - 1, pts.max(0) + 1
    subdiv = cv2.Subdiv2D(
        (int(lo[0]) - 1, int(lo[1]) - 1, int(hi[0] - lo[0]) + 3, int(hi[1] - lo[1]) + 3)
    )
    for p in pts:
        subdiv.insert((float(p[0]), float(p[1])))
    tris = []
    for t in subdiv.getTriangleList().reshape(-1, 3, 2):
        idx = [int(np.argmin(np.linalg.norm(pts - v, axis=1))) for v in t]
        if len(set(idx)) == 3 and all(
            np.linalg.norm(pts[i] - v) < 1e-4 for i, v in zip(idx, t, strict=True)
        ):
            tris.append(idx)
    return pts, np.array(tris, dtype=np.int64)


def _project_conf(c: np.ndarray, scheme) -> np.ndarray:
    from ..schemes import projection_matrix

    return projection_matrix(scheme, IBUG68) @ c


def _signed_area(tri: np.ndarray) -> np.ndarray:
    a, b, c = tri[..., 0, :], tri[..., 1, :], tri[..., 2, :]
    return (b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (
        c[..., 0] - a[..., 0]
    )


def _affines(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(T, 2, 3): the map sending each triangle src (T, 3, 2) to dst (T, 3, 2); a degenerate
    one (no area) maps to far outside the artwork, so it draws nothing."""
    a = np.concatenate([src, np.ones((len(src), 3, 1))], axis=2)
    bad = np.abs(np.linalg.det(a)) < 1e-9
    a[bad] = np.eye(3)
    maps = np.linalg.solve(a, dst).transpose(0, 2, 1)
    maps[bad] = [[0.0, 0.0, -1e4], [0.0, 0.0, -1e4]]
    return maps


def _h(maps: np.ndarray) -> np.ndarray:
    """(T, 2, 3) -> (T, 3, 3) homogeneous."""
    last = np.broadcast_to(np.array([0.0, 0.0, 1.0]), (len(maps), 1, 3))
    return np.concatenate([maps, last], axis=1)
