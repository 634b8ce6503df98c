"""Training: losses by hand, safe checkpoints, config overrides, and short real runs on CUHK faces
(the loss falls; a run stopped at an epoch's end, mid-epoch or by Ctrl-C and resumed ends with the
same weights and log as one that never stopped)."""

from __future__ import annotations

import csv
import math
import signal

import pytest
import torch

from facepoints.errors import CheckpointError, ConfigError
from facepoints.training import LOSSES, TrainConfig, apply_overrides, get_loss, train
from facepoints.training.checkpoint import (
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from facepoints.training.loop import lr_factor

R = 64.0  # losses.REFERENCE_SIZE: "pixel" parameters are pixels of a 64-pixel crop


# --- losses ------------------------------------------------------------------------------------


def _pair():
    """Two points, one face: errors of (3 px, 20 px) and (0.5 px, 0) in reference pixels."""
    pred = torch.zeros(1, 2, 2)
    target = torch.tensor([[[3 / R, 20 / R], [0.5 / R, 0.0]]])
    return pred, target


def test_losses_against_hand_computed_values():
    pred, target = _pair()
    # per coordinate, summed over x and y, averaged over the 2 points
    expected = {
        "mse": ((3 / R) ** 2 + (20 / R) ** 2 + (0.5 / R) ** 2) / 2,
        "l1": (3 / R + 20 / R + 0.5 / R) / 2,
        # beta = 1 px: linear above, quadratic below
        "smooth_l1": ((3 - 0.5) / R + (20 - 0.5) / R + 0.5 * 0.5**2 / R) / 2,
        # w = 10 px, eps = 2 px: log part for 3 px and 0.5 px, linear part for 20 px
        "wing": (
            10 / R * math.log(1 + 3 / 2)
            + (20 / R - (10 / R - 10 / R * math.log(1 + 10 / 2)))
            + 10 / R * math.log(1 + 0.5 / 2)
        )
        / 2,
    }
    assert sorted(LOSSES) == sorted(expected)
    for name, value in expected.items():
        got = get_loss(name)(pred, target)
        assert got.dim() == 0
        assert got.item() == pytest.approx(value, rel=1e-5), name
        assert get_loss(name)(target, target).item() == 0.0


def test_wing_is_continuous_and_averages_over_batch():
    wing = get_loss("wing")
    w = torch.tensor(10 / R)
    below = wing(torch.zeros(1, 1, 2), torch.stack([w - 1e-6, torch.tensor(0.0)]).view(1, 1, 2))
    above = wing(torch.zeros(1, 1, 2), torch.stack([w + 1e-6, torch.tensor(0.0)]).view(1, 1, 2))
    assert below.item() == pytest.approx(above.item(), abs=1e-5)
    pred, target = _pair()
    batch = wing(torch.cat([pred, pred]), torch.cat([target, torch.zeros_like(target)]))
    assert batch.item() == pytest.approx(wing(pred, target).item() / 2, rel=1e-6)
    with pytest.raises(ConfigError):
        get_loss("nope")


# --- checkpoints -------------------------------------------------------------------------------

_CALLED = []


def _mark():
    _CALLED.append(True)
    return "ran"


class _Payload:
    """Unpickling this would call _mark(): code running on load."""

    def __reduce__(self):
        return (_mark, ())


def test_checkpoint_with_a_pickled_object_is_refused(tmp_path):
    p = tmp_path / "evil.pt"
    torch.save({"model": {"w": torch.ones(2)}, "extra": _Payload()}, p)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(p)
    assert not _CALLED
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "missing.pt")


def test_checkpoint_round_trip_with_random_states(tmp_path):
    import random

    import numpy as np

    state = {"w": torch.arange(3.0), "epoch": 2, "rng": rng_state(), "cfg": {"lr": 0.1}}
    save_checkpoint(tmp_path / "a.pt", state)
    draws = (torch.rand(3), np.random.rand(3), random.random())
    loaded = load_checkpoint(tmp_path / "a.pt")
    assert torch.equal(loaded["w"], state["w"]) and loaded["cfg"] == {"lr": 0.1}
    set_rng_state(loaded["rng"])
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(draws[0], again[0])
    assert np.array_equal(draws[1], again[1]) and draws[2] == again[2]


