"""Face filters drawn by code (sunglasses, crown, moustache, dog, clown, big eyes, lipstick,
align): each
file registers one filter in `FILTERS`; `apply_filters(image, faces, names)` runs them.

    from facepoints.filters import apply_filters, list_filters
    out = apply_filters(rgb, landmarker.detect(rgb), ["sunglasses", "crown"])
"""

from __future__ import annotations

from . import (  # noqa: F401  (register)
    align,
    big_eyes,
    clown,
    crown,
    dog,
    lipstick,
    moustache,
    sunglasses,
)
from .base import FILTERS, Filter, Overlay, apply_filters, get_filter, list_filters

__all__ = ["FILTERS", "Filter", "Overlay", "apply_filters", "get_filter", "list_filters"]
