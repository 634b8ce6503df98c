"""The torch Dataset of face crops: crop by box with a margin, resize, augment, and keep the map
back to the image. Decoded context crops are cached (a .npy per dataset and size in the user cache
folder, memory-mapped), so an epoch never decodes a JPEG twice."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..errors import ImageError
from ..geometry import apply, crop_matrix, invert, warp
from ..io import atomic_write_bytes, load_image
from ..workers import init_worker
from .paths import user_cache_dir
from .records import FaceRecords
from .transforms import CenterCrop, Sample, build_augmentation, build_photometric

__all__ = [
    "LandmarkDataset",
    "make_crop",
    "to_tensor",
    "crop_to_image",
    "make_loader",
    "context_pad",
    "DEFAULT_MARGIN",
    "check_bad_faces",
]

DEFAULT_MARGIN = 0.2  # crop side = box side * (1 + margin)
_CACHE_VERSION = 1


def context_pad(input_size: int) -> int:
    """Extra pixels kept on each side of the crop for augmentation to rotate and shift into."""
    return int(round(input_size * 0.25))


def make_crop(
    image: np.ndarray, box: np.ndarray, input_size: int, margin: float = DEFAULT_MARGIN
) -> tuple[np.ndarray, np.ndarray]:
    """(crop (S, S, 3) uint8, map image -> crop) for one face box; the one crop function."""
    m = crop_matrix(box, input_size, margin=margin)
    return warp(image, m, input_size), m


def to_tensor(images: np.ndarray, in_channels: int = 3) -> torch.Tensor:
    """(H, W, 3) or (N, H, W, 3) uint8 RGB -> float tensor (C, H, W) / (N, C, H, W), about
    zero-mean. Grey models get the luma channel."""
    a = np.asarray(images)
    single = a.ndim == 3
    if single:
        a = a[None]
    if in_channels == 1:
        a = (a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114)[..., None]
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(0, 3, 1, 2)
    t = (t / 255.0 - 0.5) / 0.25
    return t[0] if single else t


def crop_to_image(points: np.ndarray, matrices: np.ndarray, input_size: int) -> np.ndarray:
    """Model outputs (N, K, 2), normalised crop coordinates, -> image pixels via the inverse maps
    (N, 2, 3)."""
    inv = np.stack([invert(m) for m in np.asarray(matrices)])
    return apply(inv, np.asarray(points, dtype=np.float64) * input_size)


def check_bad_faces(bad: list[tuple[Path, str]], n: int, max_bad: float) -> None:
    """ImageError naming the first bad image when more than `max_bad` of `n` faces are bad
    (`bad`: (image, message) as `LandmarkDataset.bad` lists them)."""
    if len(bad) > max_bad * n:
        first, message = bad[0]
        raise ImageError(
            first,
            f"{message} ({len(bad)} of {n} faces have images that cannot be decoded; "
            f"at most {max_bad:.0%} may be skipped)",
        )


class LandmarkDataset(Dataset):
    """Face crops of `records` at `input_size`, with training augmentation when `augment` > 0.

    Item: dict(image (C, S, S) float32, points (K, 2) float32 normalised to the crop, matrix
    (2, 3) float64 image -> crop, index int).

    A face whose image cannot be decoded is left out (`records` then holds the others and `bad`
    lists (image, message) of those left out) when they are at most `max_bad` of the faces;
    more raise ImageError. The default, 0, lets no bad image pass."""

    def __init__(
        self,
        records: FaceRecords,
        input_size: int,
        in_channels: int = 3,
        margin: float = DEFAULT_MARGIN,
        augment: float = 0.0,
        flip: bool = True,
        augment_kind: str = "standard",
        cache: bool = True,
        seed: int = 0,
        progress: bool = True,
        max_bad: float = 0.0,
    ):
        self.records = records
        self.input_size = int(input_size)
        self.in_channels = int(in_channels)
        self.margin = float(margin)
        self.pad = context_pad(self.input_size)
        self.ctx = self.input_size + 2 * self.pad
        # margin of the context crop so its centre window is exactly the margin crop
        self.ctx_margin = (1 + self.margin) * self.ctx / self.input_size - 1
        self.geometric = build_augmentation(augment, flip=flip, kind=augment_kind)
        self.photometric = build_photometric(augment, kind=augment_kind)
        self.center = CenterCrop(self.input_size)
        self.seed = seed
        self.epoch = 0
        self.crops, self.matrices, bad = _context_crops(
            records, self.ctx, self.ctx_margin, cache=cache, progress=progress
        )
        self.bad: list[tuple[Path, str]] = [(records.images[i], msg) for i, msg in bad]
        self._rows = np.arange(len(records))  # face i's row in self.crops
        if bad:
            check_bad_faces(self.bad, len(records), max_bad)
            self._rows = np.setdiff1d(self._rows, [i for i, _ in bad])
            self.records = records.subset(self._rows)
            self.matrices = self.matrices[self._rows]

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        """Different augmentation every epoch, the same for the same (seed, epoch, index)."""
        self.epoch = int(epoch)

    def sample(self, i: int) -> Sample:
        """The (augmented) crop of face i as a Sample: image, points in crop pixels, matrix."""
        m = self.matrices[i]
        s = Sample(
            image=np.array(self.crops[self._rows[i]]),
            points=apply(m, self.records.points[i]),
            matrix=m,
            scheme=self.records.scheme,
        )
        if self.geometric.transforms or self.photometric.transforms:
            rng = np.random.default_rng((self.seed, self.epoch, i))
            s = self.geometric(s, rng)
            s = self.center(s)
            s = self.photometric(s, rng)
        else:
            s = self.center(s)
        return s

    def __getitem__(self, i: int) -> dict:
        s = self.sample(i)
        return {
            "image": to_tensor(s.image, self.in_channels),
            "points": torch.from_numpy((s.points / self.input_size).astype(np.float32)),
            "matrix": torch.from_numpy(np.asarray(s.matrix, dtype=np.float64)),
            "index": i,
        }


def make_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool = False,
    workers: int = 0,
    seed: int = 0,
    drop_last: bool = False,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader with a seeded shuffle; workers > 0 run augmentation in parallel. pin_memory:
    batches in page-locked memory, for asynchronous copies to a GPU."""
    g = torch.Generator()
    g.manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=workers,
        generator=g,
        drop_last=drop_last,
        pin_memory=pin_memory,
        persistent_workers=False,
        worker_init_fn=functools.partial(init_worker, os.getpid()),
    )


