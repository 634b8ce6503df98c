"""Training with two processes (torchrun, gloo on the CPU) on 144 real CUHK faces: the ranks end
with the same weights, the run reaches the numbers of a one-process run with the same global
batch, and a two-process run stopped mid-epoch and resumed ends exactly where an unbroken one
does. Plus the pieces: the global batch, the per-rank share of an epoch, a single process."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from facepoints.errors import ConfigError
from facepoints.training import TrainConfig, train
from facepoints.training.checkpoint import load_checkpoint
from facepoints.training.distributed import (
    all_reduce_mean,
    any_rank,
    broadcast_object,
    init_distributed,
)
from facepoints.training.loop import _epoch_order, _global_batch

# sun2013 (39 px grey, no batch norm): 127 training faces, 7 steps of 16 per epoch, 17 validation
RUN = dict(
    model="sun2013",
    max_faces=144,
    val_fraction=0.12,
    batch_size=16,
    epochs=2,
    optimizer="sgd",  # Adam's first steps divide by the gradients' own size: the last bits of
    lr=5e-3,  # two processes' sums in another order grow to percents in the weights
    warmup_epochs=0.5,
    threads=1,
    workers=0,
    checkpoint_minutes=None,
)
NME_TOLERANCE = 1e-4  # relative: two processes sum gradients in another order than one


def _flags(**kw) -> list[str]:
    out = []
    for k, v in kw.items():
        out += [f"--{k.replace('_', '-')}", "none" if v is None else str(v)]
    return out


def _torchrun(env: dict, *args: str) -> dict:
    """`torchrun --nproc_per_node=2 -m facepoints train ARGS`; rank 0's result (its JSON)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={port}",
        "-m",
        "facepoints",
        "train",
        *args,
    ]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, f"{p.stdout[-1500:]}\n{p.stderr[-4000:]}"
    assert p.stdout.count('"out"') == 1  # rank 0 alone prints the result
    return json.loads(p.stdout[p.stdout.index("{") :])


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """The subprocesses' environment: the session's private crop cache, no torchrun variables."""
    e = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    e["FACEPOINTS_CACHE"] = str(tmp_path_factory.getbasetemp() / "fp-cache")
    e["OMP_NUM_THREADS"] = "1"
    e["PYTHONFAULTHANDLER"] = "1"  # a rank that aborts shows its Python stack
    return e


@pytest.fixture(scope="module")
def two(cuhk_root, env, tmp_path_factory):
    """A whole two-process run, made once for the tests below."""
    out = tmp_path_factory.mktemp("two") / "run"
    return _torchrun(env, *_flags(data_root=cuhk_root, out=out, **RUN))


def _rows(path) -> list[dict]:
    """The log's rows, without the wall-clock column."""
    with open(path, newline="") as f:
        return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in csv.DictReader(f)]


@pytest.mark.slow
def test_two_processes_match_one(two, cuhk_root, tmp_path):
    one = train(TrainConfig(data_root=str(cuhk_root), out=str(tmp_path / "one"), **RUN), False)
    assert two["ranks_in_sync"] is True  # rank 1's weights hash equal to rank 0's
    assert (two["processes"], one["processes"]) == (2, 1)
    assert two["batch_size"] == one["batch_size"] == 16
    assert two["finished"] and two["global_step"] == one["global_step"] == 14
    a, b = load_checkpoint(one["last"]), load_checkpoint(two["last"])
    assert sorted(a) == sorted(b)  # the same checkpoint, whatever the processes
    assert json.loads(open(two["config"]).read())["batch_size"] == 16  # the global batch

    # the numbers agree to rounding (SGD: no step divides by the gradients' own size)
    ra, rb = _rows(one["log"]), _rows(two["log"])
    assert len(ra) == len(rb) == 2
    assert float(rb[0]["train_loss"]) == pytest.approx(float(ra[0]["train_loss"]), rel=1e-4)
    assert two["val_nme"] == pytest.approx(one["val_nme"], rel=NME_TOLERANCE)
    assert two["train_loss"] == pytest.approx(one["train_loss"], rel=NME_TOLERANCE)


@pytest.mark.slow
def test_two_process_run_resumes_exactly(two, cuhk_root, env, tmp_path):
    out = tmp_path / "parts"
    part = _torchrun(env, *_flags(data_root=cuhk_root, out=out, stop_after_steps=10, **RUN))
    assert part["stopped"] == "step limit"
    assert (part["epochs_done"], part["step_in_epoch"]) == (1, 3)
    part = _torchrun(env, "--resume", *_flags(out=out, threads=1, workers=0, stop_after_steps=None))
    assert part["finished"] and part["ranks_in_sync"] is True
    wa, wb = load_checkpoint(two["last"])["model"], load_checkpoint(part["last"])["model"]
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    assert _rows(two["log"]) == _rows(part["log"])


def test_global_batch_and_rank_shares():
    assert _global_batch(64, 1000, 1) == 64 and _global_batch(64, 40, 1) == 40
    assert _global_batch(64, 1000, 4) == 64 and _global_batch(64, 42, 4) == 40
    with pytest.raises(ConfigError, match="multiple of 3"):
        _global_batch(64, 1000, 3)
    # rank r takes faces r, r + R, ... of the order: each global batch, split R ways
    order = _epoch_order(48, seed=0, epoch=1)
    batch, world = 16, 2
    shares = [order[r::world] for r in range(world)]
    for step in range(3):
        per_rank = [s[step * 8 : (step + 1) * 8] for s in shares]
        glob = order[step * batch : (step + 1) * batch]
        assert sorted(torch.cat(per_rank).tolist()) == sorted(glob.tolist())


def test_single_process_is_not_distributed(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    info = init_distributed("cpu")
    assert (info.rank, info.world_size, info.is_main, info.backend) == (0, 1, True, None)
    assert not torch.distributed.is_initialized()
    assert all_reduce_mean([1.0, 2.0], info) == [1.0, 2.0]
    assert any_rank([True, False], info) == [True, False]
    assert broadcast_object({"a": 1}, info) == {"a": 1}
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(ConfigError, match="torchrun"):
        init_distributed("cpu")
