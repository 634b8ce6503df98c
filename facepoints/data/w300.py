"""Reader of `.pts` landmark folders (300-W / iBUG markup): one `NAME.pts` beside each image.

A `.pts` file holds `version: 1`, `n_points: K`, `{`, K lines `x y`, `}`; files with the bare K
lines (no header) are read too. The markup counts pixel centres from 1 (the first pixel's centre
is 1, 1); facepoints counts them from 0, so 1 is subtracted on reading. Boxes are not part of the
format: each face gets the CUHK-convention box of its points (`inference.boxes.box_from_points`),
the box the landmark models are trained on and that the detectors' maps produce.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..schemes import get_scheme
from .lines import check_points
from .records import BadLine, FaceRecords

__all__ = ["SPLITS", "read_pts", "write_pts", "read_pts_folders", "read_300w", "PTS_ORIGIN"]

# split -> folders under the 300-W root (HELEN's and AFW's faces as 300-W distributes them)
SPLITS = {
    "train": ("helen/trainset", "afw"),
    "test": ("helen/testset",),
    "helen_train": ("helen/trainset",),
    "afw": ("afw",),
}
PTS_ORIGIN = 1.0  # the markup's first pixel centre; subtracted so that points count from 0
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
_HEADER = re.compile(r"^\s*(version|n_points)\s*:\s*(\S+)\s*$", re.IGNORECASE)


def read_pts(path: str | Path) -> np.ndarray:
    """The (K, 2) float32 points of one `.pts` file, counted from pixel centre 0; DataError
    naming the file and line for anything malformed."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(path, "not a text file (bad UTF-8)") from None
    except OSError as e:
        raise DataError(path, f"cannot read ({e.strerror or e})") from None
    declared: int | None = None
    rows: list[tuple[float, float]] = []
    opened = closed = False
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or closed:
            if closed and line:
                raise DataError(path, f"text after the closing brace: {line[:40]!r}", line=lineno)
            continue
        m = _HEADER.match(line)
        if m:
            if m.group(1).lower() == "n_points":
                try:
                    declared = int(m.group(2))
                except ValueError:
                    raise DataError(
                        path, f"n_points is not a number: {m.group(2)!r}", lineno
                    ) from None
                if declared <= 0:
                    raise DataError(path, f"n_points must be positive, got {declared}", lineno)
            continue
        if line == "{":
            opened = True
            continue
        if line == "}":
            if not opened:
                raise DataError(path, "closing brace without an opening one", line=lineno)
            closed = True
            continue
        fields = line.split()
        if len(fields) != 2:
            raise DataError(path, f"expected 2 numbers (x y), got {len(fields)} fields", lineno)
        try:
            x, y = float(fields[0]), float(fields[1])
        except ValueError:
            raise DataError(path, f"not a number in {line[:40]!r}", line=lineno) from None
        if not (np.isfinite(x) and np.isfinite(y)):
            raise DataError(path, f"non-finite coordinate in {line[:40]!r}", line=lineno)
        rows.append((x, y))
    if opened and not closed:
        raise DataError(path, "missing the closing brace")
    if not rows:
        raise DataError(path, "no points")
    if declared is not None and declared != len(rows):
        raise DataError(path, f"n_points says {declared}, the file holds {len(rows)} points")
    return np.asarray(rows, dtype=np.float32) - PTS_ORIGIN


def write_pts(path: str | Path, points: np.ndarray) -> None:
    """Write (K, 2) points (counted from pixel centre 0, as `read_pts` gives them) as a `.pts`
    file with its header, through a temporary name and a rename."""
    path = Path(path)
    body = "\n".join(f"{x:.3f} {y:.3f}" for x, y in np.asarray(points, np.float64) + PTS_ORIGIN)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"version: 1\nn_points: {len(points)}\n{{\n{body}\n}}\n")
    os.replace(tmp, path)


def read_pts_folders(
    folders: list[Path], name: str = "", skip_bad: bool = False, source: str | None = None
) -> FaceRecords:
    """Every `NAME.pts` with an image `NAME.<jpg|png|...>` beside it in `folders`, in sorted
    order, as FaceRecords of the scheme their point count names (5, 68 or 98). Bad files raise
    DataError (or with `skip_bad` are recorded in `records.skipped`)."""
    from ..inference.boxes import box_from_points

    images: list[Path] = []
    points: list[np.ndarray] = []
    sources: list[str] = []
    skipped: list[BadLine] = []
    sizes: dict[Path, tuple[int, int] | None] = {}
    count: int | None = None
    for folder in folders:
        if not folder.is_dir():
            raise DataError(folder, "folder not found (is --data-root the 300w folder?)")
        for pts_file in sorted(folder.glob("*.pts")):
            try:
                pts = read_pts(pts_file)
                image = _image_beside(pts_file)
                if count is None:
                    count = len(pts)
                if len(pts) != count:
                    raise DataError(
                        pts_file, f"{len(pts)} points, while the files before hold {count}"
                    )
                try:
                    check_points(image, pts, sizes)
                except ValueError as e:
                    raise DataError(pts_file, str(e)) from None
            except DataError as e:
                if not skip_bad:
                    raise
                skipped.append(BadLine(e.path, e.line or 0, e.message))
                continue
            images.append(image)
            points.append(pts)
            sources.append(source or folder.name)
    if not images and not skipped:
        raise DataError(folders[0] if folders else Path("."), "no .pts files here")
    scheme = get_scheme(count or 68)
    pts_arr = np.asarray(points, dtype=np.float32).reshape(-1, scheme.num_points, 2)
    return FaceRecords(
        scheme=scheme,
        images=images,
        boxes=box_from_points(pts_arr, scheme) if len(images) else np.zeros((0, 4)),
        points=pts_arr,
        sources=sources,
        name=name,
        skipped=skipped,
    )


def read_300w(root: str | Path, split: str, skip_bad: bool = False) -> FaceRecords:
    """One split of the 300-W folder (see SPLITS)."""
    root = Path(root)
    if split not in SPLITS:
        raise DataError(root, f"300w has splits {', '.join(SPLITS)}, not {split!r}")
    folders = [root / f for f in SPLITS[split]]
    parts = [
        read_pts_folders([f], name=f"300w {split}", skip_bad=skip_bad, source=_source(f))
        for f in folders
    ]
    return parts[0] if len(parts) == 1 else _concat(parts, f"300w {split}")


def _source(folder: Path) -> str:
    return "helen" if folder.parent.name == "helen" else folder.name


def _image_beside(pts_file: Path) -> Path:
    for suffix in _IMAGE_SUFFIXES:
        for candidate in (pts_file.with_suffix(suffix), pts_file.with_suffix(suffix.upper())):
            if candidate.is_file():
                return candidate
    raise DataError(pts_file, "no image beside it (looked for .jpg, .jpeg, .png, .bmp)")


def _concat(parts: list[FaceRecords], name: str) -> FaceRecords:
    scheme = parts[0].scheme
    if any(p.scheme.name != scheme.name for p in parts):
        raise DataError(name, "folders with different point counts")
    return FaceRecords(
        scheme=scheme,
        images=[i for p in parts for i in p.images],
        boxes=np.concatenate([p.boxes for p in parts]),
        points=np.concatenate([p.points for p in parts]),
        sources=[s for p in parts for s in p.sources],
        name=name,
        skipped=[s for p in parts for s in p.skipped],
    )
