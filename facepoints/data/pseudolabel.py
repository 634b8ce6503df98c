"""Pseudo-labels: teachers' 68 points on a dataset's faces, in a list file a dataset reads back.

`facepoints data pseudolabel` runs the teachers (`facepoints.peers.teachers`) on every face of a
dataset's splits, with the dataset's boxes, and writes `labels.txt`:

```
# facepoints pseudo-labels 1
# scheme: ibug68
# teachers: dlib68,mediapipe
# source: cuhk5 train,test
# images_root: ../../../shared/data/cuhk5
# fields: image x1 y1 x2 y2 x0 y0 ... x67 y67 disagreement human_error status
lfw_5590/Aaron_Eckhart_0001.jpg 84.0 92.0 161.0 169.0 ... 0.0412 0.0381 ok
```

- `image`: path under `images_root` (relative to the list's folder, or absolute), `/`-separated;
- `x1 y1 x2 y2`: the face box (the source dataset's, in pixels);
- 136 numbers: the fused 68 points (iBUG order), x y in image pixels;
- `disagreement`: the teachers' mean point distance over the outer eye-corner distance (`nan`
  where only one teacher found the face);
- `human_error`: NME (inter-ocular) of the fused points projected to the 5 CUHK points against
  the dataset's human labels of those 5 points (`nan` where the source has no such labels);
- `status`: `ok` (kept for training), `disagree` (disagreement above the threshold), `human`
  (human_error above its threshold) or `single` (one teacher only).

The run appends to `labels.txt.partial` as it goes and renames it when complete, so an
interrupted run resumes where it stopped (`--resume` is implied) and a finished one is reused."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import ConfigError, DataError
from ..schemes import IBUG68, get_scheme, project
from .records import BadLine, FaceRecords

__all__ = ["LABELS_FILE", "STATUSES", "pseudolabel", "read_pseudolabels", "PseudoLine"]

LABELS_FILE = "labels.txt"
VERSION = "1"
STATUSES = ("ok", "disagree", "human", "single")
_K = IBUG68.num_points
_FIELDS = 1 + 4 + 2 * _K + 3


def pseudolabel(
    records: Sequence[FaceRecords],
    out: str | Path,
    images_root: str | Path,
    teachers=None,
    source: str = "",
    max_disagreement: float = 0.10,
    max_human_error: float = 0.10,
    batch: int = 64,
    force: bool = False,
    progress: bool = True,
    on_batch: Callable[[int], None] | None = None,
) -> Path:
    """Run `teachers` (default: `Teachers()`) over every face of `records` (lists of one source
    whose images lie under `images_root`) and write `out/labels.txt`. Returns its path."""
    from tqdm import tqdm

    from ..io import load_image
    from ..peers.teachers import TEACHER_NAMES

    out = Path(out)
    final = out / LABELS_FILE
    partial = out / (LABELS_FILE + ".partial")
    root = Path(images_root).resolve()
    faces = [(r, i) for r in records for i in range(len(r))]
    if final.is_file() and not force:
        done = len(read_pseudolabels(final, status=None))
        if done == len(faces):
            return final
        raise ConfigError(
            f"{final} holds {done} faces, not the {len(faces)} asked for; pass --force to redo"
        )
    out.mkdir(parents=True, exist_ok=True)
    header = _header(",".join(TEACHER_NAMES), source, _relative_root(root, out))
    start = _resume_point(partial, header) if not force else 0
    if start == 0:
        partial.write_text(header)
    if teachers is None:
        from ..peers.teachers import Teachers

        teachers = Teachers()
    with (
        open(partial, "a") as f,
        tqdm(
            total=len(faces), initial=start, disable=not progress, unit="face", desc="pseudolabel"
        ) as bar,
    ):
        for lo in range(start, len(faces), batch):
            chunk = faces[lo : lo + batch]
            images = [load_image(r.images[i]) for r, i in chunk]
            boxes = np.stack([r.boxes[i] for r, i in chunk])
            result = teachers.run(images, boxes)
            human = _human_errors(result.fused, chunk)
            lines = []
            for j, (r, i) in enumerate(chunk):
                dis = float(result.disagreement[j])
                status = _status(dis, human[j], max_disagreement, max_human_error)
                rel = _relative_image(r.images[i], root)
                lines.append(_format(rel, boxes[j], result.fused[j], dis, human[j], status))
            f.write("".join(lines))
            f.flush()
            os.fsync(f.fileno())
            bar.update(len(chunk))
            if on_batch is not None:
                on_batch(lo + len(chunk))
    os.replace(partial, final)
    return final


class PseudoLine(NamedTuple):
    """One face of a pseudo-label list."""

    image: str
    box: np.ndarray
    points: np.ndarray
    disagreement: float
    human_error: float
    status: str


def read_pseudolabels(
    path: str | Path, status: Sequence[str] | None = ("ok",), skip_bad: bool = False
) -> FaceRecords:
    """The faces of a pseudo-label list (those whose status is in `status`; None: all) as
    68-point FaceRecords; `sources` hold each face's status, `attributes` nothing."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise DataError(path, f"cannot read ({e.strerror or e})") from None
    meta: dict[str, str] = {}
    images, boxes, points, tags = [], [], [], []
    skipped: list[BadLine] = []
    for no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if line.startswith("#"):
            key, _, value = line[1:].strip().partition(":")
            meta[key.strip()] = value.strip()
            continue
        try:
            row = _parse(line, path, no)
        except DataError as e:
            if not skip_bad:
                raise
            skipped.append(BadLine(str(path), no, e.message))
            continue
        if status is not None and row.status not in status:
            continue
        images.append(row.image)
        boxes.append(row.box)
        points.append(row.points)
        tags.append(row.status)
    if "images_root" not in meta:
        raise DataError(path, "no '# images_root:' header line; not a pseudo-label list")
    root = Path(meta["images_root"])
    if not root.is_absolute():
        root = (path.parent / root).resolve()
    return FaceRecords(
        scheme=IBUG68,
        images=[root / p for p in images],
        boxes=np.array(boxes, dtype=np.float32).reshape(-1, 4),
        points=np.array(points, dtype=np.float32).reshape(-1, _K, 2),
        sources=tags,
        name=f"pseudo68 ({meta.get('teachers', '?')})",
        skipped=skipped,
    )