# --- config and schedule -----------------------------------------------------------------------


def test_config_overrides_and_errors():
    cfg = apply_overrides(
        TrainConfig(), {"lr": "0.01", "max-faces": "none", "flip": "false", "epochs": "3"}
    )
    assert (cfg.lr, cfg.max_faces, cfg.flip, cfg.epochs) == (0.01, None, False, 3)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    for bad in (
        {"no_such_knob": 1},
        {"lr": "-1"},
        {"loss": "hinge"},
        {"optimizer": "lbfgs"},
        {"epochs": "2.5"},
        {"val_fraction": 1.0},
        {"device": "gpu"},
        {"flip": "maybe"},
        {"model_kwargs": "[1]"},
    ):
        with pytest.raises(ConfigError):
            apply_overrides(TrainConfig(), bad)


def test_lr_schedules():
    cos = lr_factor("cosine", total_steps=100, warmup_steps=10)
    assert cos(0) == pytest.approx(0.1) and cos(9) == pytest.approx(1.0)
    assert cos(10) == pytest.approx(1.0) and cos(55) == pytest.approx(0.5)
    assert cos(100) == pytest.approx(0.0, abs=1e-9)
    step = lr_factor("step", total_steps=100)
    assert (step(0), step(50), step(75)) == (1.0, pytest.approx(0.1), pytest.approx(0.01))
    one = lr_factor("onecycle", total_steps=100)
    assert one(0) == pytest.approx(1 / 25) and one(30) == pytest.approx(1.0)
    assert one(100) == pytest.approx(1 / 25e4)
    assert lr_factor("none", total_steps=100)(99) == 1.0


# --- real runs on CUHK faces -------------------------------------------------------------------


@pytest.fixture
def make_cfg(cuhk_root, tmp_path):
    """A tiny, fast run: sun2013 (39 px grey), 72 faces (65 train, 7 validation), 8 steps of 8."""

    def make(name: str, **kw) -> TrainConfig:
        base = dict(
            data_root=str(cuhk_root),
            model="sun2013",
            max_faces=72,
            val_fraction=0.1,
            batch_size=8,
            epochs=2,
            lr=3e-3,
            warmup_epochs=0.5,
            augment=1.0,
            threads=1,
            workers=0,
            checkpoint_minutes=None,
            out=str(tmp_path / name),
        )
        return TrainConfig(**{**base, **kw})

    return make


def _rows(run: dict) -> list[dict]:
    with open(run["log"], newline="") as f:
        return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in csv.DictReader(f)]


def _same_weights(a: dict, b: dict) -> None:
    wa, wb = load_checkpoint(a["last"])["model"], load_checkpoint(b["last"])["model"]
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


@pytest.mark.slow
def test_loss_decreases(make_cfg):
    run = train(make_cfg("fit", epochs=3), progress=False)
    rows = _rows(run)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    assert run["finished"] and run["epochs_done"] == 3 and run["global_step"] == 24
    assert 0 < run["val_nme"] < 1 and run["best_epoch"] is not None
    from facepoints.models import load_model, read_metadata

    meta = read_metadata(run["weights"])
    assert meta["epoch"] == run["best_epoch"] and meta["train_config"]["model"] == "sun2013"
    assert meta["dataset"] == "cuhk5" and 0 < meta["val_nme"] < 1
    assert load_model(run["weights"]).num_points == 5


