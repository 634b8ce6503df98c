"""Sunglasses: dark graded lenses with reflections in a glossy black frame, placed by the eyes."""

from __future__ import annotations

import numpy as np

from .base import EYES, FILTERS, Canvas, Overlay, bezier


@FILTERS.register("sunglasses")
class Sunglasses(Overlay):
    name = "sunglasses"
    description = "dark sunglasses over the eyes"
    anchors = EYES  # the eyes alone fix the size and the tilt: the glasses sit on them
    extent = (-1.08, -0.42, 1.08, 0.42)

    def draw(self, c: Canvas) -> None:
        outer = [_lens(side * 0.5, 0.03, 0.45, 0.31, side) for side in (-1, 1)]
        inner = [_lens(side * 0.5, 0.03, 0.38, 0.245, side) for side in (-1, 1)]
        bridge = bezier((-0.12, -0.07), (-0.05, -0.15), (0.05, -0.15), (0.12, -0.07), n=24)
        temples = [np.array([[s * 0.92, -0.1], [s * 1.06, -0.08]]) for s in (-1, 1)]

        frame = np.maximum(c.polygon(*outer), c.stroke(bridge, 0.075))
        for t in temples:
            frame = np.maximum(frame, c.stroke(t, 0.07))
        lens = c.polygon(*inner)

        c.shadow(frame, 0.02, 0.06, 0.05, 0.35)  # the frame lifts off the face a little
        c.paint(frame, c.linear((0, -0.3), (0, 0.33), (78, 78, 84), (12, 12, 14)))
        c.paint(lens, c.linear((0, -0.2), (0, 0.27), (14, 18, 30), (70, 82, 104)), 0.94)
        # the sky's reflection: two slanted bright bands across each lens
        for s in (-1, 1):
            x = s * 0.5
            band = c.polygon(
                np.array([[x - 0.26, 0.2], [x - 0.08, -0.25], [x + 0.02, -0.25], [x - 0.16, 0.2]])
            )
            thin = c.polygon(
                np.array([[x - 0.05, 0.2], [x + 0.11, -0.25], [x + 0.15, -0.25], [x - 0.01, 0.2]])
            )
            c.paint(band * lens, (255, 255, 255), 0.2)
            c.paint(thin * lens, (255, 255, 255), 0.13)
        # a glint along the top of the frame
        for s in (-1, 1):
            rim = bezier((s * 0.14, -0.2), (s * 0.3, -0.29), (s * 0.62, -0.29), (s * 0.85, -0.2))
            c.paint(c.stroke(rim, 0.02) * frame, (220, 220, 230), 0.45)


def _lens(cx: float, cy: float, a: float, b: float, side: int, n: int = 120) -> np.ndarray:
    """A wayfarer lens: a squarish ellipse, flatter on top, narrowing towards the bottom and the
    nose, its outer top corner raised."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ct, st = np.cos(t), np.sin(t)
    x = a * np.sign(ct) * np.abs(ct) ** (2 / 3.4)
    y = b * np.sign(st) * np.abs(st) ** (2 / 3.0)
    bottom = np.clip(y / b, 0, 1)
    x = x * (1 - 0.16 * bottom)
    outward = x * side / a  # 1 at the temple side, -1 at the nose
    y = y - 0.05 * np.clip(outward, 0, 1) * (y < 0)
    return np.stack([cx + x, cy + y], -1)
