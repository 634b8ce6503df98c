"""What every face filter shares: the `Filter` base and its registry, `apply_filters`, and the
placement of code-drawn artwork on a face.

Artwork is drawn in *face units*: the origin midway between the eyes, the inter-ocular distance 1,
x to the image's right, y down. Each face's landmarks are projected to the 5 CUHK points and a
similarity transform (scale, rotation, translation) fitted from the filter's anchor points of
`TEMPLATE` to them; the RGBA artwork is warped by it and alpha-blended, clipped at the border.

    from facepoints.filters import apply_filters
    out = apply_filters(rgb, faces, ["sunglasses", "moustache"])   # faces: list of Face

With `min_confidence`, a filter is skipped on a face whose anchor points (the points that place
it) are less sure than that (`anchor_confidence`), or with `unsure="fade"` an overlay is drawn
faded there, so a filter does not sit confidently on a point the model could not see.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..geometry import apply, compose, fit_similarity
from ..registry import Registry
from ..schemes import get_scheme, project, projection_matrix
from .face_score import DEFAULT_MIN_FACE_SCORE, filterable

__all__ = [
    "FILTERS",
    "TEMPLATE",
    "Filter",
    "Overlay",
    "Artwork",
    "Canvas",
    "apply_filters",
    "anchor_confidence",
    "UNSURE_MODES",
    "FADED_OPACITY",
    "get_filter",
    "list_filters",
    "parse_filter_names",
    "face_points5",
    "face_matrix",
    "blend",
    "bezier",
    "mirror",
    "ellipse_points",
    "light_gain",
    "PLACEMENTS",
    "FILTER_MODEL",
    "UNSURE_FADE",
]

FILTERS: Registry[type[Filter]] = Registry("filter")

# The 5 CUHK points of a typical face in face units (median over the 10,000 CUHK training faces,
# each aligned by its eyes): image-left eye, right eye, nose tip, left and right mouth corner.
TEMPLATE = np.array(
    [[-0.5, 0.0], [0.5, 0.0], [0.0, 0.61], [-0.43, 1.08], [0.43, 1.08]], dtype=np.float64
)
EYES = (0, 1)
NOSE = 2
MOUTH = (3, 4)

_UNITS = (32, 64, 128, 256, 512)  # artwork is drawn at the first of these >= the face's size
UNSURE_MODES = ("skip", "fade")  # what happens to a filter on a face whose anchors are unsure
FADED_OPACITY = 0.35  # an overlay on unsure anchors, with unsure="fade"
PLACEMENTS = ("mesh", "similarity")
# The landmark model filters use unless told otherwise: a dense one, so artwork follows the face.
FILTER_MODEL = "dense68"
# Artwork over points whose mean confidence is below the first fades out, gone below the second
# (calibrated confidences: the chance that a point is within 10% of the eye distance).
UNSURE_FADE = (0.12, 0.35)
_LIT_FACE = 0.45  # the mean luminance (0..1) of a face for which artwork keeps its colours


class Filter:
    """A face filter: `apply(image_rgb, faces) -> image_rgb`, a new (H, W, 3) uint8 array (the
    input is not modified). `reframes`: the output is another view (e.g. an aligned crop), so it
    runs after the filters that draw on the photo."""

    name: str = ""
    description: str = ""
    reframes: bool = False

    def apply(self, image: np.ndarray, faces: Sequence[Any]) -> np.ndarray:
        raise NotImplementedError


def list_filters() -> list[str]:
    """The registered filter names, sorted."""
    _load_all()
    return FILTERS.names()


def get_filter(name: str) -> Filter:
    """The filter called `name` (one shared instance, so its artwork is drawn once)."""
    _load_all()
    return _instance(FILTERS.get(str(name).strip()))


def parse_filter_names(spec: str | Sequence[str] | None) -> list[str]:
    """Filter names from "a,b" or ["a", "b,c"], checked against the registry (ConfigError names
    the unknown one and lists the known). Duplicates are dropped, order kept."""
    if spec is None:
        return []
    parts = [spec] if isinstance(spec, str) else list(spec)
    names: list[str] = []
    for part in parts:
        if str(part).strip() and not all(n.strip() for n in str(part).split(",")):
            raise ConfigError(f"empty filter name in {str(part)!r}; give NAME[,NAME...]")
        for n in str(part).split(","):
            n = n.strip()
            if n and n not in names:
                get_filter(n)  # raises for an unknown name
                names.append(n)
    return names


def apply_filters(
    image: np.ndarray,
    faces: Sequence[Any],
    names: str | Sequence[str] | None,
    min_confidence: float | None = None,
    unsure: str = "skip",
    min_face_score: float | str | None = DEFAULT_MIN_FACE_SCORE,
    detector: str | None = None,
) -> np.ndarray:
    """`image` (H, W, 3) uint8 RGB with the filters `names` applied in order to every face in
    `faces` (anything with `landmarks` (K, 2) image pixels and `scheme`) whose `face_score`
    (by the calibration of `detector`, the registry name of the detector that found them; None:
    the default detector) reaches `min_face_score` ("auto": the detector's threshold, chosen on
    labelled crowd photos so that hands, ears and backs of heads get none; None: every face).
    Reframing filters (align) run last. Returns a new array; the input is left as it is.

    min_confidence: a face whose `anchor_confidence` for a filter is below it is unsure for that
    filter (None: every face is sure). unsure: "skip" leaves the filter off unsure faces; "fade"
    draws an overlay there at FADED_OPACITY (filters that are not overlays skip them)."""
    a = np.asarray(image)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ConfigError(f"expected an (H, W, 3) uint8 image, got {a.dtype} {a.shape}")
    if unsure not in UNSURE_MODES:
        raise ConfigError(f"unsure must be one of {', '.join(UNSURE_MODES)}, not {unsure!r}")
    if min_confidence is not None and not (0 <= float(min_confidence) <= 1):
        raise ConfigError(f"min_confidence must be in [0, 1], got {min_confidence!r}")
    if min_face_score not in (None, "auto") and not (0 <= float(min_face_score) <= 1):
        raise ConfigError(f"min_face_score must be in [0, 1], got {min_face_score!r}")
    out = np.ascontiguousarray(a[..., :3]).copy()
    filters = [get_filter(n) for n in parse_filter_names(names)]
    faces = filterable(faces, min_face_score, detector)
    for f in sorted(filters, key=lambda f: f.reframes):  # stable: drawing order kept
        if min_confidence is None:
            out = f.apply(out, faces)
            continue
        anchors = getattr(f, "anchors", None)
        sure = [x for x in faces if anchor_confidence(x, anchors) >= min_confidence]
        doubtful = [x for x in faces if not anchor_confidence(x, anchors) >= min_confidence]
        out = f.apply(out, sure)
        if doubtful and unsure == "fade" and isinstance(f, Overlay):
            out = f.apply(out, doubtful, opacity=FADED_OPACITY)
    return out


def anchor_confidence(face: Any, anchors: Sequence[int] | None = None) -> float:
    """How sure the points that place a filter are: the least confidence among `anchors`
    (indices into the 5 CUHK points; None: all five), each projected from the face's scheme
    (a projected point has the mean confidence of the points it averages). 1.0 for a face
    without confidences."""
    conf = getattr(face, "confidence", None)
    if conf is None:
        return 1.0
    c = np.asarray(conf, dtype=np.float64).reshape(-1)
    scheme = getattr(face, "scheme", None) or get_scheme(len(c))
    c5 = projection_matrix(scheme, "cuhk5") @ c
    idx = list(range(len(c5))) if anchors is None else list(anchors)
    value = float(np.min(c5[idx]))
    return value if math.isfinite(value) else 0.0


def face_points5(face: Any) -> np.ndarray | None:
    """The face's landmarks as the 5 CUHK points (5, 2) float64 image pixels, projected from
    its scheme; None when they are not finite or the eyes coincide."""
    scheme = getattr(face, "scheme", None)
    pts = np.asarray(getattr(face, "landmarks", face), dtype=np.float64)
    if scheme is None:
        scheme = get_scheme(len(pts))
    p = project(pts, scheme, "cuhk5").astype(np.float64)
    if not np.isfinite(p).all() or np.linalg.norm(p[1] - p[0]) < 1e-3:
        return None
    return p


def face_matrix(points5: np.ndarray, anchors: Sequence[int] = (0, 1, 3, 4)) -> np.ndarray:
    """2x3 map face units -> image pixels, fitted from TEMPLATE[anchors] to points5[anchors]."""
    idx = list(anchors)
    return fit_similarity(TEMPLATE[idx], np.asarray(points5, dtype=np.float64)[idx])


@dataclass(frozen=True, eq=False)
class Artwork:
    """An RGBA drawing (H, W, 4) uint8, straight alpha, whose pixel `origin` (x, y) is the face
    units' origin and `unit` pixels make one face unit."""

    rgba: np.ndarray
    origin: tuple[float, float]
    unit: float

    @functools.cached_property
    def premultiplied(self) -> np.ndarray:
        """(H, W, 4) float32 0..1, colour multiplied by alpha: what `blend` warps."""
        return _premultiply(self.rgba)

    def to_face(self) -> np.ndarray:
        """2x3 map artwork pixels -> face units."""
        s = 1.0 / self.unit
        return np.array([[s, 0, -self.origin[0] * s], [0, s, -self.origin[1] * s]])


