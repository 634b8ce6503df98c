"""Starting a model from another's weights (a run's `init`): the same shapes, another scheme's
head remapped point by point, a shallower or narrower ResNet grown to fit."""

from __future__ import annotations

import numpy as np
import torch

from ..data.mixture import lift_index
from ..errors import ConfigError
from ..schemes import Scheme, get_scheme

__all__ = ["load_init", "remap_head"]


def load_init(model: torch.nn.Module, spec: str, scheme: Scheme | None = None) -> None:
    """Copy the weights of `spec` (any model spec) into `model`: every tensor, same shapes. A
    heatmap model of another scheme (e.g. 68 points into a 98-point model) gives its backbone,
    and each new point the head channels of the source point nearest to it on the mean face. A
    ResNet with fewer blocks per stage fills the first blocks of each stage
    (`models.resnet.deepen_state`); a narrower one is widened (`models.resnet.widen_state`)."""
    from ..models.pretrained import resolve_model
    from ..models.resnet import deepen_state, widen_state

    loaded = resolve_model(spec)
    source = loaded.model.state_dict()
    mine = model.state_dict()
    src_scheme = getattr(loaded, "scheme", None)
    if scheme is not None and src_scheme is not None and src_scheme.name != scheme.name:
        source = remap_head(source, mine, get_scheme(src_scheme.name), scheme)
    config = getattr(loaded.model, "config", {})
    deeper = deepen_state(source, config, model) if len(source) != len(mine) else None
    if deeper is not None:  # a shallower net of the same width: its blocks, the rest identity
        source = deeper
    elif any(k in mine and source[k].shape != mine[k].shape for k in source):
        wider = widen_state(source, config, model)
        if wider is not None:  # a narrower net of the same depth: its channels, copied
            source = wider
    wrong = [k for k in mine if k not in source or source[k].shape != mine[k].shape]
    if wrong or len(source) != len(mine):
        raise ConfigError(
            f"init {spec}: its weights do not fit this model ({len(wrong)} of {len(mine)} "
            f"tensors missing or of another shape, e.g. {wrong[:3]})"
        )
    model.load_state_dict(source)


def remap_head(source: dict, mine: dict, src: Scheme, dst: Scheme) -> dict:
    """`source`'s state with its heatmap head's per-point channels (3 x K_src, laid out as score,
    x offset, y offset blocks) re-indexed to `dst`'s points: a dst point that projects onto a src
    point takes its channels, any other the channels of the src point whose template position is
    nearest."""
    from ..schemes import mean_face

    try:
        lift = lift_index(src, dst)  # (K_src,) dst index of each src point
    except ConfigError:
        lift = None
    template = mean_face(dst)
    if template is None:
        raise ConfigError(f"no mean face of {dst.name} to map {src.name} head channels onto")
    if lift is not None:
        anchors = template[lift]  # where each src point sits on the dst template
    else:
        raise ConfigError(f"init: cannot map {src.name} points onto {dst.name}")
    nearest = np.argmin(((template[:, None] - anchors[None]) ** 2).sum(-1), axis=1)
    nearest[lift] = np.arange(len(lift))
    out = dict(source)
    k_src, k_dst = src.num_points, dst.num_points
    for key, value in source.items():
        target = mine.get(key)
        if target is None or target.shape == value.shape or value.shape[0] != 3 * k_src:
            continue
        if target.shape[0] != 3 * k_dst:
            continue
        blocks = value.reshape(3, k_src, *value.shape[1:])
        out[key] = blocks[:, torch.as_tensor(nearest)].reshape(3 * k_dst, *value.shape[1:])
    return out