@pytest.mark.slow
def test_resume_continues_the_same_run(make_cfg):
    whole = train(make_cfg("whole"), progress=False)

    # stopped at the end of epoch 1, then mid-epoch 2 (after 3 of its 8 steps), then to the end
    part = train(make_cfg("parts", stop_after_steps=8), progress=False)
    assert part["stopped"] == "step limit" and (part["epochs_done"], part["step_in_epoch"]) == (
        1,
        0,
    )
    with pytest.raises(ConfigError):  # a fresh run never overwrites one
        train(make_cfg("parts"), progress=False)
    part = train(make_cfg("parts", resume=True, stop_after_steps=3), progress=False)
    assert (part["epochs_done"], part["step_in_epoch"]) == (1, 3)
    assert load_checkpoint(part["last"])["step"] == 3
    part = train(make_cfg("parts", resume=True), progress=False)
    assert part["finished"] and part["global_step"] == whole["global_step"] == 16

    _same_weights(whole, part)
    assert _rows(whole) == _rows(part)
    assert part["val_nme"] == whole["val_nme"]


@pytest.mark.slow
def test_ctrl_c_saves_and_resumes(make_cfg, monkeypatch):
    """Ctrl-C during a step stops at the step's end with last.pt saved; resuming finishes the same
    run. The signal is raised from inside the loss, in the middle of step 11."""
    calls = []
    wing = get_loss("wing")

    def interrupting_wing(pred, target):
        calls.append(1)
        if len(calls) == 11:
            signal.raise_signal(signal.SIGINT)
        return wing(pred, target)

    monkeypatch.setitem(LOSSES._items, "wing_ctrl_c", interrupting_wing)
    # a background job may start with SIGINT ignored; the loop must restore whatever was there
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        whole = train(make_cfg("whole"), progress=False)
        part = train(make_cfg("ctrl_c", loss="wing_ctrl_c"), progress=False)
        assert part["stopped"] == "interrupted"
        assert (part["epochs_done"], part["step_in_epoch"]) == (1, 3)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        part = train(make_cfg("ctrl_c", resume=True), progress=False)
    finally:
        signal.signal(signal.SIGINT, before)
    assert part["finished"]
    _same_weights(whole, part)
    assert _rows(whole) == _rows(part)


@pytest.mark.slow
def test_init_fine_tunes_from_weights_and_logs_them_as_epoch_0(make_cfg):
    base = train(make_cfg("base", epochs=1), progress=False)
    # the same validation faces: the starting weights score exactly what the base run scored
    tuned = train(make_cfg("tuned", epochs=1, init=base["out"], lr=1e-4), progress=False)
    rows = _rows(tuned)
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert float(rows[0]["val_nme"]) == pytest.approx(base["val_nme"], rel=1e-5)
    # the best is never worse than the start
    assert tuned["best_metric"] <= float(rows[0]["val_nme"])
    with pytest.raises(ConfigError, match="do not fit"):
        train(make_cfg("wrong", model="lenet", init=base["out"]), progress=False)


@pytest.mark.slow
def test_mixed_precision_on_cpu_steps_scales_and_resumes(make_cfg):
    """The mixed-precision path that CUDA runs (autocast, fp16 loss scaling and its state in the
    checkpoint), exercised on the CPU."""
    whole = train(make_cfg("fp16", amp="fp16"), progress=False)
    assert "scaler" in load_checkpoint(whole["last"])  # the loss scale is part of the state
    part = train(make_cfg("fp16-parts", amp="fp16", stop_after_steps=11), progress=False)
    part = train(make_cfg("fp16-parts", amp="fp16", resume=True), progress=False)
    _same_weights(whole, part)
    assert _rows(whole) == _rows(part)

    plain = train(make_cfg("fp32", epochs=3), progress=False)
    bf16 = train(make_cfg("bf16", amp="bf16", epochs=3), progress=False)
    rows = _rows(bf16)
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    assert math.isfinite(bf16["val_nme"]) and 0 < bf16["val_nme"] < 1
    assert "scaler" not in load_checkpoint(bf16["last"])  # bf16 needs no loss scaling
    assert _rows(plain) != rows  # autocast really ran in bfloat16