class Overlay(Filter):
    """A filter that draws artwork on each face. Subclasses set `anchors` (indices into the 5
    CUHK points the placement is fitted to) and `extent` (x0, y0, x1, y1 in face units), and
    implement `draw(canvas)`."""

    anchors: tuple[int, ...] = (0, 1, 3, 4)
    extent: tuple[float, float, float, float] = (-1.0, -1.0, 1.0, 1.0)

    def draw(self, c: Canvas) -> None:
        raise NotImplementedError

    def artwork(self, unit: int) -> Artwork:
        """The artwork drawn at `unit` pixels per face unit (cached per unit)."""
        cache = self.__dict__.setdefault("_art", {})
        if unit not in cache:
            canvas = Canvas(unit, self.extent)
            self.draw(canvas)
            cache[unit] = canvas.artwork()
        return cache[unit]

    def apply(
        self,
        image: np.ndarray,
        faces: Sequence[Any],
        opacity: float = 1.0,
        placement: str = "mesh",
    ) -> np.ndarray:
        """The artwork on every face, at `opacity` (1: as drawn; less fades it). placement
        "mesh" (the default): warped piecewise onto the face's dense points (68 or 98; a face
        with 5 points gets the generic face placed by `anchors`), lit like the face, faded over
        unsure points; "similarity": the older single similarity from the 5-point projection."""
        if placement not in PLACEMENTS:
            raise ConfigError(f"placement must be one of {', '.join(PLACEMENTS)}")
        from .mesh import face_mesh, generic_mesh, warp_premultiplied

        out = np.ascontiguousarray(image, dtype=np.uint8).copy()
        for face in faces:
            mesh = face_mesh(face) if placement == "mesh" else None
            m = None
            if mesh is None:
                p5 = face_points5(face)
                if p5 is None:
                    continue
                m = face_matrix(p5, self.anchors)  # face units -> image
                mesh = generic_mesh(m)
            if not (math.isfinite(mesh.scale) and mesh.scale > 0.5):
                continue  # a face under a pixel across: nothing to draw
            art = self.artwork(_unit_for(mesh.scale))
            src = art.premultiplied if opacity >= 1 else art.premultiplied * np.float32(opacity)
            if placement == "similarity":
                _composite(out, src, compose(m, art.to_face()))
                continue
            src = src * np.append(light_gain(out, mesh.points[:68]), 1.0).astype(np.float32)
            warped = warp_premultiplied(src, art.to_face(), mesh, out.shape, fade=UNSURE_FADE)
            if warped is not None:
                _over(out, *warped)
        return out


