"""Pack dense98's training data small enough to travel to a lent GPU machine (the `device` tool
sends the working tree and at most 64 MiB with it; `../shared` beside the checkout does not go):
the 300-W training faces and the WFLW sample's photos scaled down, and a seeded sample of CUHK's
training faces cut around their boxes, each in its own dataset's layout, so that the readers,
their splits and `recipes/dense98-device.json` work on the packed folders unchanged.

    .venv/bin/python scripts/device_pack.py            # writes .pack/ (git-ignored), prints its size

What never travels: 300-W's test faces, the WFLW sample's held-out photos are kept (the WFLW
halves are drawn by photo over the whole sample, so it must stay whole) but only at half size,
and the CUHK faces that training holds out for validation here (the seeded 10%) are left out,
so that validation on this machine stays clean. The 300-W faces keep their names and order, so
training's seeded validation split holds out the same faces there as here.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facepoints.data import read_dataset  # noqa: E402
from facepoints.data.w300 import SPLITS as W300_SPLITS  # noqa: E402
from facepoints.data.w300 import read_pts, write_pts  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", default=str(ROOT / ".pack"))
    p.add_argument("--w300-side", type=int, default=192, help="300-W crops' longer side, px")
    p.add_argument("--wflw-side", type=int, default=512, help="WFLW photos' longer side, px")
    p.add_argument("--cuhk-faces", type=int, default=1500, help="CUHK training faces packed")
    p.add_argument("--cuhk-side", type=int, default=128, help="CUHK cuts' longer side, px")
    p.add_argument("--quality", type=int, default=80, help="JPEG quality")
    a = p.parse_args(argv)
    out = Path(a.out)
    if out.exists():
        shutil.rmtree(out)
    pack_300w(SHARED / "300w", out / "300w", a.w300_side, a.quality)
    pack_wflw(SHARED / "wflw_sample", out / "wflw_sample", a.wflw_side, a.quality)
    pack_cuhk(SHARED / "cuhk5", out / "cuhk5", a.cuhk_faces, a.cuhk_side, a.quality)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"{out}: {size / 2**20:.1f} MiB")
    return 0


def _save(img: Image.Image, scale: float, dest: Path, quality: int) -> None:
    if scale < 1:
        w, h = img.size
        img = img.resize((max(round(w * scale), 1), max(round(h * scale), 1)), Image.LANCZOS)
    dest.parent.mkdir(parents=True, exist_ok=True)
    img.convert("RGB").save(dest, quality=quality)


def _scale_points(points: np.ndarray, scale: float) -> np.ndarray:
    # pixel centres at whole numbers: a scale about the first pixel's corner
    return (points + 0.5) * scale - 0.5


def pack_300w(src: Path, dst: Path, side: int, quality: int) -> None:
    """300-W's training folders, each crop at most `side` px, points in the .pts format."""
    for folder in W300_SPLITS["train"]:
        for pts_file in sorted((src / folder).glob("*.pts")):
            img = Image.open(pts_file.with_suffix(".jpg"))
            scale = min(1.0, side / max(img.size))
            _save(img, scale, dst / folder / f"{pts_file.stem}.jpg", quality)
            write_pts(dst / folder / pts_file.name, _scale_points(read_pts(pts_file), scale))


def pack_wflw(src: Path, dst: Path, side: int, quality: int) -> None:
    """The WFLW sample whole (its halves are drawn over all its photos), photos at most `side` px,
    every list's points scaled with them."""
    images = src / "WFLW_images"
    scales = {}
    for photo in sorted(images.rglob("*.jpg")):
        img = Image.open(photo)
        scales[photo.relative_to(images).as_posix()] = s = min(1.0, side / max(img.size))
        _save(img, s, dst / "WFLW_images" / photo.relative_to(images), quality)
    lists = src / "WFLW_annotations" / "list_98pt_test"
    for f in sorted(lists.iterdir()):
        target = dst / "WFLW_annotations" / "list_98pt_test" / f.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if f.suffix != ".txt":
            shutil.copy(f, target)
            continue
        rows = []
        for line in f.read_text().splitlines():
            fields = line.split()
            if len(fields) < 197:
                rows.append(line)
                continue
            s = scales[fields[196]]
            xy = _scale_points(np.array(fields[:196], np.float64).reshape(-1, 2), s)
            rows.append(" ".join([f"{v:.3f}" for v in xy.ravel()] + fields[196:]))
        target.write_text("\n".join(rows) + "\n")


def pack_cuhk(src: Path, dst: Path, faces: int, side: int, quality: int) -> None:
    """A seeded sample of CUHK's training faces outside training's validation split, each cut
    as a square of twice its box around it, at most `side` px, in CUHK's list format."""
    train, _ = read_dataset("cuhk5", "train", data_root=str(src)).split(0.1, 0)
    pick = np.sort(np.random.default_rng(0).permutation(len(train))[:faces])
    lines = []
    for k, i in enumerate(pick):
        img = Image.open(train.images[i])
        x1, y1, x2, y2 = (float(v) for v in train.boxes[i])
        half = max(x2 - x1, y2 - y1)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        left, top = max(int(cx - half), 0), max(int(cy - half), 0)
        right, bottom = min(int(cx + half) + 1, img.width), min(int(cy + half) + 1, img.height)
        cut = img.crop((left, top, right, bottom))
        s = min(1.0, side / max(cut.size))
        name = f"faces/{k:05d}.jpg"
        _save(cut, s, dst / name, quality)
        box = _scale_points(np.array([[x1 - left, y1 - top], [x2 - left, y2 - top]]), s)
        pts = _scale_points(train.points[i] - [left, top], s)
        fields = [name.replace("/", "\\")]
        fields += [f"{v:.2f}" for v in (box[0, 0], box[1, 0], box[0, 1], box[1, 1])]
        fields += [f"{v:.6f}" for v in pts.ravel()]
        lines.append(" ".join(fields))
    (dst / "trainImageList.txt").write_text("\r\n".join(lines) + "\r\n")


if __name__ == "__main__":
    raise SystemExit(main())
