"""Augmentation that moves the landmarks with the pixels.

A `Sample` holds a crop (H, W, 3) uint8 RGB, its points (K, 2) in crop pixels, the map `matrix`
(2x3) from image to crop, and whether it is mirrored. Each transform is a small callable
`t(sample, rng) -> sample`; geometric ones warp pixels and points by the same matrix, so a point
stays on its facial feature. `Compose` chains them; `build_augmentation` makes the training chain.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from ..geometry import apply, compose, similarity_matrix
from ..schemes import Scheme

__all__ = [
    "Sample",
    "Compose",
    "RandomAffine",
    "HorizontalFlip",
    "CenterCrop",
    "ColorJitter",
    "RandomGrayscale",
    "GaussianBlur",
    "RandomOcclusion",
    "RandomOccluder",
    "MotionBlur",
    "LowResolution",
    "JpegArtefacts",
    "jpeg_roundtrip",
    "build_augmentation",
    "build_photometric",
    "AUGMENTATIONS",
]


@dataclass
class Sample:
    image: np.ndarray  # (H, W, 3) uint8
    points: np.ndarray  # (K, 2) float32, crop pixels
    matrix: np.ndarray  # (2, 3) image -> crop
    scheme: Scheme
    flipped: bool = False


class Compose:
    def __init__(self, transforms: list):
        self.transforms = list(transforms)

    def __call__(self, s: Sample, rng: np.random.Generator) -> Sample:
        for t in self.transforms:
            s = t(s, rng)
        return s

    def __repr__(self) -> str:
        return "Compose(" + ", ".join(repr(t) for t in self.transforms) + ")"


def _warp_sample(s: Sample, m: np.ndarray) -> Sample:
    h, w = s.image.shape[:2]
    img = cv2.warpAffine(s.image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return replace(s, image=img, points=apply(m, s.points), matrix=compose(m, s.matrix))


@dataclass
class RandomAffine:
    """Rotation (degrees), scale jitter (fraction) and shift (fraction of side) about the crop
    centre, with probability p; one warp for all three."""

    rotate: float = 15.0
    scale: float = 0.1
    shift: float = 0.05
    p: float = 1.0

    def __call__(self, s: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return s
        angle = rng.uniform(-self.rotate, self.rotate)
        sc = float(np.exp(rng.uniform(np.log(1 - self.scale), np.log(1 + self.scale))))
        h, w = s.image.shape[:2]
        tx, ty = rng.uniform(-self.shift, self.shift, size=2) * (w, h)
        return _warp_sample(s, self.matrix(w, h, angle, sc, tx, ty))

    @staticmethod
    def matrix(w: int, h: int, angle: float, scale: float, tx: float = 0.0, ty: float = 0.0):
        """The map that rotates/scales about the centre of a w x h crop, then shifts."""
        c = np.array([(w - 1) / 2, (h - 1) / 2])
        m = similarity_matrix(scale, angle)
        m[:, 2] = c - m[:, :2] @ c + (tx, ty)
        return m


@dataclass
class HorizontalFlip:
    """Mirror the crop with probability p; swap left and right landmarks by the scheme."""

    p: float = 0.5

    def __call__(self, s: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return s
        w = s.image.shape[1]
        m = np.array([[-1.0, 0.0, w - 1.0], [0.0, 1.0, 0.0]])
        return replace(
            s,
            image=np.ascontiguousarray(s.image[:, ::-1]),
            points=s.scheme.flip_points(s.points, w),
            matrix=compose(m, s.matrix),
            flipped=not s.flipped,
        )


@dataclass
class CenterCrop:
    """Cut the central `size` x `size` window (exact, no resampling)."""

    size: int

    def __call__(self, s: Sample, rng: np.random.Generator | None = None) -> Sample:
        h, w = s.image.shape[:2]
        x0, y0 = (w - self.size) // 2, (h - self.size) // 2
        if x0 == 0 and y0 == 0 and w == self.size and h == self.size:
            return s
        m = np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0]])
        img = s.image[y0 : y0 + self.size, x0 : x0 + self.size]
        return replace(
            s,
            image=np.ascontiguousarray(img),
            points=apply(m, s.points),
            matrix=compose(m, s.matrix),
        )


@dataclass
class ColorJitter:
    """Random brightness, contrast and saturation factors in [1-x, 1+x]; points unchanged."""

    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    p: float = 0.8

    def __call__(self, s: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return s
        img = s.image.astype(np.float32)
        b, c, sat = (
            1 + rng.uniform(-v, v) for v in (self.brightness, self.contrast, self.saturation)
        )
        img = img * b
        mean = img.mean()
        img = (img - mean) * c + mean
        grey = img.mean(axis=2, keepdims=True)
        img = (img - grey) * sat + grey
        return replace(s, image=np.clip(img, 0, 255).astype(np.uint8))


@dataclass
class RandomGrayscale:
    p: float = 0.1

    def __call__(self, s: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return s
        g = cv2.cvtColor(s.image, cv2.COLOR_RGB2GRAY)
        return replace(s, image=np.repeat(g[..., None], 3, axis=2))


@dataclass
class GaussianBlur:
    """Blur with sigma up to `sigma` (pixels) with probability p."""

    sigma: float = 1.5
    p: float = 0.2

    def __call__(self, s: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return s
        sig = rng.uniform(0.3, self.sigma)
        return replace(s, image=cv2.GaussianBlur(s.image, (0, 0), sig))


@dataclass
class RandomOcclusion:
    """Paint a random rectangle (up to `max_frac` of each side) with noise; points unchanged —
    the model must still place occluded points."""

    max_frac: float = 0.4
    p: float = 0.3

    def __call__(self, s: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return s
        h, w = s.image.shape[:2]
        rw = int(rng.uniform(0.1, self.max_frac) * w)
        rh = int(rng.uniform(0.1, self.max_frac) * h)
        x0 = int(rng.integers(0, max(1, w - rw)))
        y0 = int(rng.integers(0, max(1, h - rh)))
        img = s.image.copy()
        img[y0 : y0 + rh, x0 : x0 + rw] = rng.integers(0, 256, size=(rh, rw, 3), dtype=np.uint8)
        return replace(s, image=img)


@dataclass
class MotionBlur:
    """Blur along a random direction over up to `length` pixels (camera or head motion)."""

    length: int = 7
    p: float = 0.15

    def __call__(self, s: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return s
        n = int(rng.integers(3, max(4, self.length + 1)))
        kernel = np.zeros((n, n), dtype=np.float32)
        kernel[n // 2, :] = 1.0 / n
        rot = cv2.getRotationMatrix2D(((n - 1) / 2, (n - 1) / 2), float(rng.uniform(0, 180)), 1.0)
        kernel = cv2.warpAffine(kernel, rot, (n, n))
        kernel /= max(float(kernel.sum()), 1e-6)
        return replace(s, image=cv2.filter2D(s.image, -1, kernel))


@dataclass
class LowResolution:
    """Down-sample to `min_frac`..`max_frac` of the side, then back up: the look of a small,
    distant face (20-40 px between the eyes in an 80 px crop at the smallest)."""

    min_frac: float = 0.3
    max_frac: float = 0.7
    p: float = 0.2

    def __call__(self, s: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return s
        h, w = s.image.shape[:2]
        f = rng.uniform(self.min_frac, self.max_frac)
        small = cv2.resize(s.image, (max(4, int(w * f)), max(4, int(h * f))), cv2.INTER_AREA)
        up = cv2.INTER_LINEAR if rng.random() < 0.5 else cv2.INTER_NEAREST
        return replace(s, image=cv2.resize(small, (w, h), interpolation=up))


@dataclass
class JpegArtefacts:
    """Re-encode as JPEG at a quality in [`min_quality`, `max_quality`]."""

    min_quality: int = 15
    max_quality: int = 60
    p: float = 0.2

    def __call__(self, s: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return s
        q = int(rng.integers(self.min_quality, self.max_quality + 1))
        return replace(s, image=jpeg_roundtrip(s.image, q))


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    """An RGB uint8 image encoded as JPEG at `quality` and decoded again (its artefacts); the
    image as it was where it cannot be encoded."""
    ok, buf = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        return image
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])


@dataclass
class RandomOccluder:
    """Cover part of the face with a solid, noisy or textured shape (an ellipse or a rotated
    rectangle, like a hand, a cup, hair or sunglasses); points stay supervised underneath."""

    max_frac: float = 0.5
    p: float = 0.35

    def __call__(self, s: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return s
        h, w = s.image.shape[:2]
        img = s.image.copy()
        mask = np.zeros((h, w), dtype=np.uint8)
        cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
        ax = rng.uniform(0.08, self.max_frac / 2) * w
        ay = rng.uniform(0.08, self.max_frac / 2) * h
        angle = rng.uniform(0, 180)
        if rng.random() < 0.5:
            cv2.ellipse(mask, (int(cx), int(cy)), (int(ax), int(ay)), angle, 0, 360, 255, -1)
        else:
            box = cv2.boxPoints(((cx, cy), (2 * ax, 2 * ay), angle)).astype(np.int32)
            cv2.fillPoly(mask, [box], 255)
        kind = rng.integers(3)
        if kind == 0:  # a flat colour
            fill = np.broadcast_to(rng.integers(0, 256, size=3, dtype=np.uint8), img.shape)
        elif kind == 1:  # noise
            fill = rng.integers(0, 256, size=img.shape, dtype=np.uint8)
        else:  # another part of the same crop, shifted: skin, hair, background
            dx, dy = (int(v) for v in rng.integers(-w // 2, w // 2 + 1, size=2))
            fill = np.roll(img, (dy, dx), axis=(0, 1))
        keep = mask.astype(bool)
        img[keep] = fill[keep]
        return replace(s, image=img)


def build_augmentation(strength: float = 1.0, flip: bool = True, kind: str = "standard") -> Compose:
    """The geometric training chain at a given strength (0 = none, 1 = default, >1 stronger); it
    runs on the context crop before the centre crop is cut. kind "wild": larger rotations, scale
    and shift (posed, off-centre faces)."""
    if strength <= 0:
        return Compose([])
    k = strength
    if kind == "wild":
        ts = [RandomAffine(rotate=35 * k, scale=0.2 * k, shift=0.08 * k)]
    else:
        ts = [RandomAffine(rotate=18 * k, scale=0.12 * k, shift=0.06 * k)]
    if flip:
        ts.append(HorizontalFlip(0.5))
    return Compose(ts)


def build_photometric(strength: float = 1.0, kind: str = "standard") -> Compose:
    """Pixel-only augmentation, applied after the crop is cut (cheaper on the small crop). kind
    "wild" adds occluders, motion blur, small-face resolution loss and JPEG artefacts."""
    if strength <= 0:
        return Compose([])
    k = min(strength, 2.0)
    if kind == "wild":
        return Compose(
            [
                ColorJitter(0.4 * k, 0.4 * k, 0.4 * k, p=0.8),
                RandomGrayscale(0.1),
                GaussianBlur(1.5 * k, p=0.15),
                MotionBlur(7, p=0.15 * k),
                LowResolution(0.3, 0.7, p=0.2 * k),
                RandomOccluder(0.5, p=0.35 * k),
                JpegArtefacts(15, 60, p=0.2 * k),
            ]
        )
    return Compose(
        [
            ColorJitter(0.3 * k, 0.3 * k, 0.3 * k, p=0.8),
            RandomGrayscale(0.1),
            GaussianBlur(1.2 * k, p=0.15),
            RandomOcclusion(0.35, p=0.25 * k),
        ]
    )


AUGMENTATIONS = ("standard", "wild")
