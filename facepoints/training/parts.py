"""Training the part refiners (`facepoints.inference.parts`): one small network per kind of part,
on patches cut around human-labelled points, each patch placed with random error (shift, turn,
scale) so that the network learns to find the points wherever a whole-face model leaves them.

Validation is the whole-face model's own points on the seeded validation faces of the first
dataset (the training split's held-out part, as `facepoints train` keeps it), refined: each part's
blend (the share of its answer) is chosen there. Resumable: each part's state is saved every few
minutes and a finished part is not trained again.
"""

from __future__ import annotations

import csv
import json
import re
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ..inference.parts import (
    PartSpec,
    _back,
    blend_readings,
    cut_patches,
    normalise_patches,
    part_instances,
    part_matrices,
    save_part_nets,
    to_grey,
)
from ..io import atomic_write_bytes
from ..schemes import get_scheme
from .checkpoint import load_checkpoint, save_checkpoint

__all__ = ["PartsConfig", "train_parts"]


@dataclass
class PartsConfig:
    """Settings of `facepoints train-parts` (a recipe is this as JSON)."""

    base: str = "dense98"  # the whole-face model whose validation points are refined
    scheme: str = "ibug68"
    parts: list[dict] = field(default_factory=list)  # PartSpec fields (blend is chosen here)
    mix: dict[str, dict] = field(default_factory=dict)  # name -> dataset, data_root, split, weight
    # more validation faces to report (label -> dataset, data_root, split); each part's blend
    # is chosen on the first dataset's held-out faces alone
    val_sets: dict[str, dict] = field(default_factory=dict)
    val_fraction: float = 0.1
    seed: int = 0
    width: int = 24
    depth: list[int] = field(default_factory=lambda: [1, 1, 1, 1])
    steps: int = 4000
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    jitter: list[float] = field(default_factory=lambda: [0.06, 0.1, 0.1])  # shift, turn, scale
    blends: list[float] = field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0])
    threads: int = 2
    checkpoint_minutes: float = 3.0
    eval_every: int = 1000

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PartsConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown part-refiner settings: {', '.join(unknown)}")
        cfg = cls(**d)
        if not cfg.parts or not cfg.mix:
            raise ConfigError("a part-refiner recipe needs 'parts' and 'mix'")
        return cfg


def train_parts(cfg: PartsConfig, out: str | Path, say=print) -> dict[str, Any]:
    """Train every part of `cfg` in turn into the run folder `out` (resumes where it stopped),
    then write `out/parts.safetensors` and `out/report.json`; returns the report."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    saved = out / "config.json"

    def settings(d: dict) -> dict:  # threads may change between resumes
        return {k: v for k, v in d.items() if k != "threads"}

    if saved.exists() and settings(json.loads(saved.read_text())) != settings(asdict(cfg)):
        raise ConfigError(f"{out} holds a run of other settings ({saved}); use another --out")
    atomic_write_bytes(saved, json.dumps(asdict(cfg), indent=2).encode())
    torch.set_num_threads(cfg.threads)
    scheme = get_scheme(cfg.scheme)
    data = _Data(cfg, scheme, say)
    report: dict[str, Any] = {
        "base": cfg.base,
        "val_faces": {v.label: len(v.points) for v in data.val},
        "parts": {},
    }
    nets = []
    for d in cfg.parts:
        spec = PartSpec.from_dict(d)
        net, row = _train_part(cfg, spec, scheme, data, out, say)
        spec = PartSpec(**{**spec.to_dict(), "points": spec.points, "blend": row["blend"]})
        nets.append((spec, net))
        report["parts"][spec.name] = row
    report["val_nme"] = {}
    for v in data.val:
        refined = v.points.copy()  # every part from the base points, as PartRefiner does
        for spec, net in nets:
            idx = np.concatenate([i for i, _ in part_instances(spec, scheme)])
            refined[:, idx] = _refine_val(spec, net, scheme, v, v.points, spec.blend)[:, idx]
        before, after = _nme(v.points, v.truth, scheme), _nme(refined, v.truth, scheme)
        report["val_nme"][v.label] = {"base": before, "refined": after}
        say(
            f"validation NME, {v.label} ({len(v.points)} faces, {cfg.base}'s points): "
            f"{before:.3f}% -> {after:.3f}% refined"
        )
    meta = {"base": cfg.base, "recipe": asdict(cfg), "val": report}
    save_part_nets(out / "parts.safetensors", cfg.scheme, nets, meta)
    atomic_write_bytes(out / "report.json", json.dumps(report, indent=2).encode())
    return report


class _Data:
    """Grey images and human points of the training faces (copies of validation faces left
    out), the validation faces and the base model's points on them (cached in the run)."""

    def __init__(self, cfg: PartsConfig, scheme, say):
        from ..data import read_dataset

        names = list(cfg.mix)
        first = cfg.mix[names[0]]
        records = read_dataset(first["dataset"], first.get("split", "train"), first["data_root"])
        if records.scheme.name != scheme.name:
            raise ConfigError(f"{names[0]}: scheme {records.scheme.name}, not {scheme.name}")
        train, val = records.split(cfg.val_fraction, cfg.seed)
        held = {p.stem for p in val.images}
        self.images, self.points, weights = [], [], []
        for name in names:
            part = cfg.mix[name]
            recs = train
            if name != names[0]:
                recs = read_dataset(part["dataset"], part.get("split", "train"), part["data_root"])
                keep = [_stem(p) not in held for p in recs.images]  # copies of held-out faces
                recs = recs.subset(np.array(keep, bool))
            self.images.append([_grey(p) for p in recs.images])
            self.points.append(recs.points.astype(np.float64))
            weights.append(float(part.get("weight", 1.0)))
            say(f"{name}: {len(recs)} training faces")
        self.weights = np.array(weights) / sum(weights)
        self.val = [_ValSet(names[0], val, scheme, cfg.base)]
        for label, d in cfg.val_sets.items():
            recs = read_dataset(d["dataset"], d.get("split", "train"), d["data_root"])
            self.val.append(_ValSet(label, recs, scheme, cfg.base))


