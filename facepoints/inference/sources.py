"""What the inference commands (predict, filter) take in: image files, folders of them, videos and
the demo photo, collected in command-line order with a distinct output name for each."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "DRAWN_SUFFIXES",
    "Input",
    "collect_inputs",
    "load_input",
    "one_line",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
DRAWN_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")  # others are drawn to .png


@dataclass
class Input:
    """One thing to process: an image or video file (or the demo image) and where its output
    goes, relative to the output folder."""

    path: Path | None
    label: str  # how reports name it: the path as given or found in a folder
    dest: Path
    kind: str  # "image", "video", "demo", "empty" (a folder without images) or "missing"


def collect_inputs(sources: list[str], recursive: bool, out: Path, demo: bool) -> list[Input]:
    """Every input in command-line order; folders expand to their images, sorted. Outputs keep
    a folder's layout below `out`; equal names get _2, _3, ... so none overwrites another."""
    items: list[Input] = []
    out_abs = out.resolve()
    if demo:
        items.append(Input(None, "demo", Path("demo.jpg"), "demo"))
    for s in sources:
        p = Path(s)
        if p.is_dir():
            pattern = "**/*" if recursive else "*"
            files = sorted(
                f
                for f in p.glob(pattern)
                if f.is_file()
                and f.suffix.lower() in IMAGE_SUFFIXES
                and out_abs not in f.resolve().parents  # never our own earlier outputs
            )
            items += [Input(f, str(f), f.relative_to(p), "image") for f in files]
            if not files:  # reported like a bad file, so a script notices
                items.append(Input(p, str(p), Path(p.name), "empty"))
        elif p.suffix.lower() in VIDEO_SUFFIXES and p.is_file():
            items.append(Input(p, str(p), Path(p.name), "video"))
        else:
            items.append(Input(p, str(p), Path(p.name), "image" if p.exists() else "missing"))
    used: set[str] = set()
    for item in items:
        dest = item.dest
        if item.kind != "video" and dest.suffix.lower() not in DRAWN_SUFFIXES:
            dest = dest.with_suffix(".png")
        stem, n = dest.with_suffix(""), 2
        while _key(dest) in used:
            dest = Path(f"{stem}_{n}{dest.suffix}")
            n += 1
        used.add(_key(dest))
        item.dest = dest
    return items


def load_input(item: Input) -> np.ndarray:
    """The image of an input as (H, W, 3) uint8 RGB; ImageError (one line) when it has none.
    The demo's label becomes "demo:<name>" of the photo used."""
    from ..errors import ImageError

    if item.kind == "demo":
        from .demo import demo_image

        rgb, name = demo_image()
        item.label = f"demo:{name}"
        return rgb
    if item.kind == "missing":
        raise ImageError(item.path, "no such file or folder")
    if item.kind == "empty":
        raise ImageError(item.path, f"a folder with no images ({' '.join(IMAGE_SUFFIXES)})")
    if item.path.suffix.lower() in VIDEO_SUFFIXES:
        raise ImageError(item.path, "a video, not an image")
    from ..io import load_image

    return load_image(item.path)


def one_line(e: Exception, label: str) -> str:
    """The error's message on one line, without a repeated `label: ` prefix; errors not of
    facepoints' own types are named by their type."""
    from ..errors import FacepointsError

    msg = getattr(e, "message", None) or str(e)
    if not isinstance(e, FacepointsError):
        msg = f"{type(e).__name__}: {msg}"
    msg = " ".join(msg.split())
    return msg[len(label) + 2 :] if msg.startswith(label + ": ") else msg


def _key(p: Path) -> str:
    return str(p.with_suffix("")).lower() if p.suffix.lower() in VIDEO_SUFFIXES else str(p).lower()
