"""The training loop: read the split, make crops, fit, validate in image pixels, checkpoint.

One plain function, `train`, read top to bottom. A run lives in one folder (`cfg.out`):

    config.json        the TrainConfig
    log.csv            one row per epoch: epoch, step, train_loss, train_nme, val_nme, val_fr,
                       lr, elapsed_s (training wall-clock time, kept across resumes)
    curves.png         the log as plots
    last.pt            the full training state (see checkpoint.py), after every epoch, every
                       `checkpoint_minutes` and every `checkpoint_steps` within one, and when
                       stopped (Ctrl-C, time limit)
    best.pt            the state of the epoch with the lowest validation NME
    best.safetensors   that epoch's model alone, for shipping (`facepoints.models.load_model`)

Resuming is exact: an epoch's batch order is a permutation drawn from (seed, epoch), augmentation
is keyed on (seed, epoch, face), and the checkpoint holds the random states, so a run stopped
after step s of epoch e and resumed trains on the same batches with the same weights as a run
that never stopped. Every file is written atomically, so a run killed at any moment (even while
saving) leaves whole files; the steps after its last checkpoint are redone, identically.

Faces whose image cannot be decoded are skipped and reported, up to `max_bad_fraction` of them.

Several processes (`torchrun --nproc_per_node=N -m facepoints train ...`, see distributed.py)
train one model with DistributedDataParallel. `batch_size` is the global batch, split evenly over
the ranks: rank r of R takes faces r, r + R, ... of each global batch of the same (seed, epoch)
order, and augmentation is keyed on the face, so the batches, and up to batch-norm statistics
and rounding the results, do not depend on the number of processes; a run may be resumed with
another number. Rank 0 alone writes the run folder; validation is sharded over the ranks. On
CUDA, `amp` trains in mixed precision (bf16, or fp16 with loss scaling).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import logging
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Subset

from ..data.mixture import MixedDataset, MixPart, epoch_order, lift_index, model_scheme, parse_mix
from ..errors import CheckpointError, ConfigError, FacepointsError
from ..io import atomic_write, atomic_write_bytes
from ..schemes import Scheme, get_scheme
from .checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .config import RUNTIME_FIELDS, TrainConfig
from .distributed import (
    DistInfo,
    all_reduce_mean,
    all_reduce_sum,
    broadcast_buffers,
    cleanup,
    init_distributed,
    local_main_first,
    ranks_agree,
    state_hash,
)
from .losses import get_loss
from .precision import Precision
from .runlog import (
    LOG_COLUMNS,
    append_log,
    cell,
    epoch_line,
    last_log_row,
    plot_curves,
    read_rows,
    trim_log,
)
from .stopping import Stopper
from .warm_start import load_init

__all__ = ["train", "evaluate", "LOG_COLUMNS", "OPTIMIZERS", "lr_factor", "resolve_device"]


log = logging.getLogger(__name__)


def train(
    cfg: TrainConfig, progress: bool = True, override_settings: bool = False
) -> dict[str, Any]:
    """Train (or, with `cfg.resume`, continue training) the run in `cfg.out`; returns its final
    numbers and file paths (see `_result`). Ctrl-C stops after the current step, saving last.pt.
    A resumed run keeps the settings saved in its checkpoint (all but the runtime ones), unless
    `override_settings`: then `cfg`'s apply from the step it resumes at (e.g. another lr or more
    epochs). Under torchrun every process calls this, and together they train one model."""
    dist = init_distributed(resolve_device(cfg.device))
    finished = False
    try:
        result = _train(cfg, progress and dist.is_main, dist, override_settings)
        finished = True
        return result
    finally:
        cleanup(dist, finished=finished)


def _train(
    cfg: TrainConfig, progress: bool, dist: DistInfo, override: bool = False
) -> dict[str, Any]:
    """The run, step by step: open the run folder, read the data, build the model and its
    optimiser, restore a resumed state, then train epoch by epoch (validate, log, checkpoint)."""
    say = _printer(progress)
    cfg, resumed, files = _open_run(cfg, dist, override)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = dist.device  # resolve_device(cfg.device); under torchrun on CUDA, GPU LOCAL_RANK
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    _seed_everything(cfg.seed)

    model = _build_model(cfg, _data_scheme(cfg), resumed, device, dist)
    data = _load_data(cfg, model, progress, dist, say)
    run = _Run(cfg, model, data, files, device, dist, say, progress)
    if resumed is not None:
        run.restore(resumed)
    elif dist.is_main:
        trim_log(files["log"], 0)
    run.announce()
    if cfg.init and resumed is None:
        run.validate_init()

    stopper = Stopper(cfg, run.t_start, run.global_step, dist)
    stopped: str | None = None
    with stopper, _abort_message(say, files["last"]):
        for epoch in range(run.start_epoch, cfg.epochs):
            stopped = run.train_epoch(epoch, stopper)
            if stopped:
                break
            run.end_epoch(epoch)
            if epoch + 1 < cfg.epochs:
                stopped = stopper.reason(run.global_step)
                if stopped:
                    break
    return run.finish(stopped)


def _open_run(
    cfg: TrainConfig, dist: DistInfo, override: bool = False
) -> tuple[TrainConfig, dict[str, Any] | None, dict[str, Path]]:
    """(the run's config, the state to resume or None, its files): a new run folder, or the
    checkpoint of the one to continue; rank 0 writes config.json."""
    out = Path(cfg.out)
    files = _run_files(out)
    resumed: dict[str, Any] | None = None
    if cfg.resume:
        if not files["last"].is_file():
            raise CheckpointError(f"{files['last']}: nothing to resume (no last.pt in {out})")
        resumed = load_checkpoint(files["last"])
        cfg = _resumed_config(resumed, cfg, override)
    elif files["last"].is_file():
        raise ConfigError(
            f"{out} already holds a run (last.pt); pass resume to continue it, or another out"
        )
    if cfg.dataset is None and not cfg.mix:  # name it, so the run folder says what it learnt
        cfg = dataclasses.replace(cfg, dataset=_dataset_name(cfg.data_root))
    if dist.is_main:  # rank 0 alone writes the run folder
        try:
            out.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(files["config"], cfg.to_json().encode())
        except OSError as e:
            raise ConfigError(
                f"{out}: cannot write the run folder here ({e.strerror or e})"
            ) from None
        _remove_stale_temporaries(out, files)
    return cfg, resumed, files


def _parts(cfg: TrainConfig) -> list[MixPart]:
    """The datasets of a run: the mix, or the one dataset as a mix of one."""
    if cfg.mix:
        return parse_mix(cfg.mix)
    return [MixPart(cfg.dataset or "data", cfg.dataset, cfg.data_root, cfg.split, 1.0)]


def _data_scheme(cfg: TrainConfig) -> Scheme:
    """The scheme the model predicts: cfg.scheme, else the densest of its datasets' schemes."""
    from ..data import DATASETS, detect_dataset

    schemes = []
    for part in _parts(cfg):
        name = part.dataset or detect_dataset(part.data_root or ".")
        schemes.append(get_scheme(DATASETS.get(name).scheme))
    return model_scheme(schemes, cfg.scheme)


@dataclasses.dataclass
class _Data:
    """A run's faces: the training mixture, and each dataset's validation crops with the model
    points that project onto its scheme."""

    scheme: Scheme
    parts: list[MixPart]
    train: MixedDataset
    val: list[tuple[MixPart, Any, np.ndarray]]  # (part, LandmarkDataset, lift index)
    n_faces: int
    bad: list[tuple[Path, str]]


def _load_data(cfg: TrainConfig, model, progress: bool, dist: DistInfo, say) -> _Data:
    """Read each dataset's split, keep a seeded validation part of it, and make their crops."""
    from ..data import read_dataset
    from ..data.dataset import LandmarkDataset, check_bad_faces

    parts = _parts(cfg)
    train_sets, val = [], []
    n_faces = 0
    with local_main_first(dist):  # it caches the crops; the other ranks read them
        for part in parts:
            records = read_dataset(part.dataset, part.split, part.data_root)
            if cfg.max_faces and cfg.max_faces < len(records):
                keep = np.random.default_rng(cfg.seed).permutation(len(records))[: cfg.max_faces]
                records = records.subset(np.sort(keep))
            n_faces += len(records)
            train_records, val_records = records.split(cfg.val_fraction, cfg.seed)
            if len(train_records) == 0:
                raise ConfigError(
                    f"no training faces left in {part.label} (split {part.split}, "
                    f"{len(records)} faces)"
                )
            common = {"margin": cfg.margin, "progress": progress, "max_bad": 1.0}
            size, channels = model.input_size, model.in_channels
            train_sets.append(
                LandmarkDataset(
                    train_records,
                    size,
                    channels,
                    augment=cfg.augment,
                    flip=cfg.flip,
                    augment_kind=cfg.augment_kind,
                    seed=cfg.seed,
                    **common,
                )  # fmt: skip
            )
            v = LandmarkDataset(val_records, size, channels, **common)
            val.append((part, v, lift_index(records.scheme, model.scheme)))
    bad = [b for s in train_sets for b in s.bad] + [b for _, v, _ in val for b in v.bad]
    check_bad_faces(bad, n_faces, cfg.max_bad_fraction)
    for image, message in bad:
        say(f"skipped a face: {image}: {message}")
    if bad:
        say(f"skipped {len(bad)} of {n_faces} faces whose image cannot be decoded")
    return _Data(model.scheme, parts, MixedDataset(train_sets, model.scheme), val, n_faces, bad)


def _build_model(cfg: TrainConfig, scheme: Scheme, resumed, device, dist: DistInfo):
    """The model of the config, predicting `scheme`, with its init weights (a fresh run), on
    `device`."""
    from ..models import create_model

    sizes = {"input_size": cfg.input_size, "in_channels": cfg.in_channels}
    kwargs = {**cfg.model_kwargs, **{k: v for k, v in sizes.items() if v is not None}}
    model = create_model(cfg.model, num_points=scheme.num_points, **kwargs)
    model.scheme = scheme
    if cfg.init and resumed is None:
        load_init(model, cfg.init, scheme)
    model.to(device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    if dist.distributed and device.type == "cuda":  # batch statistics of the global batch
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        model.scheme = scheme
    return model


class _Run:
    """The state of a run while it trains: model, optimiser, schedule, counters, best epoch; its
    methods are the loop's steps."""

    def __init__(self, cfg, model, data: _Data, files, device, dist: DistInfo, say, progress):
        from ..data.dataset import make_loader

        self.cfg, self.model, self.data, self.files = cfg, model, data, files
        self.device, self.dist, self.say, self.progress = device, dist, say, progress
        self.scheme = data.scheme
        n_train = len(data.train) if not cfg.mix else (cfg.epoch_size or len(data.train))
        self.batch_size = _global_batch(cfg.batch_size, n_train, dist.world_size)
        self.rank_batch = self.batch_size // dist.world_size  # each rank's share of a batch
        self.steps_per_epoch = n_train // self.batch_size  # the last partial batch is dropped
        self.n_train = n_train
        self.pin = device.type == "cuda"  # page-locked batches, copied to the GPU asynchronously
        if self.pin and cfg.workers < 4:
            say(f"{cfg.workers} data loading workers may leave the GPU waiting; try --workers 4-8")
        self.val_loaders = [
            (part, v.records.scheme, lift, make_loader(
                _shard(v, dist), self.rank_batch, workers=cfg.workers, pin_memory=self.pin))
            for part, v, lift in data.val
            if len(v)
        ]  # fmt: skip
        self.precision = Precision(cfg.amp, device, say)
        self.point_loss = get_loss(cfg.loss)
        self.optimizer = OPTIMIZERS[cfg.optimizer](model.parameters(), cfg)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lr_factor(
                cfg.schedule,
                total_steps=cfg.epochs * self.steps_per_epoch,
                warmup_steps=round(cfg.warmup_epochs * self.steps_per_epoch),
            ),
        )
        self.forward_train = _ddp(model, dist) if dist.distributed else model.forward_train
        self.start_epoch, self.start_step, self.global_step = 0, 0, 0
        self.elapsed_before = 0.0
        self.last_row: dict[str, Any] = {}  # the log row of the last finished epoch
        self.best = {"metric": math.inf, "epoch": 0}
        self.sums = _epoch_sums()
        self.at = (0, 0)  # (epochs done, steps done in the next) of the last save
        self.t_start = time.monotonic()
        self.last_save = self.t_start

    @property
    def n_val(self) -> int:
        return sum(len(v) for _, v, _ in self.data.val)

    def elapsed(self) -> float:
        return self.elapsed_before + (time.monotonic() - self.t_start)

    def restore(self, resumed: dict[str, Any]) -> None:
        """Continue from a checkpoint: weights, optimiser, schedule, random states, counters."""
        try:
            self.model.load_state_dict(resumed["model"])
        except RuntimeError:
            raise CheckpointError(
                f"{self.files['last']}: its weights do not fit model {self.cfg.model} with these "
                "settings (another architecture cannot continue this run)"
            ) from None
        self.optimizer.load_state_dict(resumed["optimizer"])
        self.scheduler.load_state_dict(resumed["scheduler"])
        # the schedule of this config from the step reached (another lr or length, when
        # settings were overridden; the same otherwise)
        self.scheduler.base_lrs = [self.cfg.lr for _ in self.scheduler.base_lrs]
        for group in self.optimizer.param_groups:
            group["initial_lr"] = self.cfg.lr
        self.precision.load_state_dict(resumed.get("scaler"))
        set_rng_state(resumed["rng"])
        self.start_epoch, self.start_step = int(resumed["epoch"]), int(resumed["step"])
        self.global_step = int(resumed["global_step"])
        self.elapsed_before = float(resumed["elapsed_s"])
        self.best = dict(resumed["best"])
        self.sums = dict(resumed["epoch_sums"])
        self.at = (self.start_epoch, self.start_step)
        if self.dist.is_main:
            trim_log(self.files["log"], self.start_epoch)
        self.last_row = last_log_row(self.files["log"])
        out = self.cfg.out
        if self.start_epoch >= self.cfg.epochs:
            self.say(f"{out} has finished its {self.cfg.epochs} epochs; nothing to resume")
        else:
            self.say(
                f"resuming {out} at epoch {self.start_epoch + 1}, step "
                f"{self.start_step}/{self.steps_per_epoch}"
            )

    def announce(self) -> None:
        cfg, model = self.cfg, self.model
        sources = ", ".join(
            f"{p.label} {len(s)} (weight {p.weight:g})"
            for p, s in zip(self.data.parts, self.data.train.parts, strict=True)
        )
        self.say(
            f"{cfg.model} ({model.input_size} px, {model.in_channels} ch, {self.scheme.name}) on "
            f"{self.device}: {len(self.data.train)} training faces ({sources}), {self.n_val} "
            f"validation faces, {self.steps_per_epoch} steps of {self.batch_size} per epoch"
        )
        if self.dist.distributed:
            self.say(
                f"{self.dist.world_size} processes ({self.dist.backend}): global batch "
                f"{self.batch_size} = {self.dist.world_size} x {self.rank_batch}, lr {cfg.lr:g}"
            )

    def state(self, epoch: int, step: int) -> dict[str, Any]:
        """The whole training state after `step` batches of epoch `epoch` (0-based)."""
        return {
            "model": self.model.state_dict(),
            "model_config": self.model.config,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": epoch,
            "step": step,
            "global_step": self.global_step,
            "best": self.best,
            "epoch_sums": self.sums,
            "elapsed_s": self.elapsed(),
            "rng": rng_state(),
            "config": self.cfg.to_dict(),
            "scheme": self.scheme.name,
            **self.precision.state_dict(),  # {"scaler": ...} with fp16 loss scaling
        }

    def validate(self) -> dict[str, Any] | None:
        """NME and FR on each dataset's validation faces, in its own scheme and image pixels;
        "nme" and "fr@0.10" are their means weighted by the datasets' weights."""
        results, weights = {}, {}
        for part, scheme, lift, loader in self.val_loaders:
            results[part.label] = evaluate(
                self.model, loader, scheme, self.device, self.cfg.channels_last, self.dist,
                self.precision.dtype, lift=lift,
            )  # fmt: skip
            weights[part.label] = part.weight
        if not results:
            return None
        total = sum(weights.values())
        combined = {
            key: sum(results[k][key] * weights[k] for k in results) / total
            for key in ("nme", "fr@0.10")
        }
        return {**combined, "parts": results}

    def validate_init(self) -> None:
        """Fine-tuning: the starting weights are epoch 0, so the run's best is never worse than
        where it started (on these validation faces)."""
        val = self.validate()
        if val is None:
            return
        self.best = {"metric": float(val["nme"]), "epoch": 0}
        if self.dist.is_main:
            row = {"epoch": 0, "step": 0, "train_loss": None, "train_nme": None}
            row.update({"val_nme": val["nme"], "val_fr": val["fr@0.10"], "lr": 0.0})
            append_log(self.files["log"], {**row, "elapsed_s": 0.0})
            self._log_parts(0, val)
            save_checkpoint(self.files["best"], self.state(0, 0))
            _export(self.model, self.files["weights"], self.cfg, self.scheme, self.best, self.n_val)
        self.say(
            f"init {self.cfg.init}: val NME {val['nme']:.2%}, FR {val['fr@0.10']:.2%} (epoch 0)"
        )

    def epoch_indices(self, epoch: int) -> torch.Tensor:
        """The faces of epoch `epoch`, in order (a function of seed and epoch alone)."""
        cfg, n = self.cfg, self.steps_per_epoch * self.batch_size
        if not cfg.mix:
            return _epoch_order(len(self.data.train), cfg.seed, epoch)[:n]
        weights = [p.weight for p in self.data.parts]
        return epoch_order(self.data.train.sizes(), weights, self.n_train, cfg.seed, epoch)[:n]

    def train_epoch(self, epoch: int, stopper: Stopper) -> str | None:
        """Train one epoch from where the run stands; returns why it stopped early, if it did.
        Checkpoints at step boundaries, never in the middle of an update."""
        from ..data.dataset import make_loader

        cfg, dist = self.cfg, self.dist
        self.model.train()
        self.data.train.set_epoch(epoch)
        first = self.start_step if epoch == self.start_epoch else 0
        order = self.epoch_indices(epoch)
        mine = order[first * self.batch_size :][dist.rank :: dist.world_size]  # 1/R of a batch
        loader = make_loader(
            Subset(self.data.train, mine.tolist()),
            self.rank_batch,
            workers=cfg.workers,
            seed=cfg.seed + epoch,
            pin_memory=self.pin,
        )
        bar = _bar(loader, self.progress, epoch, cfg.epochs, first, self.steps_per_epoch)
        stopped = None
        for step, batch in enumerate(bar, start=first):
            self.train_step(batch, epoch, step)
            if self.progress:
                bar.set_postfix(
                    loss=f"{self.sums['loss'] / self.sums['batches']:.4g}",
                    nme=f"{self.sums['nme'] / self.sums['batches']:.2%}",
                    refresh=False,
                )
            if step + 1 < self.steps_per_epoch:
                stopped = stopper.reason(self.global_step)
                if stopped or self._checkpoint_due():
                    if dist.is_main:
                        save_checkpoint(self.files["last"], self.state(epoch, step + 1))
                    self.at, self.last_save = (epoch, step + 1), time.monotonic()
                if stopped:
                    break
        if self.progress:
            bar.close()
        return stopped

    def train_step(self, batch: dict[str, Any], epoch: int, step: int) -> None:
        """One optimiser step on one batch, its loss and NME added to the epoch's sums."""
        x = batch["image"].to(self.device, non_blocking=True)
        if self.cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        target = batch["points"].to(self.device, non_blocking=True)
        mask = batch["mask"].to(self.device, non_blocking=True)
        with self.precision.autocast():
            outputs = self.forward_train(x)
        loss, _ = self.model.compute_loss(outputs, target, self.point_loss, mask=mask)
        self.optimizer.zero_grad(set_to_none=True)
        self.precision.backward_step(loss, self.optimizer)
        self.scheduler.step()
        self.global_step += 1

        loss_value = loss.item()
        nme_value = _batch_nme(outputs["points"].detach(), target, mask, batch["norm"])
        if self.dist.distributed:  # the global batch's numbers, the same on every rank
            loss_value, nme_value = all_reduce_mean([loss_value, nme_value], self.dist)
        if not math.isfinite(loss_value):
            raise FacepointsError(
                f"training diverged: loss {loss_value} at epoch {epoch + 1}, step "
                f"{step + 1}; try a lower lr (last.pt holds the last good state)"
            )
        self.sums["loss"] += loss_value
        self.sums["nme"] += nme_value
        self.sums["batches"] += 1

    def _checkpoint_due(self) -> bool:
        cfg = self.cfg
        late = cfg.checkpoint_minutes and (
            time.monotonic() - self.last_save >= 60 * cfg.checkpoint_minutes
        )
        counted = cfg.checkpoint_steps and self.global_step % cfg.checkpoint_steps == 0
        return bool(late or counted)

    def end_epoch(self, epoch: int) -> None:
        """Validate, log, keep the best, checkpoint and plot at the end of an epoch."""
        cfg = self.cfg
        broadcast_buffers(self.model, self.dist)  # rank 0's batch-norm statistics everywhere
        validate = (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs
        val = self.validate() if validate else None
        train_loss = self.sums["loss"] / max(1, self.sums["batches"])
        self.last_row = {
            "epoch": epoch + 1,
            "step": self.global_step,
            "train_loss": train_loss,
            "train_nme": self.sums["nme"] / max(1, self.sums["batches"]),
            "val_nme": val["nme"] if val else None,
            "val_fr": val["fr@0.10"] if val else None,
            "lr": self.optimizer.param_groups[0]["lr"],
            "elapsed_s": self.elapsed(),
        }
        # without validation faces the training loss picks the best epoch
        metric = val["nme"] if val else (train_loss if not self.n_val else None)
        improved = metric is not None and metric < self.best["metric"]
        if improved:
            self.best = {"metric": float(metric), "epoch": epoch + 1}
        self.sums = _epoch_sums()
        final = self.state(epoch + 1, 0)
        if self.dist.is_main:  # rank 0 alone writes the run folder
            append_log(self.files["log"], self.last_row)
            if val:
                self._log_parts(epoch + 1, val)
            if improved:  # before last.pt: a run killed in between redoes the epoch and these
                save_checkpoint(self.files["best"], final)
                _export(self.model, self.files["weights"], cfg, self.scheme, self.best, self.n_val)
            save_checkpoint(self.files["last"], final)
            plot_curves(self.files["log"], self.files["plot"], self.say)
        self.at, self.last_save = (epoch + 1, 0), time.monotonic()
        self.say(epoch_line(self.last_row, cfg.epochs, improved))

    def _log_parts(self, epoch: int, val: dict[str, Any]) -> None:
        """val_parts.csv: each dataset's validation NME and FR of a mix, one row per epoch."""
        if not self.cfg.mix:
            return
        path = self.files["log"].with_name("val_parts.csv")
        rows = [r for r in read_rows(path) if int(r["epoch"]) < epoch]
        for label, r in val["parts"].items():
            rows.append({"epoch": epoch, "dataset": label, "nme": r["nme"], "fr": r["fr@0.10"]})
        with atomic_write(path, "w") as f:
            w = csv.DictWriter(f, fieldnames=["epoch", "dataset", "nme", "fr"])
            w.writeheader()
            w.writerows({k: cell(v) for k, v in r.items()} for r in rows)

    def finish(self, stopped: str | None) -> dict[str, Any]:
        """The run's result; under several processes, whether they ended in sync."""
        if stopped:
            at = self.at
            where = f"epoch {at[0] + 1}, step {at[1]}" if at[1] else f"epoch {at[0]}"
            self.say(
                f"stopped ({stopped}) after {where}; saved {self.files['last']}. Continue with "
                f"`facepoints train --resume --out {self.cfg.out}` (or train() with resume=True)"
            )
        result = _result(
            self.cfg, self.files, self.last_row, self.best, self.at, self.global_step,
            self.elapsed(), stopped, str(self.device),
        )  # fmt: skip
        extra: dict[str, Any] = {"processes": self.dist.world_size, "batch_size": self.batch_size}
        if self.dist.distributed:  # every rank must end with the same model, bit for bit
            extra["rank"] = self.dist.rank
            broadcast_buffers(self.model, self.dist)
            extra["ranks_in_sync"] = ranks_agree(state_hash(self.model), self.dist)
            if not extra["ranks_in_sync"]:
                self.say(
                    "warning: the processes ended with different weights (a bug; please report)"
                )
        return {**result, "bad_faces": len(self.data.bad), **extra}


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    loader: torch.utils.data.DataLoader,
    scheme: Scheme,
    device: torch.device,
    channels_last: bool = False,
    dist: DistInfo | None = None,
    amp: torch.dtype | None = None,
    lift: np.ndarray | None = None,
) -> dict[str, Any]:
    """`summarize` of the model on a LandmarkDataset's loader, in image pixels and the faces'
    `scheme`; `lift` picks the model's points of that scheme (a model of a denser scheme). Under
    several processes (`dist`) the loader holds this rank's share (a Subset) and every rank gets
    the summary of all the faces. amp: the autocast dtype on CUDA (None: float32)."""
    from ..data.dataset import crop_to_image
    from ..evaluation.metrics import summarize

    dataset = loader.dataset
    if isinstance(dataset, Subset):  # a rank's share of the faces
        dataset = dataset.dataset
    n = len(dataset)
    if n == 0:
        return {}
    was_training = model.training
    model.eval()
    pred = np.zeros((n, scheme.num_points, 2), dtype=np.float64)
    mats = np.zeros((n, 2, 3), dtype=np.float64)
    pick = None if lift is None else torch.as_tensor(lift)
    for batch in loader:
        x = batch["image"].to(device, non_blocking=True)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        idx = batch["index"].numpy()
        with torch.autocast(device.type, dtype=amp) if amp else contextlib.nullcontext():
            out = model(x).float()
        pred[idx] = (out if pick is None else out[:, pick]).cpu().numpy()
        mats[idx] = batch["matrix"].numpy()
    model.train(was_training)
    if dist is not None and dist.distributed:  # each face was predicted by one rank
        pred = all_reduce_sum(torch.from_numpy(pred), dist).numpy()
        mats = all_reduce_sum(torch.from_numpy(mats), dist).numpy()
    points = crop_to_image(pred, mats, dataset.input_size)
    return summarize(points, dataset.records.points, scheme)


def lr_factor(schedule: str, total_steps: int, warmup_steps: int = 0) -> Callable[[int], float]:
    """The learning-rate multiplier of every step, for LambdaLR (stepped once per batch).

    cosine: linear warm-up, then half a cosine to 0. step: warm-up, then x0.1 at 50% and again
    at 75% of the steps after it. onecycle: up from lr/25 to lr by a half cosine over the warm-up
    (30% of the run when warmup_epochs is 0), then down to lr/25e4. none: warm-up, then lr."""
    total = max(1, int(total_steps))
    warm = max(0, min(int(warmup_steps), total))

    def factor(step: int) -> float:
        if schedule == "onecycle":
            up = warm or max(1, round(0.3 * total))
            if step < up:
                return _cosine_between(1 / 25, 1.0, step / up)
            return _cosine_between(1.0, 1 / 25e4, (step - up) / max(1, total - up))
        if step < warm:
            return (step + 1) / warm
        t = min(1.0, (step - warm) / max(1, total - warm))
        if schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * t))
        if schedule == "step":
            return 0.1 ** ((t >= 0.5) + (t >= 0.75))
        return 1.0

    return factor


