"""`facepoints train`: every TrainConfig field is a flag; `--config` starts from a JSON file."""

from __future__ import annotations

import argparse
import dataclasses
import faulthandler
import json
import os
import sys
import typing
from pathlib import Path


def register(sub) -> None:
    from ..training.config import TrainConfig

    p = sub.add_parser(
        "train",
        help="train a landmark model (resumable)",
        description="Train a model on a dataset's training split; validation is a seeded split of "
        "the training faces. The run folder gets config.json, log.csv, curves.png, last.pt, "
        "best.pt and best.safetensors. Defaults come from TrainConfig; --config FILE loads a "
        "saved config.json first, flags override it. Ctrl-C saves last.pt and exits with 130; "
        "--resume --out RUN continues to the step. Several processes or GPUs: torchrun "
        "--nproc_per_node=N -m facepoints train ... (batch_size is the global batch).",
    )
    p.add_argument("--config", help="start from this config.json (e.g. a recipe's)")
    p.add_argument(
        "--override-settings",
        action="store_true",
        help="with --resume: apply the settings given (e.g. --lr, --epochs) from the step the "
        "run resumes at, though they differ from its saved config.json (without this flag such "
        "a resume is refused)",
    )
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if hints[f.name] is bool:
            p.add_argument(
                flag,
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=f"(default {default})",
            )
        else:
            shown = json.dumps(default) if isinstance(default, dict) else default
            p.add_argument(flag, dest=f.name, default=None, metavar="V", help=f"(default {shown})")
    p.set_defaults(handler=_train)

    q = sub.add_parser(
        "train-parts",
        help="train part refiners for a dense model (resumable)",
        description="Train the part refiners of a recipe (facepoints.inference.parts: one small "
        "network per part of the face, on patches cut around the human points), each part's "
        "blend chosen on the base model's points of the validation faces. The run folder gets "
        "config.json, PART.csv and PART.pt per part, parts.safetensors and report.json. Run the "
        "same command again to continue a run that was stopped; finished parts are kept.",
    )
    q.add_argument("--config", required=True, help="the recipe (e.g. recipes/dense98-parts.json)")
    q.add_argument("--out", required=True, help="run folder")
    q.add_argument("--threads", type=int, help="CPU threads (default: the recipe's)")
    q.set_defaults(handler=_train_parts)


def _train_parts(a: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..training.parts import PartsConfig, train_parts
    from ..training.runlock import run_lock

    try:
        d = json.loads(Path(a.config).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"{a.config}: cannot read the recipe ({e})") from None
    if a.threads is not None:
        if a.threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {a.threads}")
        d["threads"] = a.threads
    cfg = PartsConfig.from_dict(d)
    with run_lock(a.out):
        train_parts(cfg, a.out, say=lambda m: print(m, flush=True))
    return 0


def _train(a: argparse.Namespace) -> int:
    import warnings

    from ..device import check_device
    from ..errors import ConfigError, FacepointsWarning
    from ..training import TrainConfig, train
    from ..training.config import RUNTIME_FIELDS, apply_overrides
    from ..training.runlock import check_resume, run_lock

    names = [f.name for f in dataclasses.fields(TrainConfig)]
    overrides = {n: getattr(a, n) for n in names if getattr(a, n) is not None}
    base = TrainConfig()
    cfg_file = a.config
    if cfg_file is None and overrides.get("resume") and overrides.get("out"):
        saved = Path(overrides["out"]) / "config.json"
        cfg_file = saved if saved.is_file() else None
    if cfg_file:
        try:
            base = TrainConfig.from_dict(json.loads(Path(cfg_file).read_text()))
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"{cfg_file}: cannot read config ({e})") from None
    cfg = apply_overrides(base, overrides)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        faulthandler.enable()  # a rank that aborts says where, in Python, it was
    check_device(cfg.device)  # a device this torch build lacks: one usage error, before any work
    with run_lock(cfg.out):  # one training per run folder (BusyError, exit 7)
        if cfg.resume:
            changes = check_resume(
                cfg.out, cfg.to_dict(), RUNTIME_FIELDS, override=a.override_settings
            )
            if changes:
                shown = ", ".join(
                    f"{n} {new!r} (saved {old!r})" for n, (old, new) in changes.items()
                )
                warnings.warn(
                    f"resuming {cfg.out} with changed settings: {shown}",
                    FacepointsWarning,
                    stacklevel=1,
                )
        result = train(cfg, override_settings=a.override_settings)
    if result.get("rank", 0) == 0:  # under torchrun, rank 0 speaks for the run
        print(json.dumps({k: v for k, v in result.items() if _plain(v)}, indent=2, default=str))
    code = 130 if result["stopped"] == "interrupted" else 0  # 130: the shell's code for Ctrl-C
    if "rank" in result:
        _leave_torchrun(code)
    return code


def _leave_torchrun(code: int) -> None:
    """End a torchrun rank now that its run is saved and the process group is gone: flush and
    exit without the interpreter's teardown. Gloo's threads and the objects they hold can abort
    the process while the interpreter finalises ("terminate called without an active
    exception"), which torchrun reports as a failed run although every file is written."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _plain(v) -> bool:
    return isinstance(v, (int, float, str, bool, type(None), list, dict)) or hasattr(
        v, "__fspath__"
    )
