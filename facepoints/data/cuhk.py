"""Reader of the CUHK face point lists (Sun, Wang, Tang, CVPR 2013): trainImageList.txt and
testImageList.txt. A line: image path, box as left right top bottom, then 5 x y pairs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from ..schemes import CUHK5
from .lines import bad_line, check_points, list_lines, parse_numbers, resolve_image
from .records import FaceRecords

__all__ = ["SPLIT_FILES", "read_cuhk_list", "parse_cuhk_line"]

SPLIT_FILES = {"train": "trainImageList.txt", "test": "testImageList.txt"}
_FIELDS = 15


def read_cuhk_list(
    path: str | Path,
    root: str | Path | None = None,
    skip_bad: bool = False,
    check_images: bool = True,
) -> FaceRecords:
    """Read one CUHK list. Image paths are relative to `root` (default: the list's folder).

    Any malformed line raises DataError naming file and line; with `skip_bad` such lines are
    dropped and recorded in `records.skipped` instead. `check_images`: each image must exist,
    and no point may lie far outside it (its size read from the header alone)."""
    path = Path(path)
    root = Path(root) if root is not None else path.parent

    images: list[Path] = []
    boxes, points, sources, skipped = [], [], [], []
    seen: dict[str, int] = {}
    sizes: dict[Path, tuple[int, int] | None] = {}
    for lineno, line in list_lines(path):
        try:
            rel, box, pts = parse_cuhk_line(line)
            img = resolve_image(root, rel)
            if check_images:
                if not img.is_file():
                    raise ValueError(f"image not found: {img}")
                check_points(img, pts, sizes)
            key = rel.replace("\\", "/")
            if key in seen:
                raise ValueError(f"duplicate image (first on line {seen[key]}): {rel}")
            seen[key] = lineno
        except ValueError as e:
            bad_line(path, lineno, e, skip_bad, skipped)
            continue
        images.append(img)
        boxes.append(box)
        points.append(pts)
        sources.append(rel.replace("\\", "/").split("/")[0].split("_")[0])
    if not images and not skipped:
        raise DataError(path, "no faces in list")
    recs = FaceRecords(
        scheme=CUHK5,
        images=images,
        boxes=np.array(boxes, dtype=np.float32).reshape(-1, 4),
        points=np.array(points, dtype=np.float32).reshape(-1, 5, 2),
        sources=sources,
        name=path.name,
        skipped=skipped,
    )
    return recs


def parse_cuhk_line(line: str) -> tuple[str, np.ndarray, np.ndarray]:
    """(relative image path, box x1 y1 x2 y2, points (5, 2)) of one line, or ValueError."""
    fields = line.strip().split()
    if len(fields) != _FIELDS:
        raise ValueError(
            f"expected {_FIELDS} fields (path, 4 box, 10 point values), got {len(fields)}"
        )
    rel = fields[0]
    nums = np.array(parse_numbers(fields[1:], first=2), dtype=np.float32)
    left, right, top, bottom = (float(v) for v in nums[:4])
    if right <= left or bottom <= top:  # compared as stored: float32
        raise ValueError(
            f"empty or inverted box (left {left:g} right {right:g} top {top:g} bottom {bottom:g})"
        )
    box = np.array([left, top, right, bottom], dtype=np.float32)
    pts = nums[4:].reshape(5, 2)
    return rel, box, pts
