"""Interrupted training, for real: `python -m facepoints train` on 128 CUHK faces, killed with
SIGKILL in the middle of an epoch and in the middle of writing a checkpoint, stopped by Ctrl-C,
then resumed: last.pt is whole at every moment, and each resumed run ends with the weights and log
of a run that never stopped (the steps after the last checkpoint are redone, identically). Also:
a run folder that cannot be written, a damaged last.pt, and images that cannot be decoded.

The child process runs the real CLI under a small driver (DRIVER) that can pause it at a chosen
training step or halfway through writing a chosen checkpoint, so each kill lands where it should
without timing guesses; the package has no test hooks."""

from __future__ import annotations

import csv
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from facepoints.cli import main
from facepoints.errors import CheckpointError, ImageError
from facepoints.training import TrainConfig, train
from facepoints.training.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow

N_FACES = 128  # 112 training faces in 7 steps of 16, 16 validation faces
EPOCHS = 3

# The child: the real `facepoints` CLI, with two optional pauses set by environment variables.
#   FP_PAUSE_STEP=k     in training step k (1-based, counted over this process), touch
#                       FP_MARKER and wait
#   FP_PAUSE_SAVE=e,s   when writing the checkpoint of (epoch e, step s), write half of it,
#                       touch FP_MARKER and wait before writing the rest
# A wait lasts until the file FP_MARKER.go appears (or FP_PAUSE_S seconds). Waiting changes no
# number: the run trains exactly as without the driver.
DRIVER = r"""
import io, os, sys, time
from pathlib import Path
import torch
from facepoints.training.losses import LOSSES
from facepoints.cli import main

env = os.environ
marker, pause_s = env.get("FP_MARKER"), float(env.get("FP_PAUSE_S", "0"))
wing, calls = LOSSES.get("wing"), [0]

def pause():
    Path(marker).touch()
    end = time.monotonic() + pause_s
    while time.monotonic() < end and not Path(marker + ".go").exists():
        time.sleep(0.01)

def wing_with_pause(pred, target):
    calls[0] += 1
    if str(calls[0]) == env.get("FP_PAUSE_STEP"):
        pause()
    return wing(pred, target)

LOSSES._items["wing"] = wing_with_pause
real_save = torch.save

def save_with_pause(obj, f, *args, **kw):
    where = env.get("FP_PAUSE_SAVE")
    if where and isinstance(obj, dict) and f"{obj.get('epoch')},{obj.get('step')}" == where:
        buf = io.BytesIO()
        real_save(obj, buf, *args, **kw)
        data = buf.getvalue()
        f.write(data[: len(data) // 2])
        f.flush()
        os.fsync(f.fileno())
        pause()
        f.write(data[len(data) // 2 :])
    else:
        real_save(obj, f, *args, **kw)

torch.save = save_with_pause
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def mini_root(cuhk_root, tmp_path_factory) -> Path:
    """A CUHK folder of the first 128 training faces, so each child reads a short list."""
    root = tmp_path_factory.mktemp("cuhk128")
    lines = (cuhk_root / "trainImageList.txt").read_text().splitlines()[:N_FACES]
    for line in lines:
        rel = line.split()[0].replace("\\", "/")
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(cuhk_root / rel, root / rel)
    (root / "trainImageList.txt").write_text("\r\n".join(lines) + "\r\n")
    return root


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("crop-cache")


def _argv(root: Path, out: Path, *extra: str) -> list[str]:
    return [
        "train", "--data-root", str(root), "--model", "sun2013", "--batch-size", "16",
        "--val-fraction", "0.125", "--epochs", str(EPOCHS), "--lr", "3e-3",
        "--warmup-epochs", "0.5", "--workers", "0", "--threads", "1", "--checkpoint-steps", "2",
        "--checkpoint-minutes", "none", "--out", str(out), *extra,
    ]  # fmt: skip


class Child:
    """`facepoints train` in a subprocess under DRIVER."""

    def __init__(
        self,
        argv: list[str],
        cache: Path,
        marker: Path | None = None,
        **pause: str,
    ):
        env = {**os.environ, "FACEPOINTS_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
        env.pop("FP_PAUSE_STEP", None)
        env.pop("FP_PAUSE_SAVE", None)
        if marker is not None:
            env.update(FP_MARKER=str(marker), FP_PAUSE_S="120", **pause)
        self.marker = marker
        self.err_read = ""
        self.proc = subprocess.Popen(
            [sys.executable, "-c", DRIVER, *argv],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_for_marker(self, timeout: float = 120) -> None:
        end = time.monotonic() + timeout
        while not self.marker.exists():
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                pytest.fail(f"child ended ({self.proc.returncode}) before its pause:\n{err}")
            if time.monotonic() > end:
                self.proc.kill()
                pytest.fail("child did not reach its pause")
            time.sleep(0.02)

    def wait_for_stderr(self, text: str) -> None:
        """Read the child's stderr until a line holds `text` (kept for `finish`)."""
        while True:
            line = self.proc.stderr.readline()
            self.err_read += line
            if text in line:
                return
            if not line:
                pytest.fail(f"the child never said {text!r}:\n{self.err_read}")

    def go_on(self) -> None:
        """End the pause."""
        Path(f"{self.marker}.go").touch()

    def finish(self, timeout: float = 300) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, self.err_read + err


