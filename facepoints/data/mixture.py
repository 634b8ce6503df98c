"""Training on several datasets at once, each labelled in its own landmark scheme.

The model predicts one scheme (the densest, e.g. WFLW's 98 points). A face labelled in another
scheme teaches the model's points that project onto its own: the projection from the model's
scheme to the face's must be a selection (98 -> 68 and 98 -> 5 are), so each labelled point is one
model point, and the others are masked out of that face's loss. An epoch draws a fixed number of
faces from the datasets by their weights, cycling through each dataset without repeats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import ConfigError
from ..schemes import Scheme, get_scheme, primary_scheme, projection_matrix

__all__ = [
    "MixPart",
    "parse_mix",
    "lift_index",
    "lift_pairs",
    "MixedDataset",
    "epoch_order",
    "model_scheme",
]

_PART_KEYS = ("dataset", "data_root", "split", "weight")


@dataclass(frozen=True)
class MixPart:
    """One dataset of a mixture: `label` names it in logs; `dataset` (registry name, None: what
    `data_root` holds), `split`, and its sampling `weight`."""

    label: str
    dataset: str | None
    data_root: str | None
    split: str
    weight: float


def parse_mix(mix: dict) -> list[MixPart]:
    """The parts of a config's `mix`: {label: {"dataset", "data_root", "split", "weight"}}; the
    dataset defaults to the label, the split to "train", the weight to 1. ConfigError when bad."""
    if not isinstance(mix, dict):
        raise ConfigError(f"mix must be a dict of label -> dataset settings, got {mix!r}")
    parts = []
    for label, spec in mix.items():
        if not isinstance(spec, dict):
            raise ConfigError(f"mix {label!r}: settings must be a dict, got {spec!r}")
        unknown = sorted(set(spec) - set(_PART_KEYS))
        if unknown:
            raise ConfigError(
                f"mix {label!r}: unknown setting {unknown[0]!r}; known: {', '.join(_PART_KEYS)}"
            )
        weight = spec.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
            raise ConfigError(f"mix {label!r}: weight must be a positive number, got {weight!r}")
        split = spec.get("split", "train")
        if not isinstance(split, str) or not split:
            raise ConfigError(f"mix {label!r}: split must be a name, got {split!r}")
        parts.append(
            MixPart(
                label=str(label),
                dataset=spec.get("dataset", str(label)),
                data_root=spec.get("data_root"),
                split=split,
                weight=float(weight),
            )
        )
    return parts


def model_scheme(schemes: list[Scheme], name: str | None = None) -> Scheme:
    """The scheme a model trained on faces of `schemes` predicts: `name`, else the densest."""
    if name is not None:
        return get_scheme(name)
    return max(schemes, key=lambda s: s.num_points)


def lift_index(src: Scheme | str, dst: Scheme | str) -> np.ndarray:
    """(K_src,) int: for each point of scheme `src`, the point of the model's scheme `dst` that
    projects onto it. ConfigError when the projection dst -> src is not a selection."""
    s, d = get_scheme(src), get_scheme(dst)
    try:
        m = projection_matrix(d, s)  # (K_src, K_dst)
    except ConfigError:
        raise ConfigError(
            f"a {d.name} model cannot learn from {s.name} faces: no projection {d.name} -> {s.name}"
        ) from None
    if not np.all((m > 0).sum(axis=1) == 1):
        raise ConfigError(
            f"a {d.name} model cannot learn from {s.name} faces: the projection "
            f"{d.name} -> {s.name} averages points (only a selection of points can be supervised)"
        )
    return m.argmax(axis=1).astype(np.int64)


def lift_pairs(src: Scheme | str, dst: Scheme | str) -> tuple[np.ndarray, np.ndarray]:
    """(source indices, model indices): every model point that a face of scheme `src` teaches.
    Its own points (`lift_index`: for a composite model, the block of its own markup) and, for a
    composite model, also the points of the first block that project onto it (so the first block,
    the one shown by default, learns from every dataset)."""
    s, d = get_scheme(src), get_scheme(dst)
    own = lift_index(s, d)
    src_idx, dst_idx = [np.arange(s.num_points)], [own]
    if "+" in d.name:
        first = primary_scheme(d)
        if first.name != s.name:
            try:
                shared = lift_index(s, first)  # the first block starts at 0
            except ConfigError:
                shared = None
            if shared is not None:
                src_idx.append(np.arange(s.num_points))
                dst_idx.append(shared)
    return np.concatenate(src_idx), np.concatenate(dst_idx)


class MixedDataset(Dataset):
    """The faces of several LandmarkDatasets, their points lifted into `scheme`.

    Item: the part's item, with points (K, 2) in the model's scheme (zeros where unlabelled), mask
    (K,) bool of the labelled points, norm (the face's normalising distance in its own scheme,
    crop units) and part (its dataset's position)."""

    def __init__(self, parts: list, scheme: Scheme):
        if not parts:
            raise ConfigError("a mixture needs at least one dataset")
        self.parts = list(parts)
        self.scheme = scheme
        self.lifts = [lift_pairs(p.records.scheme, scheme) for p in self.parts]
        self.starts = np.concatenate([[0], np.cumsum([len(p) for p in self.parts])])
        self.input_size = self.parts[0].input_size

    def __len__(self) -> int:
        return int(self.starts[-1])

    def sizes(self) -> list[int]:
        return [len(p) for p in self.parts]

    def set_epoch(self, epoch: int) -> None:
        for p in self.parts:
            p.set_epoch(epoch)

    def locate(self, i: int) -> tuple[int, int]:
        """(part, index in that part) of global index i."""
        k = int(np.searchsorted(self.starts, i, side="right") - 1)
        return k, int(i - self.starts[k])

    def __getitem__(self, i: int) -> dict:
        k, j = self.locate(int(i))
        item = self.parts[k][j]
        own = item["points"]
        points = torch.zeros(self.scheme.num_points, 2, dtype=own.dtype)
        mask = torch.zeros(self.scheme.num_points, dtype=torch.bool)
        src, dst = (torch.from_numpy(a) for a in self.lifts[k])
        points[dst] = own[src]
        mask[dst] = True
        norm = float(self.parts[k].records.scheme.norm_distance(own.numpy()))
        return {**item, "points": points, "mask": mask, "norm": norm, "index": int(i), "part": k}


def epoch_order(
    sizes: list[int], weights: list[float], epoch_size: int, seed: int, epoch: int
) -> torch.Tensor:
    """The global indices of one epoch's faces, a function of its arguments alone (so a resumed
    run draws the same): dataset k gives round(epoch_size * w_k / sum w) faces, taken in turn
    from a seeded endless shuffle of its faces (no face twice before all were drawn), then the
    epoch is shuffled."""
    w = np.asarray(weights, dtype=np.float64)
    counts = np.floor(epoch_size * w / w.sum()).astype(np.int64)
    counts[np.argmax(w)] += epoch_size - counts.sum()
    starts = np.concatenate([[0], np.cumsum(sizes)])
    chosen = []
    for k, (n, size) in enumerate(zip(counts, sizes, strict=True)):
        if n <= 0 or size <= 0:
            continue
        first = epoch * int(n)  # position in part k's endless stream
        idx = [
            _stream_item(size, seed, k, pos) for pos in range(first, first + int(n))
        ]  # cheap: one permutation per cycle, cached below
        chosen.append(torch.as_tensor(idx, dtype=torch.int64) + int(starts[k]))
    every = torch.cat(chosen) if chosen else torch.zeros(0, dtype=torch.int64)
    g = torch.Generator()
    g.manual_seed(seed * 100_003 + epoch)
    return every[torch.randperm(len(every), generator=g)]


_PERMS: dict[tuple[int, int, int, int], np.ndarray] = {}


def _stream_item(size: int, seed: int, part: int, pos: int) -> int:
    """Item `pos` of part `part`'s endless stream: cycle c = pos // size is a permutation of the
    part drawn from (seed, part, c)."""
    cycle, at = divmod(pos, size)
    key = (size, seed, part, cycle)
    perm = _PERMS.get(key)
    if perm is None:
        if len(_PERMS) > 64:
            _PERMS.clear()
        perm = np.random.default_rng((seed, part, cycle)).permutation(size)
        _PERMS[key] = perm
    return int(perm[at])
