"""Drawing landmarks, boxes, comparisons and image grids on RGB uint8 arrays (anti-aliased cv2).

Every function returns a new array and leaves its input alone. Colours are RGB triples. Points are
(K, 2) in image pixels, x then y, pixel centres at integer coordinates; non-finite points are
skipped. Sizes (dot radius, line width, box edge) follow the face and the image by default, so a
drawing reads on a 250-pixel photo and a 4,000-pixel one alike (`mark_radius`, `line_width`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from .errors import ConfigError
from .schemes import Scheme, get_scheme

__all__ = [
    "GREEN",
    "RED",
    "DEFAULT_MIN_CONFIDENCE",
    "draw_landmarks",
    "face_size",
    "mark_radius",
    "line_width",
    "draw_box",
    "group_colors",
    "scheme_polylines",
    "make_grid",
    "compare_image",
]

GREEN = (0, 255, 0)  # predictions
RED = (255, 0, 0)  # ground truth
# points less sure than this are drawn hollow: under even odds of being within 0.10 of the
# normalising distance (`facepoints.models.confidence`)
DEFAULT_MIN_CONFIDENCE = 0.5
_SHIFT = 4  # cv2 fixed-point bits: sub-pixel positions at 1/16 px
_ONE = 1 << _SHIFT

# distinct, readable colours (Okabe-Ito and tab10 blends), one per landmark group
_PALETTE = (
    (230, 159, 0),
    (86, 180, 233),
    (0, 158, 115),
    (240, 228, 66),
    (0, 114, 178),
    (213, 94, 0),
    (204, 121, 167),
    (148, 103, 189),
    (140, 86, 75),
    (23, 190, 207),
)
_OTHER = (160, 160, 160)
_OUTLINE = (16, 16, 16)  # a dark rim keeps light dots visible on light skin and backgrounds
# a face's side in units of its points' extent: 5 sparse points span about half the face box,
# a dense scheme's contour spans the face
_SPARSE_MAX = 20
_FACE_PER_EXTENT_SPARSE = 2.0

Color = tuple[int, int, int]


def draw_landmarks(
    image: np.ndarray,
    points: np.ndarray,
    color: Color | np.ndarray = GREEN,
    radius: float | None = None,
    scheme: Scheme | str | int | None = None,
    numbers: bool = False,
    connect: bool = False,
    confidence: np.ndarray | None = None,
    min_confidence: float | None = None,
    outline: bool = True,
) -> np.ndarray:
    """Filled dots at `points` (K, 2). `color` is one RGB triple or (K, 3) colours (see
    `group_colors`); `radius` defaults to one that suits the face and image size. With a scheme,
    connect=True also draws its contour, brows, eyes, nose and mouth lines; numbers=True writes
    each point's index beside it. With `confidence` (K,) and `min_confidence`, points whose
    confidence is below it are drawn as hollow rings, and lines only join sure points. Filled
    dots get a thin dark rim (outline=False: none)."""
    import cv2

    out = _rgb_copy(image)
    pts = _as_points(points)
    colors = _per_point_colors(color, len(pts))
    if radius is None:
        r = mark_radius(out.shape, face_size(pts), len(pts))
    else:
        r = max(float(radius), 0.5)
    unsure = _unsure(confidence, min_confidence, len(pts))
    if connect and scheme is not None:
        thickness = line_width(r)
        for idx, closed in scheme_polylines(get_scheme(scheme)):
            seg = pts[list(idx)]
            if len(seg) < 2 or not np.isfinite(seg).all() or unsure[list(idx)].any():
                continue
            c = tuple(int(v) for v in colors[idx[0]])
            poly = [np.round(seg * _ONE).astype(np.int32)]
            cv2.polylines(out, poly, closed, c, thickness, cv2.LINE_AA, _SHIFT)
    ring = max(1, round(r / 2.5))
    rim = max(0.6, r / 4) if outline else 0.0
    for (x, y), c, hollow in zip(pts, colors, unsure, strict=True):
        if np.isfinite(x) and np.isfinite(y):
            centre = (int(round(x * _ONE)), int(round(y * _ONE)))
            if rim and not hollow:
                cv2.circle(
                    out, centre, int(round((r + rim) * _ONE)), _OUTLINE, -1, cv2.LINE_AA, _SHIFT
                )
            cv2.circle(
                out,
                centre,
                int(round(r * _ONE)),
                tuple(int(v) for v in c),
                ring if hollow else -1,
                cv2.LINE_AA,
                _SHIFT,
            )
    if numbers:
        scale = float(np.clip(r / 5, 0.3, 1.2))
        for i, ((x, y), c) in enumerate(zip(pts, colors, strict=True)):
            if np.isfinite(x) and np.isfinite(y):
                org = (int(round(x + r + 1)), int(round(y - r - 1)))
                _text(out, str(i), org, scale, tuple(int(v) for v in c))
    return out


def draw_box(
    image: np.ndarray,
    box: Sequence[float] | np.ndarray,
    color: Color = GREEN,
    thickness: int | None = None,
) -> np.ndarray:
    """A rectangle x1, y1, x2, y2; thickness defaults to one that suits the box and the image
    (about 1/150 of the box side, at least 1/800 of the image's long side so that it shows when
    the image is viewed scaled down, at most 1/20 of the box side)."""
    import cv2

    out = _rgb_copy(image)
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.size != 4:
        raise ConfigError(f"a box is 4 numbers x1, y1, x2, y2; got {b.size}")
    if not np.isfinite(b).all():
        return out
    if thickness is None:
        side = float(min(b[2] - b[0], b[3] - b[1]))
        t = max(side / 150, max(out.shape[:2]) / 800)
        t = max(1, round(min(t, side / 20)))
    else:
        t = max(1, int(thickness))
    # edges are axis-aligned: whole pixels without anti-aliasing stay crisp (AA only blurs them)
    p1 = (int(round(b[0])), int(round(b[1])))
    p2 = (int(round(b[2])), int(round(b[3])))
    cv2.rectangle(out, p1, p2, tuple(int(v) for v in color), t, cv2.LINE_8)
    return out


def face_size(points: np.ndarray) -> float:
    """The side of the face that `points` (K, 2) mark, in pixels, from their extent (5 sparse
    points span about half a face, a dense scheme's contour all of it); NaN without two finite
    points."""
    pts = _as_points(points)
    finite = pts[np.isfinite(pts).all(axis=1)]
    if len(finite) < 2:
        return float("nan")
    extent = float(np.ptp(finite, axis=0).max())
    return extent * (_FACE_PER_EXTENT_SPARSE if len(pts) <= _SPARSE_MAX else 1.0)


def mark_radius(image_shape: Sequence[int], face: float, num_points: int) -> float:
    """Dot radius in pixels for `num_points` landmarks on a face `face` pixels wide in an image of
    `image_shape` (H, W, ...): about 1/35 of the face for sparse schemes and 1/110 for dense
    ones (whose points sit close), at least 1/300 of the image's long side (so that the dots show
    when the image is viewed scaled down) unless that would swamp a small face, and at least
    1.2 pixels."""
    long_side = float(max(image_shape[:2]))
    if not (face > 0 and math.isfinite(face)):
        face = min(image_shape[:2]) / 3
    sparse = num_points <= _SPARSE_MAX
    base = face / (35 if sparse else 110)
    cap = face / (12 if sparse else 35)
    r = min(max(base, long_side / 300), max(base, cap))
    return float(max(r, 1.2))


def line_width(radius: float) -> int:
    """Width in whole pixels of the lines joining points drawn with dots of `radius`."""
    return max(1, round(radius / 2.2))


def group_colors(scheme: Scheme | str | int) -> np.ndarray:
    """(K, 3) uint8 RGB: one distinct colour per landmark group of the scheme, grey for points
    in no group."""
    s = get_scheme(scheme)
    names = list(s.groups)
    out = np.empty((s.num_points, 3), dtype=np.uint8)
    for i, g in enumerate(s.group_of()):
        out[i] = _PALETTE[names.index(g) % len(_PALETTE)] if g in names else _OTHER
    return out


def scheme_polylines(scheme: Scheme | str | int) -> list[tuple[tuple[int, ...], bool]]:
    """The lines that draw a scheme's face: runs of consecutive points whose names share a stem
    ("eye_left_0".."eye_left_7" -> "eye_left"), each with whether it is closed. Eyes, mouths and
    outlined brows (WFLW's 9-point brows) close; contours, 5-point brows and noses stay open.
    Single points (CUHK's 5, WFLW's pupils) make no line."""
    s = get_scheme(scheme)
    runs: list[tuple[str, list[int]]] = []
    for i, name in enumerate(s.names):
        stem = re.sub(r"_\d+$", "", name)
        if runs and runs[-1][0] == stem:
            runs[-1][1].append(i)
        else:
            runs.append((stem, [i]))
    out = []
    for stem, idx in runs:
        if len(idx) < 2:
            continue
        closed = stem.startswith(("eye", "mouth")) or (stem.startswith("brow") and len(idx) > 5)
        out.append((tuple(idx), closed))
    return out


def make_grid(
    images: Sequence[np.ndarray],
    cols: int | None = None,
    captions: Sequence[str] | None = None,
    cell: int | tuple[int, int] | None = None,
    background: Color = (32, 32, 32),
) -> np.ndarray:
    """Tile images in rows of `cols` (default: a near-square grid). Each is scaled to fit a
    common cell (w, h) keeping its aspect ratio: `cell` as an int (square) or (w, h), default the
    images' size when all agree, else 256 x 256. With captions, each cell gets a text strip below.
    Result: (rows * (h + strip), cols * w, 3) uint8, strip = 0 without captions."""
    import cv2

    if len(images) == 0:
        raise ConfigError("make_grid needs at least one image")
    if captions is not None and len(captions) != len(images):
        raise ConfigError(f"{len(captions)} captions for {len(images)} images")
    imgs = [_rgb_copy(im) for im in images]
    n = len(imgs)
    cols = max(1, min(int(cols), n)) if cols else math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    if cell is None:
        sizes = {im.shape[:2] for im in imgs}
        cw, ch = (imgs[0].shape[1], imgs[0].shape[0]) if len(sizes) == 1 else (256, 256)
    elif isinstance(cell, int):
        cw = ch = cell
    else:
        cw, ch = int(cell[0]), int(cell[1])
    strip = max(14, round(cw / 12)) if captions is not None else 0
    grid = np.empty((rows * (ch + strip), cols * cw, 3), dtype=np.uint8)
    grid[:] = background
    for i, im in enumerate(imgs):
        r, c = divmod(i, cols)
        y0, x0 = r * (ch + strip), c * cw
        h, w = im.shape[:2]
        k = min(cw / w, ch / h)
        nw, nh = max(1, round(w * k)), max(1, round(h * k))
        if (nw, nh) != (w, h):
            interp = cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
            im = cv2.resize(im, (nw, nh), interpolation=interp)
        oy, ox = y0 + (ch - nh) // 2, x0 + (cw - nw) // 2
        grid[oy : oy + nh, ox : ox + nw] = im
        if captions is not None:
            _caption(grid, str(captions[i]), x0, y0 + ch, cw, strip)
    return grid


def compare_image(
    image: np.ndarray,
    pred: np.ndarray,
    gt: np.ndarray,
    box: Sequence[float] | np.ndarray | None = None,
    lines: bool = True,
    radius: float | None = None,
) -> np.ndarray:
    """Prediction in GREEN and ground truth in RED on one image, with thin yellow lines from each
    ground-truth point to its prediction (lines=True) and the face box in white when given."""
    import cv2

    out = _rgb_copy(image)
    p, g = _as_points(pred), _as_points(gt)
    if p.shape != g.shape:
        raise ConfigError(f"prediction {p.shape} and ground truth {g.shape} differ in shape")
    if box is not None:
        out = draw_box(out, box, (255, 255, 255))
    r = mark_radius(out.shape, face_size(g), len(g)) if radius is None else radius
    if lines:
        for a, b in zip(g, p, strict=True):
            if np.isfinite(a).all() and np.isfinite(b).all():
                pa = tuple(int(v) for v in np.round(a * _ONE))
                pb = tuple(int(v) for v in np.round(b * _ONE))
                cv2.line(out, pa, pb, (255, 255, 0), 1, cv2.LINE_AA, _SHIFT)
    out = draw_landmarks(out, g, RED, r)
    return draw_landmarks(out, p, GREEN, r)


# --- helpers -------------------------------------------------------------------------------------


def _rgb_copy(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise ConfigError(f"drawing needs a uint8 image, got {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[..., :3]
    elif a.ndim != 3 or a.shape[2] != 3:
        raise ConfigError(f"drawing needs an (H, W, 3) RGB image, got shape {a.shape}")
    return np.ascontiguousarray(a).copy()


def _as_points(points: np.ndarray) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ConfigError(f"points must be (K, 2), got shape {p.shape}")
    return p


def _per_point_colors(color, k: int) -> np.ndarray:
    c = np.asarray(color)
    if c.shape == (3,):
        return np.tile(c, (k, 1))
    if c.shape == (k, 3):
        return c
    raise ConfigError(f"color must be one RGB triple or ({k}, 3) colours, got shape {c.shape}")


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float, color: Color) -> None:
    import cv2

    font = cv2.FONT_HERSHEY_SIMPLEX
    t = max(1, round(scale * 1.5))
    cv2.putText(img, text, org, font, scale, (0, 0, 0), t + 1, cv2.LINE_AA)  # dark outline
    cv2.putText(img, text, org, font, scale, color, t, cv2.LINE_AA)


def _caption(grid: np.ndarray, text: str, x0: int, y0: int, w: int, h: int) -> None:
    import cv2

    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = h / 30
    while text:
        (tw, th), _ = cv2.getTextSize(text, font, scale, 1)
        if tw <= w - 4:
            break
        text = text[:-2] + "~" if len(text) > 2 else ""
    cv2.putText(
        grid, text, (x0 + 2, y0 + (h + th) // 2), font, scale, (235, 235, 235), 1, cv2.LINE_AA
    )


def _unsure(confidence, min_confidence: float | None, k: int) -> np.ndarray:
    """(K,) bool: the points to draw hollow."""
    if confidence is None or min_confidence is None:
        return np.zeros(k, dtype=bool)
    c = np.asarray(confidence, dtype=np.float64).reshape(-1)
    if c.size != k:
        raise ConfigError(f"{c.size} confidences for {k} points")
    return ~(c >= float(min_confidence))  # NaN counts as unsure
