"""`facepoints data show`: a grid of annotated faces (box and numbered landmarks) to look at a
dataset with one's own eyes; random faces by seed, or named images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from ..schemes import Scheme
from .records import FaceRecords

__all__ = ["show_samples", "data_show", "face_tile", "tile_matrix", "select_faces"]

BOX_COLOR = (255, 255, 255)
_MARGIN = 0.3  # crop side = (box and points extent) * (1 + margin)


def show_samples(
    records: FaceRecords,
    out_path: str | Path,
    count: int = 16,
    seed: int = 0,
    images: Sequence[str] | None = None,
    cols: int | None = None,
    numbers: bool = True,
    crop: bool = True,
) -> Path:
    """Draw `count` random faces (seeded) or every face of the named `images` with box and
    landmarks (numbered, coloured by the scheme's groups), tile them with their image names as
    captions, and save the grid atomically to `out_path`."""
    from ..draw import make_grid
    from ..io import load_image, save_image

    idx = select_faces(records, count=count, seed=seed, images=images)
    size = 256 if records.scheme.num_points <= 20 else 448  # dense numbers need room
    tiles = []
    cache: dict[Path, np.ndarray] = {}
    for i in idx:
        path = records.images[i]
        if path not in cache:
            cache = {path: load_image(path)}  # faces of one image are consecutive in lists
        tiles.append(
            face_tile(
                cache[path],
                records.boxes[i],
                records.points[i],
                records.scheme,
                size=size,
                crop=crop,
                numbers=numbers,
            )
        )
    grid = make_grid(tiles, cols=cols, captions=_captions(records, idx), cell=size)
    out = Path(out_path)
    save_image(out, grid)
    return out


def data_show(
    data_root: str | Path | None = None,
    dataset: str | None = None,
    split: str = "train",
    out: str | Path = "runs/show.jpg",
    count: int = 16,
    seed: int = 0,
    images: Sequence[str] | None = None,
    skip_bad: bool = False,
    augment: str | None = None,
) -> Path:
    """Read one split of a dataset and write `show_samples`'s grid to `out` (the CLI's call);
    with `augment` ("standard" or "wild"), `show_augmented`'s grid instead."""
    from . import read_dataset

    records = read_dataset(dataset, split, data_root=data_root, skip_bad=skip_bad)
    if augment:
        return show_augmented(records, out, kind=augment, count=count, seed=seed)
    return show_samples(records, out, count=count, seed=seed, images=images)


def show_augmented(
    records: FaceRecords,
    out_path: str | Path,
    kind: str = "wild",
    count: int = 8,
    seed: int = 0,
    versions: int = 4,
    size: int = 80,
    margin: float = 0.6,
) -> Path:
    """A grid of training crops as a model sees them: `count` faces (columns), each in its plain
    crop (first row) and `versions` augmented draws of kind `kind` (rows below), landmarks drawn
    where augmentation moved them; saved atomically to `out_path`."""
    import cv2

    from ..draw import draw_landmarks, group_colors, make_grid
    from ..io import save_image
    from .dataset import LandmarkDataset
    from .transforms import AUGMENTATIONS

    if kind not in AUGMENTATIONS:
        raise ConfigError(f"unknown augmentation {kind!r}; known: {', '.join(AUGMENTATIONS)}")
    idx = select_faces(records, count=count, seed=seed)
    faces = records.subset(np.asarray(idx))
    plain = LandmarkDataset(faces, size, margin=margin, cache=False, progress=False)
    aug = LandmarkDataset(
        faces, size, margin=margin, augment=1.0, augment_kind=kind, seed=seed, cache=False,
        progress=False,
    )  # fmt: skip
    cell = 160
    tiles = []
    for row in range(versions + 1):
        aug.set_epoch(row)
        for i in range(len(faces)):
            s = plain.sample(i) if row == 0 else aug.sample(i)
            big = cv2.resize(s.image, (cell, cell), interpolation=cv2.INTER_NEAREST)
            pts = (s.points + 0.5) * cell / size - 0.5
            tiles.append(
                draw_landmarks(big, pts, group_colors(records.scheme), radius=1.5,
                               scheme=records.scheme, numbers=False)
            )  # fmt: skip
    grid = make_grid(tiles, cols=len(faces), cell=cell)
    out = Path(out_path)
    save_image(out, grid)
    return out


