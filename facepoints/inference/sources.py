"""What the inference commands (predict, filter) take in: image files, folders of them, videos and
the demo photo, collected in command-line order with a distinct output name for each."""

from __future__ import annotations

import os
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
    "check_outputs",
    "load_input",
    "one_line",
    "printable",
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


def collect_inputs(
    sources: list[str], recursive: bool, out: Path, demo: bool, videos: bool = False
) -> list[Input]:
    """Every input in command-line order; folders expand to their images (and, for a caller
    that reads `videos`, their videos), sorted. Outputs keep a folder's layout below `out`;
    equal names get _2, _3, ... so none overwrites another."""
    items: list[Input] = []
    out_abs = out.resolve()
    if demo:
        items.append(Input(None, "demo", Path("demo.jpg"), "demo"))
    for s in sources:
        p = Path(s)
        if p.is_dir():
            pattern = "**/*" if recursive else "*"
            found = sorted(p.glob(pattern))
            media = IMAGE_SUFFIXES + (VIDEO_SUFFIXES if videos else ())
            files = [
                f
                for f in found
                if f.is_file()
                and f.suffix.lower() in media
                and out_abs not in f.resolve().parents  # never our own earlier outputs
            ]
            _warn_skipped(p, found, recursive, videos)
            items += [
                Input(f, printable(f), f.relative_to(p), _kind(f.suffix.lower())) for f in files
            ]
            if not files:  # reported like a bad file, so a script notices
                items.append(Input(p, printable(p), Path(p.name), "empty"))
        elif p.suffix.lower() in VIDEO_SUFFIXES and p.is_file():
            items.append(Input(p, printable(p), Path(p.name), "video"))
        else:
            kind = "image" if p.exists() else "missing"
            items.append(Input(p, printable(p), Path(p.name), kind))
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


def check_outputs(inputs: list[Input], out: Path, files: list[Path] | None = None) -> None:
    """Before any work: `out` must be (or become) a writable folder, and no output (the drawn
    image, video or JSONL below `out` for each input, or one of `files`) may be an input file.
    Raises ConfigError (a usage error) naming the clash, so an input is never overwritten."""
    from ..errors import ConfigError

    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {printable(out)} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(
            f"--out {printable(out)}: cannot create the folder ({e.strerror or e})"
        ) from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {printable(out)}: the folder is not writable")
    for f in files or []:
        if f.is_dir():
            raise ConfigError(f"{printable(f)} is a folder, not a file to write")
        parent = f.parent
        if parent.exists() and not os.access(parent, os.W_OK | os.X_OK):
            raise ConfigError(f"{printable(f)}: its folder is not writable")
    sources = {_identity(i.path): i for i in inputs if i.path is not None and i.path.is_file()}
    for item in inputs:
        dest = out / item.dest
        for target in (dest, dest.with_suffix(".mp4"), dest.with_suffix(".jsonl")):
            _refuse_input(target, sources)
    for f in files or []:
        _refuse_input(f, sources)


def printable(path: str | os.PathLike) -> str:
    """A path as text that can be printed and written as UTF-8 JSON: bytes of a name that are
    not valid UTF-8 appear as \\xNN escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


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


def _identity(p: Path) -> tuple[int, int]:
    st = p.stat()
    return st.st_dev, st.st_ino


def _refuse_input(target: Path, sources: dict) -> None:
    from ..errors import ConfigError

    if target.is_file() and _identity(target) in sources:
        raise ConfigError(
            f"refusing to overwrite the input {printable(sources[_identity(target)].path)}: "
            "choose another --out"
        )


def _kind(suffix: str) -> str:
    return "video" if suffix in VIDEO_SUFFIXES else "image"


def _warn_skipped(folder: Path, found: list[Path], recursive: bool, videos: bool) -> None:
    """One warning per folder naming what looks like an image but is not read: files of other
    image types (.gif, ...), videos where the command reads none, and, without --recursive,
    subfolders named like images."""
    import warnings

    from ..errors import FacepointsWarning

    other = [
        f
        for f in found
        if f.suffix.lower() in _OTHER_IMAGE_SUFFIXES
        or (not videos and f.is_file() and f.suffix.lower() in VIDEO_SUFFIXES)
        or (f.is_dir() and f.suffix.lower() in IMAGE_SUFFIXES and not recursive)
    ]
    if other:
        shown = ", ".join(printable(f.relative_to(folder)) for f in other[:5])
        more = f" and {len(other) - 5} more" if len(other) > 5 else ""
        warnings.warn(
            f"{printable(folder)}: skipped {len(other)} not read ({shown}{more}); images are "
            f"{' '.join(IMAGE_SUFFIXES)} files"
            + (f", videos {' '.join(VIDEO_SUFFIXES)}" if videos else "")
            + ("" if recursive else ", --recursive reads subfolders"),
            FacepointsWarning,
            stacklevel=3,
        )


_OTHER_IMAGE_SUFFIXES = (".gif", ".heic", ".heif", ".avif", ".jxl", ".svg", ".ico", ".jp2")


def _key(p: Path) -> str:
    return str(p.with_suffix("")).lower() if p.suffix.lower() in VIDEO_SUFFIXES else str(p).lower()
