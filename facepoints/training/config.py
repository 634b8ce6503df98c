"""`TrainConfig`: every knob of a training run in one dataclass, written as `config.json` into the
run folder; CLI flags override it through `apply_overrides`."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

__all__ = [
    "TrainConfig",
    "apply_overrides",
    "OPTIMIZERS",
    "SCHEDULES",
    "RUNTIME_FIELDS",
    "AMP_MODES",
]

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("cosine", "step", "onecycle", "none")
AMP_MODES = ("auto", "off", "bf16", "fp16")  # mixed precision (CPU: bf16/fp16 when asked)

# Fields that only say how to run, not what is trained: a resumed run takes these from the new
# config and everything else from its checkpoint, so the run it continues stays the same run.
RUNTIME_FIELDS = (
    "resume",
    "threads",
    "workers",
    "device",
    "amp",
    "checkpoint_minutes",
    "checkpoint_steps",
    "limit_time_minutes",
    "stop_after_steps",
)


@dataclass
class TrainConfig:
    """One training run. Lengths are in epochs, times in minutes, fractions in [0, 1]."""

    # data
    dataset: str | None = None  # a name of facepoints.data.DATASETS; None: what data_root holds
    data_root: str | None = None  # None: $FACEPOINTS_DATA/<dataset> or the user cache
    split: str = "train"
    val_fraction: float = 0.1  # validation = a seeded split of the *training* faces
    max_faces: int | None = None  # a seeded subset of the split for quick runs; None: all
    margin: float = 0.2  # crop side = box side * (1 + margin)
    augment: float = 1.0  # augmentation strength: 0 none, 1 default, > 1 stronger
    flip: bool = True
    augment_kind: str = "standard"  # "wild": + large poses, occluders, motion blur, low res, JPEG
    max_bad_fraction: float = 0.01  # skip faces whose image cannot be decoded, up to this
    # several datasets at once, each in its own scheme: {label: {"dataset", "data_root", "split",
    # "weight"}} (see facepoints.data.mixture); when given, dataset/data_root/split are unused
    mix: dict = field(default_factory=dict)
    scheme: str | None = None  # the scheme the model predicts; None: the (densest) data's
    epoch_size: int | None = None  # faces drawn per epoch from a mix; None: all of them
    # model
    model: str = "resnet18"
    model_kwargs: dict = field(default_factory=dict)
    input_size: int | None = None  # None: the model's default
    in_channels: int | None = None  # None: the model's default (1 grey, 3 RGB)
    # start from these weights (shipped name, .safetensors, .pt or run folder): fine-tuning;
    # the model above must have the same shapes
    init: str | None = None
    # optimisation
    loss: str = "wing"  # a name of facepoints.training.LOSSES
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9  # SGD only
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    epochs: int = 60
    batch_size: int = 64
    seed: int = 0
    # running
    threads: int | None = None  # torch CPU threads; None: torch's default
    workers: int = 2  # DataLoader worker processes; 0: load in the main process
    device: str = "auto"  # "auto" (cuda when available), "cpu", "cuda", "cuda:1", "mps"
    channels_last: bool = False
    # mixed precision: auto (on CUDA bf16 where the GPU has it, else fp16 with loss scaling; on
    # the CPU float32), bf16, fp16 (with loss scaling; on the CPU too), off
    amp: str = "auto"
    out: str = "runs/train"  # the run folder
    resume: bool = False  # continue from out/last.pt, to the step
    eval_every: int = 1  # validate every N epochs (and after the last)
    checkpoint_minutes: float | None = 10.0  # also save last.pt this often within an epoch
    checkpoint_steps: int | None = None  # and every this many steps (None: by time alone)
    limit_time_minutes: float | None = None  # stop cleanly (resumable) after this long
    stop_after_steps: int | None = None  # stop cleanly after this many steps of this call (tests)

    def __post_init__(self) -> None:
        self.validate()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict of every field."""
        d = dataclasses.asdict(self)
        d["model_kwargs"] = dict(self.model_kwargs)
        d["mix"] = {k: dict(v) for k, v in self.mix.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """The config of a dict such as `to_dict` writes; unknown keys raise ConfigError."""
        if not isinstance(d, dict):
            raise ConfigError(f"a training config must be a dict, got {type(d).__name__}")
        return apply_overrides(cls(), d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    def validate(self) -> None:
        """Raise ConfigError for a value out of range or an unknown choice."""
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("amp", self.amp, AMP_MODES)
        _choice("augment_kind", self.augment_kind, ("standard", "wild"))
        _check_loss(self.loss)
        if not (isinstance(self.model, str) and self.model):
            raise ConfigError(f"model must be a model name, got {self.model!r}")
        if self.mix:
            from ..data.mixture import parse_mix

            parse_mix(self.mix)
        if self.scheme is not None:
            from ..schemes import get_scheme

            get_scheme(self.scheme)
        if not isinstance(self.model_kwargs, dict):
            raise ConfigError(f"model_kwargs must be a dict, got {self.model_kwargs!r}")
        if not (0.0 <= self.val_fraction < 1.0):
            raise ConfigError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        _positive("lr", self.lr)
        _positive("epochs", self.epochs)
        _positive("batch_size", self.batch_size)
        _positive("eval_every", self.eval_every)
        _at_least_zero("weight_decay", self.weight_decay)
        _at_least_zero("momentum", self.momentum)
        _at_least_zero("warmup_epochs", self.warmup_epochs)
        _at_least_zero("augment", self.augment)
        _at_least_zero("margin", self.margin)
        _at_least_zero("workers", self.workers)
        if self.warmup_epochs > self.epochs:
            raise ConfigError(
                f"warmup_epochs ({self.warmup_epochs}) is longer than the run ({self.epochs})"
            )
        if not (0.0 <= self.max_bad_fraction < 1.0):
            raise ConfigError(f"max_bad_fraction must be in [0, 1), got {self.max_bad_fraction}")
        for name in (
            "max_faces",
            "threads",
            "input_size",
            "stop_after_steps",
            "checkpoint_steps",
            "epoch_size",
        ):
            if getattr(self, name) is not None:
                _positive(name, getattr(self, name))
        for name in ("checkpoint_minutes", "limit_time_minutes"):
            if getattr(self, name) is not None:
                _positive(name, getattr(self, name))
        if self.in_channels not in (None, 1, 3):
            raise ConfigError(f"in_channels must be 1 or 3, got {self.in_channels!r}")
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", str(self.device)):
            raise ConfigError(f"device must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}")
        if not self.out:
            raise ConfigError("out (the run folder) must not be empty")


def apply_overrides(cfg: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """A new config: `cfg` with `overrides` applied. Values may be typed or strings from the
    command line ("0.1", "true", "none", '{"width": 32}'); unknown keys and bad values raise
    ConfigError."""
    hints = typing.get_type_hints(TrainConfig)
    changes = {}
    for key, value in overrides.items():
        name = key.replace("-", "_")
        if name not in hints:
            known = ", ".join(f.name for f in dataclasses.fields(TrainConfig))
            raise ConfigError(f"unknown training option {key!r}; known: {known}")
        changes[name] = _coerce(name, value, hints[name])
    return dataclasses.replace(cfg, **changes)  # runs __post_init__, so validates


# --- helpers -------------------------------------------------------------------------------------


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """`value` as the type `hint` of field `name` (int, float, bool, str, dict, or X | None)."""
    args = typing.get_args(hint)
    optional = type(None) in args and (
        typing.get_origin(hint) is typing.Union or isinstance(hint, types.UnionType)
    )
    base = next((a for a in args if a is not type(None)), hint) if optional else hint
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null")):
        if optional:
            return None
        raise ConfigError(f"{name} must not be empty")
    try:
        if base is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
                return True
            if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off"):
                return False
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            raise ValueError
        if base is int:
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value) if not isinstance(value, str) else int(value.strip())
        if base is float:
            if isinstance(value, bool):
                raise ValueError
            v = float(value)
            if not math.isfinite(v):
                raise ValueError
            return v
        if base is str:
            if not isinstance(value, str):
                raise ValueError
            return value
        if base is dict:
            v = json.loads(value) if isinstance(value, str) else value
            if not isinstance(v, dict):
                raise ValueError
            return dict(v)
    except (ValueError, TypeError, json.JSONDecodeError):
        pass
    else:
        raise ConfigError(f"option {name}: unsupported type {hint!r}")  # a bug, not user input
    kind = getattr(base, "__name__", str(base))
    raise ConfigError(
        f"option {name} must be {'empty or ' if optional else ''}{kind}, got {value!r}"
    )


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def _check_loss(name: str) -> None:
    from .losses import LOSSES

    if name not in LOSSES:
        raise ConfigError(f"unknown loss {name!r}; known: {', '.join(LOSSES)}")


def _positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"{name} must be a positive number, got {value!r}")


def _at_least_zero(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ConfigError(f"{name} must be zero or more, got {value!r}")