class _ValSet:
    """Validation faces: grey images, human points in the scheme, the base model's points."""

    def __init__(self, label: str, records, scheme, base: str):
        from ..schemes import project

        self.label = label
        self.images = [_grey(p) for p in records.images]
        self.truth = project(records.points, records.scheme, scheme).astype(np.float64)
        self.points = _base_points(base, records, scheme)


def _train_part(cfg, spec: PartSpec, scheme, data: _Data, out: Path, say):
    from ..models import create_model

    state_file, log_file = out / f"{spec.name}.pt", out / f"{spec.name}.csv"
    instances = part_instances(spec, scheme)
    torch.manual_seed(cfg.seed * 100003 + _name_seed(spec.name))  # the network's start
    net = create_model(
        "resnet",
        num_points=len(spec.points),
        input_size=spec.size,
        in_channels=1,
        depth=list(cfg.depth),
        width=cfg.width,
        out_stride=8,
        head="heatmap",
    )
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=max(0.05, 2.0 / cfg.steps)
    )
    rng = np.random.default_rng([cfg.seed, _name_seed(spec.name)])
    step, elapsed, row = 0, 0.0, None
    if state_file.exists():
        st = load_checkpoint(state_file)
        net.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        sched.load_state_dict(st["scheduler"])
        rng.bit_generator.state = st["rng"]
        step, elapsed, row = st["step"], st["elapsed_s"], st.get("row")
        if row is not None:
            say(f"{spec.name}: done before (blend {row['blend']})")
            return net.eval(), row
        say(f"{spec.name}: resuming at step {step} of {cfg.steps}")

    def save(row=None):
        state = {
            "model": net.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "rng": rng.bit_generator.state,
            "step": step,
            "elapsed_s": elapsed,
            "row": row,
        }
        save_checkpoint(state_file, state)

    def loss_fn(a, b):
        return (a - b).abs()

    net.train()
    start, last_save = time.monotonic() - elapsed, time.monotonic()
    while step < cfg.steps:
        x, y = _batch(cfg, spec, scheme, instances, data, rng)
        outputs = net.forward_train(x)
        loss, _ = net.compute_loss(outputs, y, loss_fn)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        elapsed = time.monotonic() - start
        if step % cfg.eval_every == 0 or step == cfg.steps:
            v = data.val[0]
            alone = _nme(
                _refine_val(spec, net, scheme, v, v.points, 1.0), v.truth, scheme, instances
            )
            net.train()
            _append_csv(log_file, {"step": step, "loss": f"{loss.item():.5f}",
                                   "val_nme_alone": f"{alone:.4f}", "elapsed_s": f"{elapsed:.0f}"})  # fmt: skip
            say(f"{spec.name}: step {step}/{cfg.steps} loss {loss.item():.4f} "
                f"validation NME of the part, refiner alone {alone:.3f}%")  # fmt: skip
        if time.monotonic() - last_save > 60 * cfg.checkpoint_minutes:
            save()
            last_save = time.monotonic()
    net.eval()
    by_set = {
        v.label: {
            str(b): _nme(_refine_val(spec, net, scheme, v, v.points, b), v.truth, scheme, instances)
            for b in cfg.blends
        }
        for v in data.val
    }
    first = by_set[data.val[0].label]
    best = min(cfg.blends, key=lambda b: first[str(b)])
    blend = float(best)
    row = {"blend": blend, "by_set": by_set, "steps": step, "minutes": elapsed / 60}
    save(row)
    shown = ", ".join(f"{v} {by_set[v][str(cfg.blends[0])]:.3f}% -> {by_set[v][str(best)]:.3f}%"
                      for v in by_set)  # fmt: skip
    say(f"{spec.name}: blend {blend}; validation NME of the part: {shown}; "
        f"{elapsed / 60:.1f} minutes")  # fmt: skip
    return net, row


