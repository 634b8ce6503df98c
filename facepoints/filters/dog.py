"""Dog: a shiny black dog's nose on the nose and floppy furry ears at the top of the head."""

from __future__ import annotations

import numpy as np

from .base import FILTERS, Canvas, Overlay, bezier, mirror

_FUR_LIGHT = (176, 118, 70)
_FUR_DARK = (96, 56, 28)


@FILTERS.register("dog")
class Dog(Overlay):
    name = "dog"
    description = "a dog's nose and floppy ears"
    anchors = (0, 1, 2, 3, 4)  # the nose must land on the nose, the ears follow the whole face
    extent = (-1.6, -1.75, 1.6, 0.95)

    def draw(self, c: Canvas) -> None:
        for s in (1, -1):
            _ear(c, s)
        _nose(c)


def _ear(c: Canvas, side: int) -> None:
    right = np.concatenate(
        [
            bezier((0.36, -1.2), (0.58, -1.58), (1.2, -1.64), (1.42, -1.06), n=36),
            bezier((1.42, -1.06), (1.62, -0.56), (1.52, -0.04), (1.22, -0.02), n=36)[1:],
            bezier((1.22, -0.02), (0.96, 0.0), (0.88, -0.34), (0.92, -0.6), n=24)[1:],
            bezier((0.92, -0.6), (0.92, -0.9), (0.66, -1.04), (0.36, -1.2), n=24)[1:],
        ]
    )
    inner = np.concatenate(
        [
            bezier((0.7, -1.22), (1.0, -1.44), (1.3, -1.1), (1.34, -0.7), n=24),
            bezier((1.34, -0.7), (1.38, -0.3), (1.26, -0.14), (1.14, -0.16), n=24)[1:],
            bezier((1.14, -0.16), (1.02, -0.2), (1.02, -0.5), (1.04, -0.72), n=16)[1:],
            bezier((1.04, -0.72), (1.04, -0.98), (0.9, -1.12), (0.7, -1.22), n=16)[1:],
        ]
    )
    pts = right if side > 0 else mirror(right)
    inn = inner if side > 0 else mirror(inner)
    ear = c.polygon(pts)
    c.shadow(ear, -0.04 * side, 0.05, 0.05, 0.4)
    c.paint(ear, c.linear((side * 0.7, -1.5), (side * 1.3, 0.0), _FUR_LIGHT, _FUR_DARK))
    c.paint(c.blur(c.polygon(inn), 0.06) * ear, (66, 34, 16), 0.5)
    rng = np.random.default_rng(3 if side > 0 else 5)
    for tone, opacity in (((60, 32, 14), 0.45), ((220, 168, 116), 0.35)):
        lines = []
        for _ in range(360):  # hairs fall down the ear, fanning out a little
            x, y = rng.uniform(0.36, 1.6), rng.uniform(-1.62, -0.02)
            d = np.array([0.03 * rng.normal() + 0.03 * (x - 1.0), rng.uniform(0.06, 0.12)])
            lines.append(np.array([[side * x, y], [side * (x + d[0]), y + d[1]]]))
        c.paint(c.stroke(lines, 0.012) * ear, tone, opacity)
    c.paint(c.stroke(pts, 0.02, closed=True), (60, 32, 14), 0.5)


def _nose(c: Canvas) -> None:
    right = np.concatenate(
        [
            bezier((0.0, 0.41), (0.18, 0.4), (0.27, 0.46), (0.25, 0.56), n=24),
            bezier((0.25, 0.56), (0.22, 0.68), (0.1, 0.74), (0.0, 0.75), n=24)[1:],
        ]
    )
    nose = c.polygon(np.concatenate([right, mirror(right)[1:]]))
    c.shadow(nose, 0.0, 0.04, 0.035, 0.45)
    c.paint(nose, c.radial((-0.05, 0.47), 0.32, (96, 90, 92), (14, 12, 14)))
    for s in (1, -1):
        nostril = c.ellipse((s * 0.1, 0.62), (0.055, 0.028), s * 25)
        c.paint(c.blur(nostril, 0.006) * nose, (0, 0, 0), 0.95)
    c.paint(c.blur(c.ellipse((-0.07, 0.48), (0.08, 0.035), -12), 0.01), (255, 255, 255), 0.75)
    c.paint(c.stroke(np.array([[0.0, 0.74], [0.0, 0.84]]), 0.025), (30, 24, 24), 0.7)