def light_gain(image: np.ndarray, points68: np.ndarray) -> np.ndarray:
    """(3,) float32 colour gains that make artwork sit in the face's light: the brightness and
    colour cast of the face (inside its 68 points' outline) against a neutral, well-lit face,
    bounded so artwork never disappears or glows."""
    import cv2

    pts = np.asarray(points68, np.float64)
    h, w = image.shape[:2]
    outline = np.concatenate([pts[:17], pts[17:27][::-1]]) if len(pts) >= 27 else pts
    x0, y0 = np.clip(np.floor(outline.min(0)).astype(int), 0, [w, h])
    x1, y1 = np.clip(np.ceil(outline.max(0)).astype(int) + 1, 0, [w, h])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.ones(3, np.float32)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [np.round(outline - (x0, y0)).astype(np.int32)], 1)
    if mask.sum() < 4:
        return np.ones(3, np.float32)
    mean = image[y0:y1, x0:x1][mask > 0].reshape(-1, 3).mean(0) / 255.0
    level = float(mean @ np.array([0.299, 0.587, 0.114]))
    gain = float(np.clip((level / _LIT_FACE) ** 0.5, 0.55, 1.1))
    cast = np.clip(mean / max(float(mean.mean()), 1e-3), 0.85, 1.15)
    return (gain * (0.5 + 0.5 * cast)).astype(np.float32)