def _run(argv: list[str], cache: Path) -> tuple[int, str, str]:
    return Child(argv, cache).finish()


class Watcher:
    """Loads last.pt over and over while a run goes on: every load must succeed."""

    def __init__(self, path: Path):
        self.path, self.loads, self.errors = path, 0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            if self.path.exists():
                try:
                    load_checkpoint(self.path)
                    self.loads += 1
                except CheckpointError as e:
                    self.errors.append(str(e))
            time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _log_rows(out: Path) -> list[dict]:
    with open(out / "log.csv", newline="") as f:
        return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in csv.DictReader(f)]


def _same_run(a: Path, b: Path) -> None:
    """Same final weights (bit for bit), same log, same best epoch."""
    sa, sb = load_checkpoint(a / "last.pt"), load_checkpoint(b / "last.pt")
    assert (sa["epoch"], sa["step"], sa["global_step"]) == (
        sb["epoch"],
        sb["step"],
        sb["global_step"],
    )
    assert sa["model"].keys() == sb["model"].keys()
    for k in sa["model"]:
        assert torch.equal(sa["model"][k], sb["model"][k]), k
    assert sa["best"] == sb["best"]
    assert _log_rows(a) == _log_rows(b)
    assert not list(b.glob(".*.tmp")), "a temporary file was left behind"


@pytest.fixture(scope="module")
def reference(mini_root, cache, tmp_path_factory) -> Path:
    """The run that never stops; last.pt is loaded over and over while it trains."""
    out = tmp_path_factory.mktemp("runs") / "whole"
    watcher = Watcher(out / "last.pt")
    code, stdout, err = _run(_argv(mini_root, out), cache)
    watcher.stop()
    assert code == 0, err
    assert watcher.errors == [] and watcher.loads > 0
    state = load_checkpoint(out / "last.pt")
    assert (state["epoch"], state["global_step"]) == (EPOCHS, EPOCHS * 7)
    assert [int(r["epoch"]) for r in _log_rows(out)] == [1, 2, 3]
    return out


def test_sigkill_mid_epoch_then_resume(reference, mini_root, cache, tmp_path):
    """Killed in step 12 (epoch 2, step 5): last.pt holds step 10 (checkpoints every 2 steps);
    resuming redoes steps 11 and 12 and ends where the reference ends."""
    out, marker = tmp_path / "run", tmp_path / "paused"
    child = Child(_argv(mini_root, out), cache, marker, FP_PAUSE_STEP="12")
    child.wait_for_marker()
    child.proc.send_signal(signal.SIGKILL)
    code, _, _ = child.finish()
    assert code == -signal.SIGKILL
    state = load_checkpoint(out / "last.pt")
    assert (state["epoch"], state["step"], state["global_step"]) == (1, 3, 10)
    assert [int(r["epoch"]) for r in _log_rows(out)] == [1]

    code, _, err = _run(_argv(mini_root, out, "--resume"), cache)
    assert code == 0, err
    assert "resuming" in err and "epoch 2, step 3/7" in err
    _same_run(reference, out)


def test_sigkill_while_writing_a_checkpoint_then_resume(reference, mini_root, cache, tmp_path):
    """Killed with half of the (epoch 2, step 3) checkpoint written: last.pt is still the whole
    previous one (epoch 2, step 1), the half-written temporary is never read, and resuming
    cleans it up."""
    out, marker = tmp_path / "run", tmp_path / "paused"
    child = Child(_argv(mini_root, out), cache, marker, FP_PAUSE_SAVE="1,3")
    child.wait_for_marker()
    (tmp,) = out.glob(".last.pt.*.tmp")  # the half-written checkpoint
    assert tmp.stat().st_size > 0
    before = load_checkpoint(out / "last.pt")  # readable while the write is half done
    assert (before["epoch"], before["step"]) == (1, 1)
    child.proc.send_signal(signal.SIGKILL)
    code, _, _ = child.finish()
    assert code == -signal.SIGKILL
    after = load_checkpoint(out / "last.pt")
    assert (after["epoch"], after["step"], after["global_step"]) == (1, 1, 8)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp)  # what a reader of the temporary would have got

    code, _, err = _run(_argv(mini_root, out, "--resume"), cache)
    assert code == 0, err
    _same_run(reference, out)


