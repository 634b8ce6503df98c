"""scripts/device_pack.py: the packed folders read as the originals do, smaller, points moved
with the pixels, and the validation faces left behind."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

from facepoints.data import read_dataset

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("device_pack", ROOT / "scripts" / "device_pack.py")
pack = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pack)


def test_wflw_pack_keeps_the_halves_and_scales_the_points(tmp_path, wflw_root):
    pack.pack_wflw(wflw_root, tmp_path / "w", side=256, quality=80)
    for split in ("tune", "heldout"):
        a = read_dataset("wflw98", split, data_root=str(wflw_root))
        b = read_dataset("wflw98", split, data_root=str(tmp_path / "w"))
        assert [p.name for p in a.images] == [p.name for p in b.images]
        iod = [np.linalg.norm(r.points[:, 60] - r.points[:, 72], axis=1) for r in (a, b)]
        longer = np.array([max(Image.open(p).size) for p in a.images])
        assert np.allclose(iod[1] / iod[0], 256 / longer, rtol=1e-3)
        assert all(max(Image.open(p).size) == 256 for p in b.images)
        assert a.attributes.keys() == b.attributes.keys()


def test_cuhk_pack_leaves_validation_faces_behind(tmp_path, cuhk_root):
    pack.pack_cuhk(cuhk_root, tmp_path / "c", faces=30, side=96, quality=80)
    packed = read_dataset("cuhk5", "train", data_root=str(tmp_path / "c"))
    assert len(packed) == 30
    train, val = read_dataset("cuhk5", "train", data_root=str(cuhk_root)).split(0.1, 0)

    # each packed face is one of the training faces (its points at the same place in its box),
    # closer to it than to any validation face
    def shape(r):
        span = r.boxes[:, None, 2:3] - r.boxes[:, None, :1]
        return ((r.points - r.boxes[:, None, :2]) / span).reshape(len(r), -1)

    tr, va = shape(train), shape(val)
    for face in shape(packed):
        near_train = np.abs(tr - face).max(axis=1).min()
        assert near_train < 0.01 and near_train < np.abs(va - face).max(axis=1).min()
    assert max(p.stat().st_size for p in packed.images) < 20_000