def blend(image: np.ndarray, rgba: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Warp `rgba` (h, w, 4) uint8 by `m` (2x3, artwork pixels -> image pixels) and alpha-blend
    it onto `image` (H, W, 3) uint8 in place; only the part inside the image is touched. The
    warp runs on premultiplied colour, so edges stay clean. Returns `image`."""
    return _composite(image, _premultiply(rgba), m)


class Canvas:
    """An RGBA drawing surface in face units. Shapes become anti-aliased coverage masks (drawn
    supersampled, then area-averaged); `paint` lays a colour (a constant or a per-pixel field)
    through a mask, "over" what is there. `x`, `y`: each pixel's centre in face units."""

    def __init__(self, unit: int, extent: tuple[float, float, float, float]):
        x0, y0, x1, y1 = extent
        self.unit = float(unit)
        self.ss = int(np.clip(512 // unit, 1, 4))  # supersampling, so masks are smooth
        self.w = int(math.ceil((x1 - x0) * unit))
        self.h = int(math.ceil((y1 - y0) * unit))
        self.origin = (-x0 * unit, -y0 * unit)
        self.color = np.zeros((self.h, self.w, 3), np.float32)  # premultiplied, 0..1
        self.alpha = np.zeros((self.h, self.w), np.float32)
        self.x = (np.arange(self.w, dtype=np.float32) - self.origin[0]) / self.unit
        self.y = (np.arange(self.h, dtype=np.float32) - self.origin[1]) / self.unit
        self.x, self.y = np.meshgrid(self.x, self.y)

    # --- shapes -> masks (H, W) float32 in 0..1 ----------------------------------------------

    def polygon(self, *polys: np.ndarray) -> np.ndarray:
        """Filled polygons (each (N, 2) face units); overlaps are filled once."""
        import cv2

        return self._mask(
            lambda im: cv2.fillPoly(im, [self._px(p) for p in polys], 255, cv2.LINE_AA, 4)
        )

    def ellipse(
        self, center: Sequence[float], axes: Sequence[float], angle: float = 0.0
    ) -> np.ndarray:
        """A filled ellipse: centre and half-axes in face units, angle in degrees."""
        return self.polygon(ellipse_points(center, axes, angle))

    def stroke(
        self, points: np.ndarray | Sequence[np.ndarray], width: float, closed: bool = False
    ) -> np.ndarray:
        """A polyline (N, 2), or a list of them, `width` face units thick, round-capped."""
        import cv2

        t = max(1, int(round(width * self.unit * self.ss)))
        lines = [points] if isinstance(points, np.ndarray) and points.ndim == 2 else points
        pts = [self._px(p) for p in lines]
        return self._mask(lambda im: cv2.polylines(im, pts, closed, 255, t, cv2.LINE_AA, 4))

    # --- colour fields (H, W, 3) float32, 0..255 ----------------------------------------------

    def linear(self, p0: Sequence[float], p1: Sequence[float], c0, c1) -> np.ndarray:
        """Colour c0 at p0 to c1 at p1, constant across, clamped beyond."""
        d = np.asarray(p1, np.float32) - np.asarray(p0, np.float32)
        t = ((self.x - p0[0]) * d[0] + (self.y - p0[1]) * d[1]) / max(float(d @ d), 1e-9)
        return _mix(c0, c1, np.clip(t, 0, 1))

    def radial(self, center: Sequence[float], radius: float, c0, c1) -> np.ndarray:
        """Colour c0 at `center` to c1 at `radius` face units and beyond."""
        r = np.hypot(self.x - center[0], self.y - center[1]) / max(radius, 1e-9)
        return _mix(c0, c1, np.clip(r, 0, 1))

    # --- mask helpers ---------------------------------------------------------------------------

    def blur(self, mask: np.ndarray, sigma: float) -> np.ndarray:
        """The mask softened by a Gaussian of `sigma` face units (wide blurs run on a smaller
        copy: the same look for a fraction of the time)."""
        import cv2

        s = max(sigma * self.unit, 0.3)
        k = int(s // 2)
        if k < 2:
            return cv2.GaussianBlur(mask, (0, 0), s)
        small = cv2.resize(
            mask, (max(1, self.w // k), max(1, self.h // k)), interpolation=cv2.INTER_AREA
        )
        small = cv2.GaussianBlur(small, (0, 0), s / k)
        return cv2.resize(small, (self.w, self.h), interpolation=cv2.INTER_LINEAR)

    def shift(self, mask: np.ndarray, dx: float, dy: float) -> np.ndarray:
        """The mask moved by (dx, dy) face units."""
        import cv2

        m = np.array([[1, 0, dx * self.unit], [0, 1, dy * self.unit]], np.float64)
        return cv2.warpAffine(mask, m, (self.w, self.h))

    # --- painting -------------------------------------------------------------------------------

    def paint(self, mask: np.ndarray, color, opacity: float = 1.0) -> None:
        """Lay `color` (an RGB tuple 0..255, or a field (H, W, 3)) through `mask` at `opacity`."""
        a = np.asarray(mask, np.float32) * np.float32(opacity)
        rows = np.flatnonzero(a.max(axis=1) > 1e-4)
        if not len(rows):
            return
        cols = np.flatnonzero(a.max(axis=0) > 1e-4)
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))  # only where it paints
        a = np.clip(a[box], 0.0, 1.0)[..., None]
        c = np.asarray(color, np.float32) / np.float32(255.0)
        c = c[box] if c.ndim == 3 else c
        region = self.color[box]
        region *= 1.0 - a
        region += c * a
        alpha = self.alpha[box]
        alpha *= 1.0 - a[..., 0]
        alpha += a[..., 0]

    def shadow(self, mask: np.ndarray, dx: float, dy: float, blur: float, opacity: float) -> None:
        """A soft dark shadow of `mask`, offset by (dx, dy) face units."""
        self.paint(self.blur(self.shift(mask, dx, dy), blur), (0, 0, 0), opacity)

    def artwork(self) -> Artwork:
        a = np.clip(self.alpha, 0.0, 1.0)
        rgb = np.where(a[..., None] > 1e-6, self.color / np.maximum(a[..., None], 1e-6), 0.0)
        rgba = np.dstack([np.clip(rgb, 0, 1), a])
        return Artwork((rgba * 255.0 + 0.5).astype(np.uint8), self.origin, self.unit)

    # --- internals ------------------------------------------------------------------------------

    def _px(self, points: np.ndarray) -> np.ndarray:
        """Face units -> supersampled pixel coordinates, fixed point with 4 fractional bits."""
        p = np.asarray(points, np.float64).reshape(-1, 2)
        px = (p * self.unit + self.origin + 0.5) * self.ss - 0.5
        return np.round(px * 16).astype(np.int32)

    def _mask(self, draw: Callable[[np.ndarray], Any]) -> np.ndarray:
        import cv2

        big = np.zeros((self.h * self.ss, self.w * self.ss), np.uint8)
        draw(big)
        if self.ss > 1:
            big = cv2.resize(big, (self.w, self.h), interpolation=cv2.INTER_AREA)
        return big.astype(np.float32) / 255.0


def ellipse_points(
    center: Sequence[float], axes: Sequence[float], angle: float = 0.0, n: int = 96
) -> np.ndarray:
    """(n, 2) points on an ellipse outline (face units)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    a = np.deg2rad(angle)
    x, y = axes[0] * np.cos(t), axes[1] * np.sin(t)
    return np.stack(
        [center[0] + x * np.cos(a) - y * np.sin(a), center[1] + x * np.sin(a) + y * np.cos(a)], -1
    )


def bezier(*control: Sequence[float], n: int = 32) -> np.ndarray:
    """(n, 2) points on the Bezier curve of the given control points (any degree)."""
    return _de_casteljau(np.asarray(control, np.float64), np.linspace(0, 1, n))


def mirror(points: np.ndarray) -> np.ndarray:
    """Points mirrored about the face's vertical axis (x -> -x), in reverse order, so a right
    half's outline continues into its left half."""
    p = np.asarray(points, np.float64)[::-1].copy()
    p[:, 0] *= -1
    return p


# --- helpers -------------------------------------------------------------------------------------


def _composite(image: np.ndarray, src: np.ndarray, m: np.ndarray) -> np.ndarray:
    import cv2

    h, w = src.shape[:2]
    corners = apply(
        m, np.array([[-0.5, -0.5], [w - 0.5, -0.5], [-0.5, h - 0.5], [w - 0.5, h - 0.5]])
    )
    if not np.isfinite(corners).all():
        return image
    hh, ww = image.shape[:2]
    x0, y0 = np.floor(corners.min(0)).astype(int)
    x1, y1 = np.ceil(corners.max(0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, ww), min(y1, hh)
    if x1 <= x0 or y1 <= y0:
        return image  # entirely outside
    shifted = np.asarray(m, dtype=np.float64).copy()
    shifted[:, 2] -= (x0, y0)
    warped = cv2.warpAffine(
        src,
        shifted,
        (x1 - x0, y1 - y0),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0, 0),
    )
    alpha = np.clip(warped[..., 3:], 0.0, 1.0)
    region = image[y0:y1, x0:x1].astype(np.float32) / 255.0
    mixed = region * (1.0 - alpha) + warped[..., :3]
    image[y0:y1, x0:x1] = np.clip(mixed * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return image


def _over(image: np.ndarray, region: tuple[slice, slice], src: np.ndarray) -> None:
    """Premultiplied `src` "over" `image[region]`, in place, edges softened a little."""
    import cv2

    src = cv2.GaussianBlur(src, (0, 0), 0.6)
    alpha = np.clip(src[..., 3:], 0.0, 1.0)
    base = image[region].astype(np.float32) / 255.0
    mixed = base * (1.0 - alpha) + src[..., :3]
    image[region] = np.clip(mixed * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _premultiply(rgba: np.ndarray) -> np.ndarray:
    src = np.asarray(rgba, np.float32) / 255.0
    src[..., :3] *= src[..., 3:]
    return src


def _de_casteljau(control: np.ndarray, t: np.ndarray) -> np.ndarray:
    p = np.repeat(control[None], len(t), axis=0)  # (n, k, 2)
    tt = t[:, None, None]
    while p.shape[1] > 1:
        p = (1 - tt) * p[:, :-1] + tt * p[:, 1:]
    return p[:, 0]


def _mix(c0, c1, t: np.ndarray) -> np.ndarray:
    c0, c1 = np.asarray(c0, np.float32), np.asarray(c1, np.float32)
    return c0 + (c1 - c0) * t[..., None]


def _unit_for(scale: float) -> int:
    """The smallest drawing unit at or above the face's size in pixels, so the warp only ever
    shrinks the artwork (by at most half: bilinear sampling stays alias-free)."""
    for u in _UNITS:
        if u >= scale:
            return u
    return _UNITS[-1]


@functools.cache
def _instance(cls: type[Filter]) -> Filter:
    return cls()


@functools.lru_cache(maxsize=1)
def _load_all() -> None:
    """Import the filter modules so they register (once, at first use, not at import)."""
    from importlib import import_module

    import_module("facepoints.filters")
