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
    "build_augmentation",
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


def build_augmentation(strength: float = 1.0, flip: bool = True) -> Compose:
    """The training chain at a given strength (0 = none, 1 = default, >1 stronger); it runs on
    the context crop before the centre crop is cut."""
    if strength <= 0:
        return Compose([])
    k = strength
    ts = [RandomAffine(rotate=18 * k, scale=0.12 * k, shift=0.06 * k)]
    if flip:
        ts.append(HorizontalFlip(0.5))
    return Compose(ts)


def build_photometric(strength: float = 1.0) -> Compose:
    """Pixel-only augmentation, applied after the crop is cut (cheaper on the small crop)."""
    if strength <= 0:
        return Compose([])
    k = min(strength, 2.0)
    return Compose(
        [
            ColorJitter(0.3 * k, 0.3 * k, 0.3 * k, p=0.8),
            RandomGrayscale(0.1),
            GaussianBlur(1.2 * k, p=0.15),
            RandomOcclusion(0.35, p=0.25 * k),
        ]
    )