# --- helpers -------------------------------------------------------------------------------------


def _header(teachers: str, source: str, images_root: str) -> str:
    return (
        f"# facepoints pseudo-labels {VERSION}\n"
        f"# scheme: ibug68\n"
        f"# teachers: {teachers}\n"
        f"# source: {source}\n"
        f"# images_root: {images_root}\n"
        f"# fields: image x1 y1 x2 y2 x0 y0 ... x67 y67 disagreement human_error status\n"
    )


def _resume_point(partial: Path, header: str) -> int:
    """How many faces a partial list already holds (0 when absent or from another run). A torn
    last line is cut off."""
    if not partial.is_file():
        return 0
    text = partial.read_text()
    if not text.startswith(header):
        return 0
    body = text[len(header) :]
    lines = body.split("\n")
    complete = lines[:-1]  # the last piece has no newline: torn or empty
    good = []
    for no, line in enumerate(complete, start=1):
        try:
            _parse(line, partial, no)
        except DataError:
            break
        good.append(line)
    partial.write_text(header + "".join(g + "\n" for g in good))
    return len(good)


def _parse(line: str, path: Path, no: int) -> PseudoLine:
    fields = line.split()
    if len(fields) != _FIELDS:
        raise _bad(path, no, f"expected {_FIELDS} fields, found {len(fields)}")
    try:
        nums = np.array([float(v) for v in fields[1 : 1 + 4 + 2 * _K]], dtype=np.float64)
        dis, human = float(fields[-3]), float(fields[-2])
    except ValueError as e:
        raise _bad(path, no, f"not a number ({e})") from None
    if not np.all(np.isfinite(nums)):
        raise _bad(path, no, "box and points must be finite numbers")
    status = fields[-1]
    if status not in STATUSES:
        raise _bad(path, no, f"status {status!r} is none of {', '.join(STATUSES)}")
    return PseudoLine(fields[0], nums[:4], nums[4:].reshape(_K, 2), dis, human, status)


def _bad(path: Path, no: int, message: str) -> DataError:
    return DataError(path, message, line=no)


def _format(rel: str, box, points, dis: float, human: float, status: str) -> str:
    nums = " ".join(f"{v:.2f}" for v in np.concatenate([np.ravel(box), np.ravel(points)]))
    return f"{rel} {nums} {_num(dis)} {_num(human)} {status}\n"


def _num(v: float) -> str:
    return "nan" if not math.isfinite(v) else f"{v:.4f}"


def _status(dis: float, human: float, max_dis: float, max_human: float) -> str:
    if not math.isfinite(dis):
        return "single"
    if dis > max_dis:
        return "disagree"
    if math.isfinite(human) and human > max_human:
        return "human"
    return "ok"


def _human_errors(fused: np.ndarray, chunk: list) -> list[float]:
    """NME (inter-ocular) of each face's fused points, as the 5 CUHK points, against the face's
    own labels when they are, or project to, those 5 points (else NaN)."""
    from ..evaluation.metrics import nme_per_face

    mine = project(fused, IBUG68, "cuhk5")
    out = []
    for j, (r, i) in enumerate(chunk):
        try:
            theirs = project(r.points[i : i + 1], r.scheme, "cuhk5")
        except ConfigError:
            out.append(float("nan"))
            continue
        out.append(float(nme_per_face(mine[j : j + 1], theirs, get_scheme("cuhk5"))[0]))
    return out


def _relative_image(image: Path, root: Path) -> str:
    p = Path(image).resolve()
    try:
        return p.relative_to(root).as_posix()
    except ValueError:
        raise ConfigError(f"{image} is not under the images root {root}") from None


def _relative_root(root: Path, out: Path) -> str:
    return Path(os.path.relpath(root, out.resolve())).as_posix()
