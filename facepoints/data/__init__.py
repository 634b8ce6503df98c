"""Datasets: readers by name (a registry), data roots, and the torch Dataset of face crops."""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from ..registry import Registry
from .paths import resolve_data_root
from .records import BadLine, FaceRecords

__all__ = ["DATASETS", "FaceRecords", "BadLine", "read_dataset", "detect_dataset", "DatasetInfo"]


class DatasetInfo:
    """One dataset kind: its name, scheme, splits, how to recognise its folder and read a split."""

    name: str = ""
    scheme: str = ""
    splits: tuple[str, ...] = ()

    def matches(self, root: Path) -> bool:
        raise NotImplementedError

    def read(self, root: Path, split: str, skip_bad: bool = False) -> FaceRecords:
        raise NotImplementedError

    def available_splits(self, root: Path) -> list[str]:
        """The splits whose files are present under root (a sample may lack some)."""
        return [s for s in self.splits if self.has_split(root, s)]

    def has_split(self, root: Path, split: str) -> bool:
        raise NotImplementedError


DATASETS: Registry[DatasetInfo] = Registry("dataset")


@DATASETS.register("cuhk5")
class CUHK5Info(DatasetInfo):
    name = "cuhk5"
    scheme = "cuhk5"
    splits = ("train", "test")

    def matches(self, root: Path) -> bool:
        return (root / "trainImageList.txt").is_file() or (root / "testImageList.txt").is_file()

    def has_split(self, root: Path, split: str) -> bool:
        from .cuhk import SPLIT_FILES

        return split in SPLIT_FILES and (root / SPLIT_FILES[split]).is_file()

    def read(self, root: Path, split: str, skip_bad: bool = False) -> FaceRecords:
        from .cuhk import SPLIT_FILES, read_cuhk_list

        if split not in SPLIT_FILES:
            raise DataError(root, f"cuhk5 has splits {', '.join(SPLIT_FILES)}, not {split!r}")
        f = root / SPLIT_FILES[split]
        if not f.is_file():
            raise DataError(f, "list file not found (is --data-root the cuhk5 folder?)")
        return read_cuhk_list(f, root=root, skip_bad=skip_bad)


@DATASETS.register("wflw")
class WFLWInfo(DatasetInfo):
    name = "wflw"
    scheme = "wflw98"
    splits = ("train", "test")

    def matches(self, root: Path) -> bool:
        return (root / "WFLW_annotations").is_dir()

    def has_split(self, root: Path, split: str) -> bool:
        from .wflw import RECT_ATTR_FILE, TEST_LIST, TEST_LIST_DIR

        if (root / RECT_ATTR_FILE.format(split)).is_file():
            return True
        return split == "test" and (root / TEST_LIST_DIR / TEST_LIST).is_file()

    def read(self, root: Path, split: str, skip_bad: bool = False) -> FaceRecords:
        from .wflw import read_wflw

        return read_wflw(root, split, skip_bad=skip_bad)


@DATASETS.register("300w")
class W300Info(DatasetInfo):
    """300-W's HELEN and AFW faces, 68 points from `.pts` files: "train" (HELEN trainset and
    AFW), "test" (HELEN testset, part of 300-W's common subset), "helen_train", "afw"."""

    name = "300w"
    scheme = "ibug68"
    splits = ("train", "test", "helen_train", "afw")

    def matches(self, root: Path) -> bool:
        return (root / "helen" / "trainset").is_dir() or (root / "helen" / "testset").is_dir()

    def has_split(self, root: Path, split: str) -> bool:
        from .w300 import SPLITS

        return split in SPLITS and all((root / f).is_dir() for f in SPLITS[split])

    def read(self, root: Path, split: str, skip_bad: bool = False) -> FaceRecords:
        from .w300 import read_300w

        return read_300w(root, split, skip_bad=skip_bad)


@DATASETS.register("300w5")
class W300FiveInfo(W300Info):
    """300-W's faces (the same splits) in CUHK's five points, for 5-point models: each eye's six
    contour points averaged (its centre), the nose tip and the mouth corners; the boxes still
    from all 68 points."""

    name = "300w5"
    scheme = "cuhk5"

    def matches(self, root: Path) -> bool:
        return False  # never guessed from a folder: the folder reads as "300w"

    def read(self, root: Path, split: str, skip_bad: bool = False) -> FaceRecords:
        return _in_scheme(super().read(root, split, skip_bad), self.scheme, f"{self.name} {split}")


def _in_scheme(records: FaceRecords, scheme: str, name: str) -> FaceRecords:
    """`records` with their points projected into `scheme` (boxes, images and the rest kept)."""
    import dataclasses

    from ..schemes import get_scheme, project

    target = get_scheme(scheme)
    return dataclasses.replace(
        records, scheme=target, points=project(records.points, records.scheme, target), name=name
    )