def _batch(cfg, spec: PartSpec, scheme, instances, data: _Data, rng):
    """One training batch: patches (B, 1, S, S) and their points in patch units (B, K, 2)."""
    import cv2

    n, size = cfg.batch_size, spec.size
    x = np.empty((n, 1, size, size), np.float32)
    y = np.empty((n, len(spec.points), 2), np.float32)
    shift, turn, scale = cfg.jitter
    for b in range(n):
        k = rng.choice(len(data.weights), p=data.weights)
        i = rng.integers(len(data.images[k]))
        idx, mirror = instances[rng.integers(len(instances))]
        pts = data.points[k][i][None]
        jit = np.array([[*rng.normal(0, shift, 2), rng.normal(0, turn), rng.normal(0, scale)]])
        m = part_matrices(pts, idx, mirror, spec, scheme, jit)[0]
        patch = cv2.warpAffine(
            data.images[k][i], m, (size, size), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        ).astype(np.float32)  # fmt: skip
        if rng.random() < 0.3:  # a small face: down- and up-sampled
            f = rng.uniform(0.25, 0.7)
            small = cv2.resize(patch, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
            patch = cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR)
        if rng.random() < 0.2:
            patch = cv2.GaussianBlur(patch, (0, 0), rng.uniform(0.5, 1.5))
        x[b, 0] = patch * rng.uniform(0.6, 1.4) + rng.uniform(-40, 40)
        y[b] = (pts[0, idx] @ m[:, :2].T + m[:, 2]) / size
    return torch.from_numpy(normalise_patches(x)), torch.from_numpy(y)


def _refine_val(spec, net, scheme, v: _ValSet, points, blend: float):
    """`points` (N, K, 2) of the validation faces with this part moved by `net` (blend share)."""
    instances = part_instances(spec, scheme)
    points = np.asarray(points, np.float64)
    new = points.copy()
    readings = []
    with torch.inference_mode():
        for idx, mirror in instances:
            m = part_matrices(points, idx, mirror, spec, scheme)
            x = np.concatenate([cut_patches(g, m[i : i + 1], spec.size)
                                for i, g in enumerate(v.images)])  # fmt: skip
            y = net(torch.from_numpy(x)).numpy().astype(np.float64) * spec.size
            readings.append((idx, _back(m, y)))
    blend_readings(new, points, readings, blend)
    return new


def _base_points(base: str, val, scheme) -> np.ndarray:
    """The base model's points on the validation faces (their given boxes), in `scheme`."""
    from ..inference.landmarker import FaceLandmarker
    from ..io import load_image

    lm = FaceLandmarker(base, scheme=scheme.name, parts=False)
    return np.array(
        [lm.landmarks(load_image(p), val.boxes[i : i + 1])[0] for i, p in enumerate(val.images)],
        np.float64,
    )


def _nme(pred, truth, scheme, instances=None) -> float:
    """Mean NME (%) by the scheme's normalising pair, over all points or a part's."""
    from ..evaluation.metrics import normalising_distance, point_errors

    idx = slice(None) if instances is None else np.concatenate([i for i, _ in instances])
    err = point_errors(pred[:, idx], truth[:, idx]).mean(1)
    return float((err / normalising_distance(truth, scheme)).mean() * 100)


def _grey(path) -> np.ndarray:
    from ..io import load_image

    return to_grey(load_image(path))


def _stem(path: Path) -> str:
    return re.sub(r"_turn\d+$", "", Path(path).stem)


def _name_seed(name: str) -> int:
    return sum((i + 1) * ord(c) for i, c in enumerate(name))


def _append_csv(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)
