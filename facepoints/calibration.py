"""Fit a landmark model's confidence: train its `ConfidenceHead` on the model's training faces
(augmented as in training; the model itself frozen, so its points do not change) and calibrate it
on the model's validation faces, the seeded split its training held out. The numbers a confidence
promises are thereby measured on faces that neither the model nor the head learned from, and the
test faces are never touched.

    head = fit_confidence("runs/dense68")                 # a ConfidenceHead, with .info
    save_calibrated("runs/dense68", head, "runs/dense68/calibrated.safetensors")

`facepoints calibrate MODEL --out FILE` does both.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, DataError

__all__ = [
    "CalibrationConfig",
    "TrainingSplit",
    "training_split",
    "faces_digest",
    "fit_confidence",
    "save_calibrated",
]


@dataclass
class CalibrationConfig:
    """How the confidence head is fitted. Defaults measured on cuhk5-fast and cuhk5-resnet
    (validation faces): 8 epochs over the 9,000 training faces lifted the AUROC from 0.83-0.85
    (1 epoch) to 0.89-0.92; a 3x3 convolution of 32 or 64 channels and a 1x1 one of 64 or 128
    scored within 0.006 of each other after 2 epochs (cuhk5-fast), so the default is the small
    3x3 one.
    `augment` None: the model's own training strength."""

    epochs: int = 8
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    hidden: int = 32
    kernel: int = 3
    threshold: float = 0.10
    augment: float | None = None
    seed: int = 0

    def check(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch_size must be >= 1")
        if not (0 < self.threshold < 1):
            raise ConfigError(f"threshold must be in (0, 1), got {self.threshold}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"lr must be positive, got {self.lr}")


@dataclass
class TrainingSplit:
    """A model's training and validation faces as its training run split them, and where from."""

    train: Any  # FaceRecords
    val: Any  # FaceRecords
    source: dict[str, Any]


def training_split(
    loaded,
    data_root: str | Path | None = None,
    dataset: str | None = None,
    split: str | None = None,
    val_fraction: float | None = None,
    seed: int | None = None,
    max_faces: int | None = None,
) -> TrainingSplit:
    """The (training, validation) faces of `loaded` (a LoadedModel), rebuilt from its saved
    training config exactly as `facepoints.training.loop.train` built them (read the split, keep
    a seeded `max_faces`, then `FaceRecords.split(val_fraction, seed)`). Arguments given override
    the saved values (needed for models saved without a training config). For a model trained on
    a mix of datasets: the faces of the mix's first dataset."""
    from .data import read_dataset

    cfg = dict(loaded.metadata.get("train_config") or {})
    if not (dataset or cfg.get("dataset")) and cfg.get("mix"):
        # a model trained on several datasets: the first of its mix, split as training split it
        from .data.mixture import parse_mix

        first = parse_mix(cfg["mix"])[0]
        cfg.update(dataset=first.dataset, split=first.split, data_root=first.data_root)
    dataset = dataset or cfg.get("dataset") or loaded.metadata.get("dataset")
    if not dataset:
        raise ConfigError(
            f"{loaded.name}: no training config saved with this model; give --dataset, --split, "
            "--val-fraction and --seed of its training run"
        )
    split = split or cfg.get("split") or "train"
    val_fraction = float(cfg.get("val_fraction", 0.1) if val_fraction is None else val_fraction)
    seed = int(cfg.get("seed", 0) if seed is None else seed)
    max_faces = cfg.get("max_faces") if max_faces is None else max_faces
    root = data_root if data_root is not None else cfg.get("data_root")
    if not (0 < val_fraction < 1):
        raise ConfigError(f"{loaded.name}: needs validation faces, but val_fraction={val_fraction}")
    records = read_dataset(dataset, split, root)
    if max_faces and max_faces < len(records):  # as training.loop does, to the same faces
        keep = np.random.default_rng(seed).permutation(len(records))[:max_faces]
        records = records.subset(np.sort(keep))
    train, val = records.split(val_fraction, seed)
    source = {
        "dataset": dataset,
        "split": split,
        "val_fraction": val_fraction,
        "seed": seed,
        "max_faces": max_faces,
        "split_faces": len(records),
    }
    return TrainingSplit(train=train, val=val, source=source)


def faces_digest(records) -> str:
    """A short fingerprint of a face list (image names, boxes, points), to check later which
    faces a calibration was fitted on."""
    h = hashlib.sha1()
    for img, box, pts in zip(records.images, records.boxes, records.points, strict=True):
        name = "/".join(Path(img).parts[-2:])
        h.update(name.encode())
        h.update(np.round(np.asarray(box, np.float64), 1).tobytes())
        h.update(np.round(np.asarray(pts, np.float64), 1).tobytes())
    return h.hexdigest()[:16]


def fit_confidence(
    model,
    data_root: str | Path | None = None,
    config: CalibrationConfig | None = None,
    split_overrides: dict[str, Any] | None = None,
    progress: bool = True,
    say: Callable[[str], None] | None = None,
):
    """A fitted ConfidenceHead for `model` (a LoadedModel, or anything `resolve_model` takes):
    trained on its training faces with the exponential negative log-likelihood of each point's
    error (the head's scale converges to the expected error), then Platt-calibrated on its
    validation faces so that confidence c means P(error <= threshold) = c. Its `info` records
    the faces used and the validation AUROC and ECE."""
    import torch

    from . import __version__
    from .evaluation.confidence import auroc, expected_calibration_error, fit_platt, platt
    from .models.confidence import ConfidenceHead
    from .models.heads import HeatmapHead
    from .models.pretrained import LoadedModel, resolve_model

    cfg = config or CalibrationConfig()
    cfg.check()
    say = say or (lambda s: None)
    loaded = model if isinstance(model, LoadedModel) else resolve_model(model)
    net = loaded.model.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    train_cfg = loaded.metadata.get("train_config") or {}
    augment = float(train_cfg.get("augment", 1.0) if cfg.augment is None else cfg.augment)
    flip = bool(train_cfg.get("flip", True))
    max_bad = float(train_cfg.get("max_bad_fraction", 0.0))
    scheme = loaded.scheme
    mixed = bool(train_cfg.get("mix")) and not split_overrides and data_root is None
    if mixed:  # a model trained on several datasets: their own splits, points lifted
        train_set, val_set, source = _mixed_sets(loaded, augment, flip, max_bad, cfg, progress)
    else:
        parts = training_split(loaded, data_root=data_root, **(split_overrides or {}))
        _check_schemes(scheme, parts.train.scheme, loaded.name)
        source = parts.source
        from .data.dataset import LandmarkDataset

        common = {"in_channels": net.in_channels, "margin": loaded.margin, "progress": progress}
        train_set = LandmarkDataset(
            parts.train,
            net.input_size,
            augment=augment,
            flip=flip,
            seed=cfg.seed,
            max_bad=max_bad,
            **common,
        )
        val_set = LandmarkDataset(parts.val, net.input_size, max_bad=max_bad, **common)
        if len(train_set) == 0 or len(val_set) == 0:
            raise DataError(
                parts.source["dataset"],
                f"{len(train_set)} training and {len(val_set)} validation faces: need both",
            )
    device = next(net.parameters()).device
    with torch.no_grad():
        x0 = torch.zeros(1, net.in_channels, net.input_size, net.input_size, device=device)
        channels = int(net.backbone(x0).shape[1])
    torch.manual_seed(cfg.seed)
    head = ConfidenceHead(
        channels,
        net.num_points,
        heatmap=isinstance(net.head, HeatmapHead),
        hidden=cfg.hidden,
        threshold=cfg.threshold,
        kernel=cfg.kernel,
    ).to(device)

    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(train_set) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch
    )
    rng = np.random.default_rng(cfg.seed)
    start = time.perf_counter()
    head.train()
    for epoch in range(cfg.epochs):
        train_set.set_epoch(1000 + epoch)  # other augmentations than the model's own epochs
        total, count = 0.0, 0
        for batch in _batches(train_set, cfg.batch_size, _order(train_set, rng, cfg.seed, epoch)):
            x = batch["x"].to(device)
            with torch.no_grad():
                features = net.backbone(x)
                outputs = net.head(features)
            err, ok = _batch_errors(outputs["points"], batch, train_set, scheme)
            log_scale = head.log_scale(features, outputs)
            # exponential NLL of the error: minimised where exp(log_scale) = E[error]
            nll = (log_scale + err / log_scale.exp())[ok]
            if not nll.numel():
                continue
            loss = nll.mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * int(ok.sum())
            count += int(ok.sum())
        say(
            f"epoch {epoch + 1}/{cfg.epochs}: NLL {total / max(count, 1):.4f} "
            f"({time.perf_counter() - start:.0f} s)"
        )
    head.eval()

    z, err = [], []
    with torch.no_grad():
        for batch in _batches(val_set, cfg.batch_size, np.arange(len(val_set))):
            x = batch["x"].to(device)
            features = net.backbone(x)
            outputs = net.head(features)
            e, ok = _batch_errors(outputs["points"], batch, val_set, scheme)
            z.append(-head.log_scale(features, outputs).cpu().numpy())
            err.append(np.where(ok.cpu().numpy(), e.cpu().numpy(), np.nan))
    z_val, e_val = np.concatenate(z).astype(np.float64), np.concatenate(err).astype(np.float64)
    known = np.isfinite(e_val)  # the labelled points of faces with a usable distance
    faces = known.any(axis=1)
    z_val, e_val, known = z_val[faces], e_val[faces], known[faces]
    good = e_val[known] <= cfg.threshold
    a, b = fit_platt(z_val[known], good)
    head.calibration.copy_(torch.tensor([a, b], dtype=head.calibration.dtype))
    conf_all = platt(z_val, (a, b))
    conf = conf_all[known]
    face_conf = np.nanmean(np.where(known, conf_all, np.nan), axis=1)
    face_err = np.nanmean(e_val, axis=1)
    validation = {
        "faces": int(len(e_val)),
        "points": int(known.sum()),
        "nme": float(e_val[known].mean()),
        "bad_share": float(1 - good.mean()),
        "auroc": auroc(conf, ~good),
        "ece": expected_calibration_error(conf, good),
        "mean_confidence": float(conf.mean()),
        "face_auroc": auroc(face_conf, face_err > cfg.threshold),
    }
    head.info = {
        "method": "LUVLi-style scale head (exponential NLL of the point error) on the frozen "
        "model, Platt-calibrated: confidence = P(error <= threshold x normalising distance)",
        "threshold": cfg.threshold,
        "norm": f"{scheme.name} normalising pair {list(map(list, scheme.norm_pair))}",
        "calibration": {"a": a, "b": b},
        "fitted_on": {
            **source,
            "part": "validation",
            "faces": len(val_set),
            "digest": _digest(val_set),
        },
        "head_trained_on": {
            **source,
            "part": "training",
            "faces": len(train_set),
            "digest": _digest(train_set),
            "augment": augment,
            **{k: v for k, v in asdict(cfg).items() if k not in ("threshold", "augment")},
            "seconds": round(time.perf_counter() - start, 1),
        },
        "validation": validation,
        "facepoints_version": __version__,
    }
    say(
        f"validation ({len(val_set)} faces): AUROC {validation['auroc']:.4f}, ECE "
        f"{validation['ece']:.4f}, mean confidence {validation['mean_confidence']:.4f} vs "
        f"{1 - validation['bad_share']:.4f} of points within {cfg.threshold:g}"
    )
    return head


def save_calibrated(model, head, out: str | Path) -> Path:
    """Write `model` (a LoadedModel or a spec) with its confidence `head` to `out` (atomically),
    keeping the model's saved metadata."""
    from .models.pretrained import LoadedModel, resolve_model
    from .models.weights import save_model

    loaded = model if isinstance(model, LoadedModel) else resolve_model(model)
    meta = {k: v for k, v in loaded.metadata.items() if k not in ("config", "confidence")}
    meta.setdefault("name", loaded.name)
    meta.setdefault("margin", loaded.margin)
    save_model(loaded.model, out, metadata=meta, confidence=head)
    return Path(out)


# --- helpers -------------------------------------------------------------------------------------


def _check_schemes(model_scheme, data_scheme, name: str) -> None:
    if model_scheme.name != data_scheme.name and model_scheme.name not in data_scheme.projections:
        raise ConfigError(
            f"{name}: a {model_scheme.name} model needs faces labelled with its points (or "
            f"with more that project to them); the data has {data_scheme.name}"
        )


def _batches(dataset, size: int, order: np.ndarray):
    """Batches of `dataset` in `order`: {"x", "points"} and, from a MixedDataset, "mask" (which
    points are labelled) and "norm" (each face's own normalising distance, crop units)."""
    import torch

    for s in range(0, len(order), size):
        items = [dataset[int(i)] for i in order[s : s + size]]
        batch = {
            "x": torch.stack([it["image"] for it in items]),
            "points": torch.stack([it["points"] for it in items]),
        }
        if "mask" in items[0]:
            batch["mask"] = torch.stack([it["mask"] for it in items])
            batch["norm"] = torch.tensor([it["norm"] for it in items], dtype=torch.float32)
        yield batch


def _batch_errors(pred, batch: dict, dataset, model_scheme):
    """(B, K) point errors over each face's normalising distance and the (B, K) mask of points
    they are known for."""
    import torch

    target = batch["points"].to(pred.device)
    if "mask" not in batch:
        return _errors(pred, target, dataset.records.scheme, model_scheme)
    norm = batch["norm"].to(pred.device)
    mask = batch["mask"].to(pred.device) & (norm > 1e-6)[:, None]
    err = torch.linalg.norm(pred.float() - target.float(), dim=-1) / norm.clamp_min(1e-6)[:, None]
    return err, mask


def _order(dataset, rng: np.random.Generator, seed: int, epoch: int) -> np.ndarray:
    """One epoch's face order: a permutation, or for a mixture its datasets by their weights."""
    weights = getattr(dataset, "weights", None)
    if weights is None:
        return rng.permutation(len(dataset))
    from .data.mixture import epoch_order

    return epoch_order(dataset.sizes(), weights, len(dataset), seed, 1000 + epoch).numpy()


def _digest(dataset) -> str:
    parts = getattr(dataset, "parts", None)
    if parts is None:
        return faces_digest(dataset.records)
    return "+".join(faces_digest(p.records) for p in parts)


def _mixed_sets(loaded, augment: float, flip: bool, max_bad: float, cfg, progress: bool):
    """(training MixedDataset, validation MixedDataset, source) of a model trained on a mix,
    rebuilt from its saved training config as the training run split each dataset."""
    from .data import read_dataset
    from .data.dataset import LandmarkDataset
    from .data.mixture import MixedDataset, parse_mix

    tc = loaded.metadata["train_config"]
    net = loaded.model
    val_fraction, seed = float(tc.get("val_fraction", 0.1)), int(tc.get("seed", 0))
    max_faces = tc.get("max_faces")
    common = {"in_channels": net.in_channels, "margin": loaded.margin, "progress": progress}
    parts = parse_mix(tc["mix"])
    trains, vals = [], []
    for part in parts:
        records = read_dataset(part.dataset, part.split, part.data_root)
        if max_faces and max_faces < len(records):  # as training.loop does
            keep = np.random.default_rng(seed).permutation(len(records))[:max_faces]
            records = records.subset(np.sort(keep))
        tr, va = records.split(val_fraction, seed)
        trains.append(
            LandmarkDataset(
                tr, net.input_size, augment=augment, flip=flip,
                augment_kind=tc.get("augment_kind", "standard"), seed=cfg.seed, max_bad=max_bad,
                **common,
            )
        )  # fmt: skip
        vals.append(LandmarkDataset(va, net.input_size, max_bad=max_bad, **common))
    train, val = MixedDataset(trains, loaded.scheme), MixedDataset(vals, loaded.scheme)
    train.weights = [p.weight for p in parts]
    source = {
        "mix": {
            p.label: {"dataset": p.dataset, "split": p.split, "weight": p.weight} for p in parts
        },
        "val_fraction": val_fraction,
        "seed": seed,
        "max_faces": max_faces,
    }
    return train, val, source


def _errors(pred, target, data_scheme, model_scheme):
    """(B, K) point errors over each face's normalising distance (crop units cancel), and a
    (B, K) mask of the faces where that distance is usable."""
    import torch

    from .schemes import projection_matrix

    target = target.float()
    if data_scheme.name != model_scheme.name:
        m = torch.as_tensor(projection_matrix(data_scheme, model_scheme), device=target.device)
        target = torch.einsum("ij,bjd->bid", m, target)
    a = target[:, list(model_scheme.norm_pair[0])].mean(dim=1)
    b = target[:, list(model_scheme.norm_pair[1])].mean(dim=1)
    d = torch.linalg.norm(a - b, dim=-1)
    ok = torch.isfinite(d) & (d > 1e-6)
    err = torch.linalg.norm(pred.float() - target, dim=-1) / d.clamp_min(1e-6)[:, None]
    return err, ok[:, None].expand_as(err)
