"""Readers of WFLW's lists (Wu et al., CVPR 2018): 98 points per face plus six attribute flags.

Two formats, both laid out as in the official archive under the dataset's root:
- `WFLW_annotations/list_98pt_rect_attr_train_test/list_98pt_rect_attr_{train,test}.txt`:
  196 numbers (98 x y pairs), box x_min y_min x_max y_max, six 0/1 flags, image path;
- `WFLW_annotations/list_98pt_test/list_98pt_test.txt`: 196 numbers and image path (no box, no
  flags), with `list_98pt_test_<attribute>.txt` holding the lines of the faces that have it.
Image paths are relative to `WFLW_images/`. One photo can hold several faces, so a repeated
image is normal; only an exactly repeated face (same path and numbers) is an error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from ..schemes import WFLW98
from .lines import bad_line, check_points, list_lines, parse_numbers, resolve_image
from .records import BadLine, FaceRecords

__all__ = [
    "ATTRIBUTES",
    "SPLITS",
    "read_wflw",
    "read_wflw_rect_attr",
    "read_wflw_subset_lists",
    "parse_rect_attr_line",
    "parse_points_line",
]

# the flags' order in the rect_attr lists; the names are the subset lists' suffixes
ATTRIBUTES = ("largepose", "expression", "illumination", "makeup", "occlusion", "blur")
SPLITS = ("train", "test")
IMAGES_DIR = "WFLW_images"
RECT_ATTR_FILE = "WFLW_annotations/list_98pt_rect_attr_train_test/list_98pt_rect_attr_{}.txt"
TEST_LIST_DIR = "WFLW_annotations/list_98pt_test"
TEST_LIST = "list_98pt_test.txt"

_K = WFLW98.num_points
_NUMS = 2 * _K  # 196
_RECT_FIELDS = _NUMS + 4 + len(ATTRIBUTES) + 1  # 207
_POINT_FIELDS = _NUMS + 1  # 197


def read_wflw(root: str | Path, split: str, skip_bad: bool = False) -> FaceRecords:
    """One split of a WFLW folder (holding WFLW_annotations/ and WFLW_images/): the rect_attr
    list when present, else for "test" the subset lists (boxes from the points' extent)."""
    root = Path(root)
    if split not in SPLITS:
        raise DataError(root, f"wflw has splits {', '.join(SPLITS)}, not {split!r}")
    rect = root / RECT_ATTR_FILE.format(split)
    if rect.is_file():
        return read_wflw_rect_attr(rect, root / IMAGES_DIR, skip_bad=skip_bad)
    lists = root / TEST_LIST_DIR
    if split == "test" and (lists / TEST_LIST).is_file():
        return read_wflw_subset_lists(lists, root / IMAGES_DIR, skip_bad=skip_bad)
    also = f" or {lists / TEST_LIST}" if split == "test" else ""
    raise DataError(
        rect, f"no {split} split here: list file not found{also} (is --data-root the WFLW folder?)"
    )


def read_wflw_rect_attr(
    path: str | Path,
    images_root: str | Path | None = None,
    skip_bad: bool = False,
    check_images: bool = True,
) -> FaceRecords:
    """Read an official `list_98pt_rect_attr_{train,test}.txt`. Image paths are relative to
    `images_root` (default: WFLW_images/ beside WFLW_annotations/). `records.attributes` holds
    the six flags by name (ATTRIBUTES); `records.sources` the WIDER FACE event folder.

    Any malformed line raises DataError naming file and line; with `skip_bad` such lines are
    dropped and recorded in `records.skipped` instead. `check_images`: each image must exist,
    and no point may lie far outside it (its size read from the header alone)."""
    path = Path(path)
    images_root = Path(images_root) if images_root is not None else _default_images(path, 3)
    faces = _Faces()
    seen: dict[tuple, int] = {}
    sizes: dict[Path, tuple[int, int] | None] = {}
    for lineno, line in list_lines(path):
        try:
            rel, pts, box, flags = parse_rect_attr_line(line)
            img = _image(images_root, rel, pts, check_images, sizes)
            key = (_norm_rel(rel), pts.tobytes(), box.tobytes(), flags.tobytes())
            if key in seen:
                raise ValueError(f"duplicate face (first on line {seen[key]}): {rel}")
            seen[key] = lineno
        except ValueError as e:
            bad_line(path, lineno, e, skip_bad, faces.skipped)
            continue
        faces.add(img, rel, pts, box, flags)
    return faces.records(path)


def read_wflw_subset_lists(
    list_dir: str | Path,
    images_root: str | Path | None = None,
    skip_bad: bool = False,
    check_images: bool = True,
) -> FaceRecords:
    """Read `list_98pt_test.txt` in `list_dir` and set each face's attribute flags from the
    `list_98pt_test_<attribute>.txt` lists that hold its line (same path and numbers).

    These lists carry no face box: each face's box is its points' extent (min x, min y, max x,
    max y), tighter than the rect_attr lists' detector boxes. Image paths are relative to
    `images_root` (default: WFLW_images/ beside WFLW_annotations/). Errors as
    `read_wflw_rect_attr`; a subset line whose face is not in the full list is one too."""
    list_dir = Path(list_dir)
    images_root = Path(images_root) if images_root is not None else _default_images(list_dir, 2)
    path = list_dir / TEST_LIST
    faces = _Faces()
    index: dict[tuple, int] = {}  # face key -> its row in `faces`, or -1 if rejected
    seen: dict[tuple, int] = {}
    sizes: dict[Path, tuple[int, int] | None] = {}
    for lineno, line in list_lines(path):
        key = None
        try:
            rel, pts = parse_points_line(line)
            key = (_norm_rel(rel), pts.tobytes())
            if key in seen:
                raise ValueError(f"duplicate face (first on line {seen[key]}): {rel}")
            seen[key] = lineno
            box = _extent(pts)
            img = _image(images_root, rel, pts, check_images, sizes)
        except ValueError as e:
            if key is not None:
                index.setdefault(key, -1)
            bad_line(path, lineno, e, skip_bad, faces.skipped)
            continue
        index[key] = len(faces.images)
        faces.add(img, rel, pts, box, np.zeros(len(ATTRIBUTES), dtype=bool))

    flags = np.zeros((len(faces.images), len(ATTRIBUTES)), dtype=bool)
    for a, name in enumerate(ATTRIBUTES):
        sub = list_dir / TEST_LIST.replace(".txt", f"_{name}.txt")
        if not sub.is_file():
            raise DataError(sub, f"attribute list not found (needed for the {name} flags)")
        seen = {}
        for lineno, line in list_lines(sub):
            try:
                rel, pts = parse_points_line(line)
                key = (_norm_rel(rel), pts.tobytes())
                if key in seen:
                    raise ValueError(f"duplicate face (first on line {seen[key]}): {rel}")
                seen[key] = lineno
                if key not in index:
                    raise ValueError(f"face not in {TEST_LIST}: {rel}")
            except ValueError as e:
                bad_line(sub, lineno, e, skip_bad, faces.skipped)
                continue
            if index[key] >= 0:  # a face already reported as bad in the full list is left out
                flags[index[key], a] = True
    faces.flags = list(flags)
    return faces.records(path)


def parse_rect_attr_line(line: str) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """(relative image path, points (98, 2), box x1 y1 x2 y2, flags (6,) bool) of one
    rect_attr line, or ValueError."""
    fields = line.strip().split()
    if len(fields) != _RECT_FIELDS:
        raise ValueError(
            f"expected {_RECT_FIELDS} fields ({_NUMS} point values, 4 box, "
            f"{len(ATTRIBUTES)} flags, path), got {len(fields)}"
        )
    nums = parse_numbers(fields[:-1])
    pts = np.array(nums[:_NUMS], dtype=np.float32).reshape(_K, 2)
    x1, y1, x2, y2 = (float(v) for v in np.float32(nums[_NUMS : _NUMS + 4]))
    if x2 <= x1 or y2 <= y1:  # compared as stored: float32
        raise ValueError(
            f"empty or inverted box (x_min {x1:g} y_min {y1:g} x_max {x2:g} y_max {y2:g})"
        )
    flags = []
    for i, (name, v) in enumerate(zip(ATTRIBUTES, nums[_NUMS + 4 :], strict=True)):
        if v not in (0.0, 1.0):
            field = _NUMS + 5 + i
            raise ValueError(
                f"field {field} ({name} flag) must be 0 or 1, got {fields[field - 1]!r}"
            )
        flags.append(v == 1.0)
    box = np.array([x1, y1, x2, y2], dtype=np.float32)
    return fields[-1], pts, box, np.array(flags, dtype=bool)


def parse_points_line(line: str) -> tuple[str, np.ndarray]:
    """(relative image path, points (98, 2)) of one line of list_98pt_test*.txt, or ValueError."""
    fields = line.strip().split()
    if len(fields) != _POINT_FIELDS:
        raise ValueError(
            f"expected {_POINT_FIELDS} fields ({_NUMS} point values, path), got {len(fields)}"
        )
    pts = np.array(parse_numbers(fields[:-1]), dtype=np.float32).reshape(_K, 2)
    return fields[-1], pts


# --- helpers ------------------------------------------------------------------------------------


class _Faces:
    """The columns of a FaceRecords being read, line by line."""

    def __init__(self) -> None:
        self.images: list[Path] = []
        self.sources: list[str] = []
        self.points: list[np.ndarray] = []
        self.boxes: list[np.ndarray] = []
        self.flags: list[np.ndarray] = []
        self.skipped: list[BadLine] = []

    def add(self, img: Path, rel: str, pts, box, flags) -> None:
        self.images.append(img)
        # the WIDER FACE event folder, e.g. "51--Dresses"
        parts = _norm_rel(rel).split("/")
        self.sources.append(parts[0] if len(parts) > 1 else "")
        self.points.append(pts)
        self.boxes.append(box)
        self.flags.append(flags)

    def records(self, path: Path) -> FaceRecords:
        if not self.images and not self.skipped:
            raise DataError(path, "no faces in list")
        flags = np.array(self.flags, dtype=bool).reshape(-1, len(ATTRIBUTES))
        return FaceRecords(
            scheme=WFLW98,
            images=self.images,
            boxes=np.array(self.boxes, dtype=np.float32).reshape(-1, 4),
            points=np.array(self.points, dtype=np.float32).reshape(-1, _K, 2),
            sources=self.sources,
            attributes={name: flags[:, a] for a, name in enumerate(ATTRIBUTES)},
            name=path.name,
            skipped=self.skipped,
        )


def _image(root: Path, rel: str, pts: np.ndarray, check: bool, sizes: dict) -> Path:
    """The image's path; with `check`, it must exist and hold the points (see check_points)."""
    img = resolve_image(root, rel)
    if check:
        if not img.is_file():
            raise ValueError(f"image not found: {img}")
        check_points(img, pts, sizes)
    return img


def _extent(pts: np.ndarray) -> np.ndarray:
    x1, y1 = pts.min(axis=0)
    x2, y2 = pts.max(axis=0)
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"empty box: the points span {x2 - x1:g} x {y2 - y1:g} pixels")
    return np.array([x1, y1, x2, y2], dtype=np.float32)


def _norm_rel(rel: str) -> str:
    return rel.replace("\\", "/")


def _default_images(list_path: Path, up: int) -> Path:
    """WFLW_images/ beside WFLW_annotations/, `up` levels above a list file or folder."""
    root = list_path
    for _ in range(up):
        root = root.parent
    return root / IMAGES_DIR
