"""Moustache: a brown handlebar moustache with drawn hairs, between the nose and the mouth."""

from __future__ import annotations

import numpy as np

from .base import FILTERS, MOUTH, NOSE, Canvas, Overlay, bezier, mirror


@FILTERS.register("moustache")
class Moustache(Overlay):
    name = "moustache"
    description = "a handlebar moustache over the upper lip"
    anchors = (NOSE, *MOUTH)  # nose tip and mouth corners: it sits on the upper lip
    extent = (-0.92, 0.6, 0.92, 1.12)

    def draw(self, c: Canvas) -> None:
        right = np.concatenate(
            [
                bezier((0.0, 0.8), (0.16, 0.7), (0.42, 0.72), (0.6, 0.86), n=28),
                bezier((0.6, 0.86), (0.7, 0.93), (0.82, 0.86), (0.8, 0.7), n=20)[1:],
                bezier((0.8, 0.7), (0.86, 0.92), (0.7, 1.02), (0.5, 0.98), n=20)[1:],
                bezier((0.5, 0.98), (0.3, 0.95), (0.12, 0.98), (0.0, 0.9), n=24)[1:],
            ]
        )
        outline = np.concatenate([right, mirror(right)[1:]])
        body = c.polygon(outline)

        c.shadow(body, 0.0, 0.03, 0.03, 0.4)
        c.paint(body, c.linear((0, 0.72), (0, 0.98), (92, 62, 40), (34, 20, 12)))
        # hairs: short strokes flowing out from the middle and down, lighter and darker ones
        rng = np.random.default_rng(7)
        for tone, opacity in (((20, 12, 6), 0.55), ((140, 100, 66), 0.45)):
            lines = []
            for _ in range(260):
                x = rng.uniform(-0.78, 0.78)
                y = rng.uniform(0.7, 1.0)
                side = 1.0 if x >= 0 else -1.0
                angle = np.deg2rad(rng.normal(28 + 25 * abs(x), 8))
                length = rng.uniform(0.05, 0.11)
                d = np.array([side * np.cos(angle), np.sin(angle)]) * length
                lines.append(np.array([[x, y], [x + d[0], y + d[1]]]))
            c.paint(c.stroke(lines, 0.01) * body, tone, opacity)
        # a soft sheen along the top of each side
        for s in (1, -1):
            sheen = bezier((s * 0.08, 0.78), (s * 0.25, 0.74), (s * 0.45, 0.78), n=16)
            c.paint(c.blur(c.stroke(sheen, 0.03), 0.015) * body, (200, 160, 120), 0.35)