# --- the crop cache -----------------------------------------------------------------------------


def _cache_key(records: FaceRecords, size: int, margin: float) -> str:
    h = hashlib.sha1()
    h.update(f"v{_CACHE_VERSION}|{size}|{margin:.6f}|".encode())
    for p in records.images:
        h.update(str(p).encode())
        h.update(b"|")
    h.update(np.ascontiguousarray(records.boxes, dtype=np.float32).tobytes())
    return h.hexdigest()[:20]


def _context_crops(
    records: FaceRecords, size: int, margin: float, cache: bool, progress: bool
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, str]]]:
    """(crops (N, size, size, 3) uint8, maps (N, 2, 3), [(index, message)] of the faces whose
    image could not be decoded: their crops are black). The cache keeps that list beside the
    crops in a small .bad.json, written before them."""
    mats = (
        np.stack([crop_matrix(b, size, margin=margin) for b in records.boxes])
        if len(records)
        else np.zeros((0, 2, 3))
    )
    path = user_cache_dir() / "crops" / f"{_cache_key(records, size, margin)}.npy"
    bad_path = path.with_suffix(".bad.json")
    if cache and path.is_file():
        try:
            arr = np.load(path, mmap_mode="r")
            bad = json.loads(bad_path.read_text()) if bad_path.is_file() else []
            if arr.shape == (len(records), size, size, 3):
                return arr, mats, [(int(i), str(m)) for i, m in bad]
        except (OSError, ValueError, TypeError):
            pass  # a damaged cache is rebuilt below
    arr, bad = _build_crops(records, mats, size, progress)
    if cache:
        try:
            if bad:
                atomic_write_bytes(bad_path, json.dumps(bad).encode())
            elif bad_path.is_file():
                bad_path.unlink()
            _save_npy_atomic(path, arr)
            return np.load(path, mmap_mode="r"), mats, bad
        except OSError:
            pass  # a read-only or full cache folder only costs speed
    return arr, mats, bad


def _build_crops(records, mats, size, progress) -> tuple[np.ndarray, list[tuple[int, str]]]:
    from tqdm import tqdm

    out = np.zeros((len(records), size, size, 3), dtype=np.uint8)
    bad: list[tuple[int, str]] = []

    def one(i: int) -> None:
        try:
            out[i] = warp(load_image(records.images[i]), mats[i], size)
        except ImageError as e:
            bad.append((i, e.message))

    workers = min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as ex:
        it = ex.map(one, range(len(records)))
        for _ in tqdm(
            it,
            total=len(records),
            desc=f"caching {records.name or 'faces'} crops ({size}px)",
            disable=not progress or len(records) < 200,
            leave=False,
        ):
            pass
    return out, sorted(bad)


def _save_npy_atomic(path: Path, arr: np.ndarray) -> None:
    from ..io import atomic_write

    with atomic_write(path, "wb") as f:
        np.save(f, arr)