def test_ctrl_c_saves_exits_130_and_resumes(reference, mini_root, cache, tmp_path):
    """SIGINT in step 9 (epoch 2, step 2): the step finishes, last.pt is saved there, exit 130
    with the command that continues; the resumed run ends where the reference ends."""
    out, marker = tmp_path / "run", tmp_path / "paused"
    child = Child(_argv(mini_root, out), cache, marker, FP_PAUSE_STEP="9")
    child.wait_for_marker()
    child.proc.send_signal(signal.SIGINT)
    child.wait_for_stderr("Ctrl-C: stopping after this step")  # while the step is paused
    child.go_on()
    code, _, err = child.finish()
    assert code == 130, err
    assert f"facepoints train --resume --out {out}" in err
    state = load_checkpoint(out / "last.pt")
    assert (state["epoch"], state["step"], state["global_step"]) == (1, 2, 9)

    code, _, err = _run(_argv(mini_root, out, "--resume"), cache)
    assert code == 0, err
    _same_run(reference, out)


# --- errors that must be clear, not corruption (in this process: they stop before training) ---


def test_run_folder_that_cannot_be_written(mini_root, tmp_path, capsys):
    not_a_folder = tmp_path / "out"
    not_a_folder.write_text("a file where the run folder should be\n")
    code = main(_argv(mini_root, not_a_folder))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert str(not_a_folder) in err[0] and "cannot write the run folder" in err[0]
    assert not_a_folder.read_text().startswith("a file")  # untouched


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="running as root: permission bits do not stop root from writing",
)
def test_read_only_run_folder(mini_root, tmp_path, capsys):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        code = main(_argv(mini_root, out))
    finally:
        out.chmod(0o755)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "cannot write the run folder" in err[0]
    assert list(out.iterdir()) == []


def test_damaged_last_checkpoint_is_a_clear_error(mini_root, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    torch.save({"model": {}}, out / "whole.pt")
    data = (out / "whole.pt").read_bytes()
    (out / "last.pt").write_bytes(data[: len(data) // 2])  # e.g. a copy cut short
    code = main(_argv(mini_root, out, "--resume"))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 6 and len(err) == 1
    assert "last.pt" in err[0] and "not a readable checkpoint" in err[0]


# --- images that cannot be decoded: skipped and counted, up to a limit -------------------------


def _cfg(root: Path, out: Path, **kw) -> TrainConfig:
    base = dict(
        data_root=str(root), model="sun2013", batch_size=16, val_fraction=0.125, epochs=1,
        warmup_epochs=0.0, workers=0, threads=1, checkpoint_minutes=None, out=str(out),
    )  # fmt: skip
    return TrainConfig(**{**base, **kw})


def _break_images(root: Path, n: int) -> list[str]:
    """Cut the first n images of the list short: their headers read, their pixels do not."""
    lines = (root / "trainImageList.txt").read_text().splitlines()
    names = [line.split()[0].replace("\\", "/") for line in lines[:n]]
    for name in names:
        data = (root / name).read_bytes()
        (root / name).write_bytes(data[: len(data) // 3])
    return names


def test_undecodable_images_are_skipped_and_counted(mini_root, tmp_path, caplog):
    root = tmp_path / "data"
    shutil.copytree(mini_root, root)
    broken = _break_images(root, 2)
    caplog.set_level(logging.INFO, logger="facepoints.training.loop")
    run = train(_cfg(root, tmp_path / "a", max_bad_fraction=0.05), progress=False)
    assert run["finished"] and run["bad_faces"] == 2
    said = caplog.text
    assert all(name.split("/")[-1] in said for name in broken) and "truncated" in said
    assert f"skipped 2 of {N_FACES} faces" in said
    # a second run reads the crops from the cache and still knows which faces are bad
    run = train(_cfg(root, tmp_path / "b", max_bad_fraction=0.05), progress=False)
    assert run["finished"] and run["bad_faces"] == 2
    _same_final_weights(tmp_path / "a", tmp_path / "b")


def test_too_many_undecodable_images_stop_the_run(mini_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(mini_root, root)
    broken = _break_images(root, 10)  # ~8% of the faces; the limit is 1%
    with pytest.raises(ImageError) as e:
        train(_cfg(root, tmp_path / "run"), progress=False)
    msg = str(e.value)
    assert "\n" not in msg and "cannot be decoded" in msg and "at most 1%" in msg
    assert any(name in e.value.path for name in broken)


def _same_final_weights(a: Path, b: Path) -> None:
    wa, wb = load_checkpoint(a / "last.pt")["model"], load_checkpoint(b / "last.pt")["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
