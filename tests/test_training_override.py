"""`--resume --override-settings`: the new settings apply from the step the run resumes at."""

from __future__ import annotations

import csv

import pytest

from facepoints.errors import CheckpointError
from facepoints.training import TrainConfig, train


def _cfg(tmp_path, cuhk_root, **kw) -> TrainConfig:
    base = dict(
        data_root=str(cuhk_root), max_faces=48, model="resnet", input_size=32, batch_size=16,
        model_kwargs={"width": 8}, threads=1, workers=0, epochs=1, out=str(tmp_path / "run"),
        val_fraction=0.25,
    )  # fmt: skip
    return TrainConfig(**{**base, **kw})


def test_override_extends_a_finished_run_with_a_new_lr(tmp_path, cuhk_root):
    first = train(_cfg(tmp_path, cuhk_root), progress=False)
    assert first["finished"] and first["epochs_done"] == 1
    kept = train(_cfg(tmp_path, cuhk_root, epochs=3, resume=True), progress=False)
    assert kept["epochs_done"] == 1  # without the override the saved 1 epoch stands
    more = train(
        _cfg(tmp_path, cuhk_root, epochs=3, lr=5e-4, resume=True),
        progress=False,
        override_settings=True,
    )
    assert more["finished"] and more["epochs_done"] == 3
    with open(tmp_path / "run" / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert 0 < float(rows[1]["lr"]) <= 5e-4  # the new peak lr, on its cosine from step 3 of 9


def test_override_to_another_architecture_is_one_clear_error(tmp_path, cuhk_root):
    train(_cfg(tmp_path, cuhk_root), progress=False)
    with pytest.raises(CheckpointError, match="do not fit model"):
        train(
            _cfg(tmp_path, cuhk_root, epochs=2, model_kwargs={"width": 16}, resume=True),
            progress=False,
            override_settings=True,
        )