def resolve_device(name: str) -> torch.device:
    """ "auto" -> cuda when available, else cpu; an explicit device must be available."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but CUDA is not available")
    if dev.type == "cuda" and (dev.index or 0) >= torch.cuda.device_count():
        raise ConfigError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device 'mps' asked for, but MPS is not available")
    return dev


OPTIMIZERS: dict[str, Callable[[Any, TrainConfig], torch.optim.Optimizer]] = {
    "adam": lambda p, c: torch.optim.Adam(p, lr=c.lr, weight_decay=c.weight_decay),
    "adamw": lambda p, c: torch.optim.AdamW(p, lr=c.lr, weight_decay=c.weight_decay),
    "sgd": lambda p, c: torch.optim.SGD(
        p, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay, nesterov=c.momentum > 0
    ),
}


# --- helpers -------------------------------------------------------------------------------------


def _run_files(out: Path) -> dict[str, Path]:
    return {
        "config": out / "config.json",
        "log": out / "log.csv",
        "plot": out / "curves.png",
        "last": out / "last.pt",
        "best": out / "best.pt",
        "weights": out / "best.safetensors",
    }


def _remove_stale_temporaries(out: Path, files: dict[str, Path]) -> None:
    """Remove what a killed run left half-written: the temporary files `atomic_write` makes beside
    the run's files (.last.pt.<random>.tmp, ...); the files themselves are always whole."""
    for f in files.values():
        for tmp in out.glob(f".{f.name}.*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()


def _resumed_config(
    resumed: dict[str, Any], new: TrainConfig, override: bool = False
) -> TrainConfig:
    """The checkpoint's config, with only the runtime fields (and the folder) of `new`; with
    `override`, `new` itself."""
    if "config" not in resumed:
        raise CheckpointError("the checkpoint has no training config; not a facepoints run")
    if override:
        return new
    saved = TrainConfig.from_dict(resumed["config"])
    keep = {name: getattr(new, name) for name in RUNTIME_FIELDS}
    return TrainConfig.from_dict({**saved.to_dict(), **keep, "out": new.out})


def _dataset_name(data_root: str | None) -> str:
    """The dataset `read_dataset(None, ..., data_root)` reads."""
    from ..data import detect_dataset

    return detect_dataset(data_root) if data_root is not None else "cuhk5"


def _seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled face order of one epoch, a function of (seed, epoch) alone."""
    g = torch.Generator()
    g.manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=g)


def _cosine_between(start: float, end: float, t: float) -> float:
    """From `start` at t = 0 to `end` at t = 1 along half a cosine."""
    t = min(1.0, max(0.0, t))
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * t))


def _epoch_sums() -> dict[str, float]:
    return {"loss": 0.0, "nme": 0.0, "batches": 0}


def _batch_nme(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, norm) -> float:
    """Mean NME of a batch in crop coordinates over each face's labelled points, normalised by
    its own scheme's distance (`norm`, crop units): cheap, and close enough to the image-pixel NME
    for a progress bar."""
    err = (pred.float() - target).norm(dim=-1) * mask
    per_face = err.sum(1) / mask.sum(1).clamp_min(1)
    norm = torch.as_tensor(norm, dtype=per_face.dtype, device=per_face.device).clamp_min(1e-6)
    return (per_face / norm).mean().item()


def _global_batch(batch_size: int, n: int, world: int) -> int:
    """The faces of one step over all ranks: `batch_size`, or all `n` training faces when fewer
    (rounded down to a multiple of the ranks). `batch_size` must divide among the ranks."""
    if batch_size % world:
        raise ConfigError(
            f"batch_size {batch_size} is the global batch, split evenly among the processes; "
            f"it must be a multiple of {world}"
        )
    b = min(batch_size, n)
    b -= b % world
    if b < 1:
        raise ConfigError(f"{n} training faces are too few for {world} processes")
    return b


def _shard(dataset, dist: DistInfo):
    """This rank's share of `dataset`: faces rank, rank + R, ...; all of it single-process."""
    if not dist.distributed:
        return dataset
    return Subset(dataset, range(dist.rank, len(dataset), dist.world_size))


class _TrainForward(torch.nn.Module):
    """A model's `forward_train` as `forward`, the call DistributedDataParallel wraps."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.model.forward_train(x)


def _ddp(model: torch.nn.Module, dist: DistInfo) -> torch.nn.Module:
    """`model.forward_train` under DistributedDataParallel: gradients averaged over the ranks
    during backward, rank 0's buffers given to all at each forward."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [dist.device.index] if dist.device.type == "cuda" else None
    return DistributedDataParallel(_TrainForward(model), device_ids=ids)


@contextlib.contextmanager
def _abort_message(say: Callable[[str], None], last: Path):
    try:
        yield
    except KeyboardInterrupt:
        say(f"aborted; {last} holds the state of the last checkpoint, if any")
        raise


def _bar(loader, progress: bool, epoch: int, epochs: int, first: int, total: int):
    if not progress:
        return loader
    from tqdm import tqdm

    return tqdm(
        loader,
        desc=f"epoch {epoch + 1}/{epochs}",
        total=total,
        initial=first,
        leave=False,
        dynamic_ncols=True,
    )


def _printer(progress: bool) -> Callable[[str], None]:
    def say(message: str) -> None:
        log.info(message)
        if progress:
            from tqdm import tqdm

            tqdm.write(message, file=sys.stderr)

    return say


def _export(model, path: Path, cfg: TrainConfig, scheme: Scheme, best: dict, n_val: int) -> None:
    from ..models import save_model

    save_model(
        model,
        path,
        metadata={
            "val_nme" if n_val else "train_loss": best["metric"],
            "val_faces": n_val,
            "epoch": best["epoch"],
            "scheme": scheme.name,
            "margin": cfg.margin,
            "dataset": cfg.dataset,
            "train_config": cfg.to_dict(),
        },
    )


def _result(cfg, files, row, best, at, global_step, elapsed_s, stopped, device) -> dict[str, Any]:
    return {
        "out": str(cfg.out),
        "device": device,
        "finished": stopped is None,
        "stopped": stopped,
        "epochs_done": at[0],
        "step_in_epoch": at[1],
        "global_step": global_step,
        "train_loss": row.get("train_loss"),
        "train_nme": row.get("train_nme"),
        "val_nme": row.get("val_nme"),
        "val_fr": row.get("val_fr"),
        "best_metric": best["metric"] if math.isfinite(best["metric"]) else None,
        "best_epoch": best["epoch"] or None,
        "elapsed_s": elapsed_s,
        **{k: str(v) for k, v in files.items()},
    }