# The WFLW sample's halves for the dense model: photos split at random (seed 0); "tune" fits the
# teachers' maps and fine-tunes the student, "heldout" is only ever evaluated on.
WFLW68_HELDOUT_FRACTION = 0.5
WFLW68_SEED = 0


@DATASETS.register("wflw68")
class WFLW68Info(DatasetInfo):
    """WFLW's faces as 68 iBUG points (98 -> 68 projection) with CUHK-convention boxes from the
    annotated geometry, in two halves by photo: "tune" and "heldout" ("test": both)."""

    name = "wflw68"
    scheme = "ibug68"
    splits = ("tune", "heldout", "test")

    def matches(self, root: Path) -> bool:
        return False  # never guessed from a folder: WFLW's own layout reads as "wflw"

    def has_split(self, root: Path, split: str) -> bool:
        return split in self.splits and WFLWInfo().has_split(root, "test")

    def read(self, root: Path, split: str, skip_bad: bool = False) -> FaceRecords:
        from ..schemes import get_scheme

        if split not in self.splits:
            raise DataError(root, f"{self.name} has splits {', '.join(self.splits)}, not {split!r}")
        return _wflw_halves(root, split, get_scheme(self.scheme), self.name, skip_bad)


@DATASETS.register("wflw98")
class WFLW98Info(WFLW68Info):
    """The same halves as wflw68 ("tune", "heldout", "test") with WFLW's own 98 points."""

    name = "wflw98"
    scheme = "wflw98"


@DATASETS.register("wflw5")
class WFLW5Info(WFLW68Info):
    """The same halves as wflw68 ("tune", "heldout", "test") in CUHK's five points: WFLW's
    pupils, nose tip and mouth corners."""

    name = "wflw5"
    scheme = "cuhk5"


def _wflw_halves(root: Path, split: str, scheme, name: str, skip_bad: bool) -> FaceRecords:
    from ..inference.boxes import box_from_points
    from ..schemes import project
    from .wflw import read_wflw

    r = read_wflw(root, "test", skip_bad=skip_bad)
    faces = FaceRecords(
        scheme=scheme,
        images=r.images,
        boxes=box_from_points(r.points, r.scheme),
        points=project(r.points, r.scheme, scheme),
        sources=r.sources,
        attributes=r.attributes,
        name=f"{name} {split}",
        skipped=r.skipped,
    )
    if split == "test":
        return faces
    tune, heldout = faces.split_by_image(WFLW68_HELDOUT_FRACTION, WFLW68_SEED)
    return tune if split == "tune" else heldout


@DATASETS.register("pseudo68")
class Pseudo68Info(DatasetInfo):
    """A folder written by `facepoints data pseudolabel`: "train" is its faces with status ok,
    "all" every face."""

    name = "pseudo68"
    scheme = "ibug68"
    splits = ("train", "all")

    def matches(self, root: Path) -> bool:
        from .pseudolabel import LABELS_FILE

        return (root / LABELS_FILE).is_file()

    def has_split(self, root: Path, split: str) -> bool:
        return split in self.splits and self.matches(root)

    def read(self, root: Path, split: str, skip_bad: bool = False) -> FaceRecords:
        from .pseudolabel import LABELS_FILE, read_pseudolabels

        if split not in self.splits:
            raise DataError(root, f"pseudo68 has splits {', '.join(self.splits)}, not {split!r}")
        status = ("ok",) if split == "train" else None
        return read_pseudolabels(root / LABELS_FILE, status=status, skip_bad=skip_bad)


def detect_dataset(root: str | Path) -> str:
    """The name of the dataset whose layout `root` holds."""
    root = Path(root)
    for name in DATASETS:
        info = DATASETS.get(name)()
        if info.matches(root) or info.matches(root / name):
            return name
    raise DataError(root, f"no known dataset layout here (known: {', '.join(DATASETS)})")


def read_dataset(
    name: str | None = None,
    split: str = "train",
    data_root: str | Path | None = None,
    skip_bad: bool = False,
) -> FaceRecords:
    """Read one split of a dataset by name; with name None the layout of data_root decides."""
    if name is None:
        if data_root is None:
            name = "cuhk5"
        else:
            name = detect_dataset(data_root)
    info = DATASETS.get(name)()
    root = resolve_data_root(name, data_root)
    if not root.is_dir():
        raise DataError(
            root,
            f"dataset {name} not found; run `facepoints data download {name}` or pass --data-root",
        )
    return info.read(root, split, skip_bad=skip_bad)
