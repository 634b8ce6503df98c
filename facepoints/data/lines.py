"""What every annotation-list reader shares: reading a list's lines, parsing numbers, resolving an
image path under its root, and the strict-or-lenient (`skip_bad`) handling of a bad line.

Parsers raise ValueError with a message about the line; readers turn it into a DataError naming
file and line (or a BadLine in `records.skipped`) through `bad_line`."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ..errors import DataError, ImageError
from ..io import image_size
from .records import BadLine

__all__ = [
    "list_lines",
    "parse_numbers",
    "resolve_image",
    "check_points",
    "bad_line",
    "FAR_OUTSIDE",
]

# a point further outside its image than this fraction of the image's width (or height) is a
# damaged or mismatched annotation, not a face cut by the border
FAR_OUTSIDE = 0.5
_LARGEST = 1e9  # pixels: beyond any image, and squares of it stay finite in float32


def list_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, line) of every non-blank line of a UTF-8 list file; a BOM and CRLF
    or LF line ends are accepted. Unreadable or non-UTF-8 files raise DataError."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(path, f"cannot read list: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(path, f"not UTF-8 text (byte {e.start})") from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield lineno, line


def parse_numbers(fields: Sequence[str], first: int = 1) -> list[float]:
    """The finite numbers in `fields`, or ValueError naming the bad one by its 1-based field
    number on the line (`first` is the number of fields[0])."""
    out = []
    for i, f in enumerate(fields, start=first):
        try:
            v = float(f)
        except ValueError:
            raise ValueError(f"field {i} is not a number: {f!r}") from None
        if not math.isfinite(v):
            raise ValueError(f"field {i} is not finite: {f!r}")
        if abs(v) > _LARGEST:
            raise ValueError(f"field {i} is out of range: {f!r}")
        out.append(v)
    return out


def resolve_image(root: Path, rel: str) -> Path:
    """The image path under root (`\\` or `/` separators); refuses absolute paths and '..' that
    would leave root."""
    parts = rel.replace("\\", "/").split("/")
    if rel.startswith(("/", "\\")) or any(p == ".." for p in parts) or ":" in parts[0]:
        raise ValueError(f"image path leaves the data root: {rel!r}")
    return root.joinpath(*[p for p in parts if p not in ("", ".")])


def check_points(
    image: Path, points: np.ndarray, sizes: dict[Path, tuple[int, int] | None]
) -> None:
    """ValueError when a point lies far outside `image` (see FAR_OUTSIDE). The size comes from the
    image's header alone, once per image (`sizes` caches it). An unreadable header is no verdict
    here: the image fails where it is decoded, so a broken photo is reported once, as an image."""
    if image not in sizes:
        try:
            sizes[image] = image_size(image)
        except ImageError:
            sizes[image] = None
    size = sizes[image]
    if size is None:
        return
    w, h = size
    lo = -FAR_OUTSIDE * np.array([w, h])
    hi = (1 + FAR_OUTSIDE) * np.array([w, h])
    far = ((points < lo) | (points > hi)).any(axis=1)
    if far.any():
        k = int(np.argmax(far))
        x, y = (float(v) for v in points[k])
        raise ValueError(
            f"point {k + 1} at ({x:g}, {y:g}) lies far outside the {w}x{h} image "
            f"(more than {FAR_OUTSIDE:.0%} of its size)"
        )


def bad_line(
    path: Path, lineno: int, error: ValueError, skip_bad: bool, skipped: list[BadLine]
) -> None:
    """Raise DataError for a bad line, or with `skip_bad` record it in `skipped` and return."""
    if not skip_bad:
        raise DataError(path, str(error), line=lineno) from None
    skipped.append(BadLine(str(path), lineno, str(error)))
