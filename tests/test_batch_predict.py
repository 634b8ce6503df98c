"""Batch inference (`predict_folder`): the same records, in the same order, with 0, 1 or 2 worker
processes, including an image that cannot be decoded."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from facepoints.inference.batch import AUTO_WORKERS_FROM, auto_workers, predict_folder
from facepoints.inference.landmarker import FaceLandmarker
from facepoints.models import create_model, save_model


@pytest.fixture(scope="module")
def landmarker(tmp_path_factory):
    torch.manual_seed(0)
    m = create_model("resnet", input_size=64, width=16, depth=[1, 1, 1, 1])
    path = tmp_path_factory.mktemp("model") / "m.safetensors"
    save_model(m, path, {"margin": 0.2})
    return FaceLandmarker(model=str(path), threads=1)


@pytest.fixture(scope="module")
def folder(cuhk_root, tmp_path_factory):
    """Ten CUHK test photos and one broken file, named so the broken one sorts in the middle."""
    from facepoints.data import read_dataset

    recs = read_dataset("cuhk5", "test", cuhk_root)
    src = tmp_path_factory.mktemp("photos")
    for n, i in enumerate(np.linspace(0, len(recs) - 1, 10).round().astype(int)):
        p = recs.images[i]
        shutil.copy(p, src / f"{n:02d}{p.suffix}")
    (src / "04b.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return src


def test_records_do_not_depend_on_workers(landmarker, folder, monkeypatch):
    runs = {}
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5})
    assert auto_workers(AUTO_WORKERS_FROM - 1) == 0 and auto_workers(1000) == 4
    assert auto_workers(11) == 4  # this folder, by default
    for workers in (0, 1, 2, None):
        run = predict_folder(landmarker, folder, workers=workers, batch_size=3)
        runs[workers] = list(run)
        assert run.images == 11 and run.errors == 1 and run.faces > 0
        assert run.faces_per_s > 0
    records = runs[0]
    assert [r["file"] for r in records] == sorted(str(p) for p in folder.iterdir())
    bad = [r for r in records if r["error"]]
    assert [r["file"] for r in bad] == [str(folder / "04b.jpg")]
    assert bad[0]["faces"] == [] and bad[0]["width"] is None
    assert all(r["faces"] and r["width"] > 0 for r in records if not r["error"])
    assert runs[1] == records and runs[2] == records and runs[None] == records  # bit for bit

    # the same faces as the landmarker on each photo alone (up to float rounding of batching)
    one = landmarker.detect(str(folder / "00.jpg"))
    got = records[0]["faces"]
    assert len(got) == len(one)
    np.testing.assert_allclose(got[0]["landmarks"], one[0].landmarks, atol=0.02)
