"""Clown: a glossy red ball on the nose and rosy cheeks."""

from __future__ import annotations

from .base import FILTERS, Canvas, Overlay


@FILTERS.register("clown")
class Clown(Overlay):
    name = "clown"
    description = "a red clown nose and rosy cheeks"
    anchors = (0, 1, 2, 3, 4)
    extent = (-1.0, 0.2, 1.0, 1.0)

    def draw(self, c: Canvas) -> None:
        for s in (1, -1):  # cheeks first: the nose hides what it overlaps
            c.paint(c.blur(c.ellipse((s * 0.64, 0.66), (0.17, 0.13)), 0.07), (235, 60, 80), 0.45)
        ball = c.ellipse((0.0, 0.55), (0.21, 0.21))
        c.shadow(ball, 0.0, 0.05, 0.04, 0.45)
        c.paint(ball, c.radial((-0.06, 0.48), 0.26, (255, 110, 96), (150, 0, 12)))
        c.paint(c.blur(c.ellipse((-0.07, 0.46), (0.06, 0.04), -25), 0.012), (255, 255, 255), 0.85)
        c.paint(c.blur(c.ellipse((0.07, 0.67), (0.08, 0.025), -15), 0.02), (255, 170, 160), 0.3)