def select_faces(
    records: FaceRecords,
    count: int = 16,
    seed: int = 0,
    images: Sequence[str] | None = None,
) -> list[int]:
    """Indices of the faces to show: every face of the named images (a file name or a path
    suffix such as "lfw_5590/Aaron_Eckhart_0001.jpg", `\\` or `/`), in the order named, or
    `count` distinct random faces drawn with `seed`. Unknown names raise DataError."""
    if images:
        posix = [p.as_posix() for p in records.images]
        picked: list[int] = []
        missing: list[str] = []
        for name in dict.fromkeys(images):
            key = _name_key(name)
            hits = [i for i, p in enumerate(posix) if key and (p == key or p.endswith("/" + key))]
            if hits:
                picked += [i for i in hits if i not in picked]
            else:
                missing.append(name)
        if missing:
            where = records.name or "the records"
            raise DataError(where, f"no face of these images in this list: {', '.join(missing)}")
        return picked
    if count < 1:
        raise ConfigError(f"count must be at least 1, got {count}")
    if len(records) == 0:
        raise DataError(records.name or "the records", "no faces to show")
    rng = np.random.default_rng(seed)
    return [int(i) for i in rng.choice(len(records), size=min(count, len(records)), replace=False)]


def face_tile(
    image: np.ndarray,
    box: np.ndarray,
    points: np.ndarray,
    scheme: Scheme | str | int,
    size: int = 256,
    crop: bool = True,
    numbers: bool = True,
    margin: float = _MARGIN,
) -> np.ndarray:
    """A (size, size, 3) RGB tile of one face: the region around box and points (crop=True) or
    the whole image, letterboxed, with the box in white and the landmarks drawn in the scheme's
    group colours (numbered when `numbers`). Drawing happens at tile resolution, so dots and
    numbers read the same whatever the photo's size."""
    from ..draw import draw_box, draw_landmarks, group_colors
    from ..geometry import apply, warp

    m = tile_matrix(box, points, image.shape, size=size, crop=crop, margin=margin)
    tile = warp(image, m, size)
    corners = apply(m, np.asarray(box, dtype=np.float64).reshape(2, 2)).reshape(4)
    tile = draw_box(tile, corners, BOX_COLOR, thickness=1)
    return draw_landmarks(
        tile,
        apply(m, points),
        group_colors(scheme),
        radius=size / 80 if len(points) <= 20 else None,  # sparse schemes: bigger, readable
        scheme=scheme,
        numbers=numbers,
        connect=True,
    )


def tile_matrix(
    box: np.ndarray,
    points: np.ndarray,
    image_shape: tuple[int, ...],
    size: int = 256,
    crop: bool = True,
    margin: float = _MARGIN,
) -> np.ndarray:
    """The 2x3 map image -> tile used by `face_tile` (no rotation, so boxes stay boxes)."""
    from ..geometry import crop_matrix

    if crop:
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        p = p[np.isfinite(p).all(axis=1)]
        b = np.asarray(box, dtype=np.float64).reshape(2, 2)
        ext = np.concatenate([b, p]) if len(p) else b
        region = np.concatenate([ext.min(axis=0), ext.max(axis=0)])
        return crop_matrix(region, size, margin=margin)
    h, w = image_shape[:2]
    return crop_matrix(np.array([-0.5, -0.5, w - 0.5, h - 0.5]), size)


def _captions(records: FaceRecords, idx: list[int]) -> list[str]:
    """Image file names; "#k" tells apart faces that share an image."""
    out = []
    for i in idx:
        p = records.images[i]
        same = [j for j, q in enumerate(records.images) if q == p]
        out.append(p.name if len(same) == 1 else f"{p.name} #{same.index(i) + 1}")
    return out


def _name_key(name: str) -> str:
    key = name.replace("\\", "/")
    while key.startswith("./"):
        key = key[2:]
    return key.strip("/")
