"""Crown: a shaded gold crown with pearls and jewels, set on top of the head."""

from __future__ import annotations

import numpy as np

from .base import FILTERS, Canvas, Overlay, bezier, ellipse_points, mirror

_GOLD_LIGHT = (255, 228, 120)
_GOLD_DARK = (176, 118, 22)
_GOLD_EDGE = (112, 70, 8)


@FILTERS.register("crown")
class Crown(Overlay):
    name = "crown"
    description = "a gold crown on the head"
    anchors = (0, 1, 3, 4)  # eyes and mouth: the crown follows the whole face's size and tilt
    extent = (-1.05, -2.08, 1.05, -0.82)

    def draw(self, c: Canvas) -> None:
        bottom, top = -0.98, -1.24  # the band, curved as the front of a ring seen from below
        band_pts = np.concatenate(
            [
                bezier((-0.84, bottom), (0.0, bottom + 0.1), (0.84, bottom), n=40),
                bezier((0.9, top), (0.0, top + 0.08), (-0.9, top), n=40),
            ]
        )
        right = np.concatenate(
            [
                [[0.0, -1.93]],
                bezier((0.0, -1.93), (0.18, -1.12), (0.44, -1.78), n=20)[1:],
                bezier((0.44, -1.78), (0.64, -1.1), (0.9, -1.66), n=20)[1:],
                [[0.9, top]],
            ]
        )
        body_pts = np.concatenate(
            [bezier((-0.84, bottom), (0.0, bottom + 0.1), (0.84, bottom), n=40), right[::-1]]
        )
        body_pts = np.concatenate([body_pts, mirror(right[::-1])[1:]])
        body = c.polygon(body_pts)
        band = c.polygon(band_pts)

        c.shadow(body, 0.0, 0.05, 0.05, 0.35)
        # gold lit from above, darker towards the sides where the ring turns away
        shade = 0.62 + 0.38 * np.sqrt(np.clip(np.cos(c.x / 1.0 * np.pi / 2), 0, 1))
        gold = c.linear((0, -1.95), (0, -1.0), _GOLD_LIGHT, _GOLD_DARK) * shade[..., None]
        c.paint(body, gold)
        # a vertical sheen on each spike and the band's rims
        for x in (-0.5, -0.08, 0.36):
            sheen = c.blur(
                c.polygon(
                    np.array([[x, -1.3], [x + 0.05, -1.3], [x + 0.1, -1.65], [x + 0.06, -1.65]])
                ),
                0.02,
            )
            c.paint(sheen * body, (255, 250, 215), 0.35)
        band_gold = (
            c.linear((0, top), (0, bottom), (250, 205, 90), (150, 96, 12)) * shade[..., None]
        )
        c.paint(band, band_gold)
        for rim in (
            bezier((-0.9, top), (0.0, top + 0.08), (0.9, top), n=40),
            bezier((-0.84, bottom), (0.0, bottom + 0.1), (0.84, bottom), n=40),
        ):
            c.paint(c.stroke(rim, 0.035), (255, 236, 160), 0.8)
        c.paint(c.stroke(body_pts, 0.018, closed=True), _GOLD_EDGE, 0.7)

        # jewels on the band and pearls on the points
        _jewel(c, (0.0, -1.1), (0.1, 0.075), (220, 30, 50), (90, 0, 15))
        for s in (-1, 1):
            _jewel(c, (s * 0.44, -1.1), (0.065, 0.06), (40, 110, 235), (5, 25, 90))
            _jewel(c, (s * 0.76, -1.1), (0.04, 0.05), (40, 190, 90), (0, 70, 30))
        for x, y in ((0.0, -1.93), (0.44, -1.78), (-0.44, -1.78), (0.9, -1.66), (-0.9, -1.66)):
            _pearl(c, (x, y - 0.03), 0.06)
        _jewel(c, (0.0, -1.56), (0.05, 0.08), (220, 30, 50), (90, 0, 15))


def _jewel(c: Canvas, center, axes, light, dark) -> None:
    """A cut stone: a dark setting, a radial body lit from the upper left, a white glint."""
    cx, cy = center
    c.paint(c.ellipse(center, (axes[0] * 1.3, axes[1] * 1.3)), _GOLD_EDGE, 0.8)
    lit = (cx - axes[0] * 0.35, cy - axes[1] * 0.35)
    c.paint(c.ellipse(center, axes), c.radial(lit, max(axes) * 1.5, light, dark))
    c.paint(
        c.ellipse((cx - axes[0] * 0.35, cy - axes[1] * 0.4), (axes[0] * 0.28, axes[1] * 0.2)),
        (255, 255, 255),
        0.85,
    )


def _pearl(c: Canvas, center, r: float) -> None:
    cx, cy = center
    c.paint(
        c.polygon(ellipse_points(center, (r, r))),
        c.radial((cx - r * 0.35, cy - r * 0.35), r * 1.6, (255, 255, 250), (170, 160, 150)),
    )
    c.paint(c.ellipse((cx - r * 0.35, cy - r * 0.4), (r * 0.25, r * 0.2)), (255, 255, 255), 0.9)
