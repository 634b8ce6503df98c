"""Eye openness from the photo: a small CNN on each eye's grey patch (cut along the eye's corners
from the face's points), with the points' openness of both eyes, regressing the openness of
human-labelled eyes. `eyes_cnn.safetensors` holds the fit and its metadata
(benchmarks/analysis_openness.py --fit-eyes-cnn, on training faces only)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..schemes import Scheme, get_scheme

__all__ = [
    "EyeNet",
    "CONTEXT_SIZE",
    "INPUT_SIZE",
    "corner_affine",
    "eye_corners",
    "eye_contexts",
    "eye_scalars",
    "to_input",
    "predict",
]

WEIGHTS = Path(__file__).with_name("eyes_cnn.safetensors")
# an eye's context: three eye widths (corner to corner) across and two down, 32 pixels an eye
# width, the right eye mirrored so that both have the outer corner on the left
CONTEXT_SIZE = (96, 64)
_CONTEXT_WIDTHS = 3.0
# the net's input: two eye widths across and one down, 24 pixels an eye width, from the context
INPUT_SIZE = (48, 24)
_INPUT_SCALE = 0.75


def corner_affine(a: np.ndarray, b: np.ndarray, mirror: bool, size, widths: float) -> np.ndarray:
    """2x3 map from the image to a patch of `size` (w, h), `widths` eye widths across, centred on
    the corners' midpoint with the line a -> b running left to right (right to left: mirror)."""
    w, h = size
    width = max(float(np.linalg.norm(b - a)), 1e-3)
    ux = (b - a) / width
    uy = np.array([-ux[1], ux[0]])
    scale = w / (widths * width)
    m = np.zeros((2, 3))
    m[0, :2], m[1, :2] = ux * scale, uy * scale
    m[:, 2] = np.array([(w - 1) / 2, (h - 1) / 2]) - m[:, :2] @ ((a + b) / 2)
    if mirror:
        m[0] *= -1
        m[0, 2] += w - 1
    return m


def eye_corners(points: np.ndarray, scheme: Scheme) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (outer-ish, inner-ish) corner pair of the image-left and image-right eye, in the
    order that puts the image-left eye's first corner on the left."""
    out = []
    for k, name in enumerate(("eye_left", "eye_right")):
        c = scheme.contours[name]
        a, b = points[c[0]], points[c[len(c) // 2]]
        out.append((b, a) if k == 1 else (a, b))
    return out


def eye_contexts(
    image: np.ndarray, points: np.ndarray, scheme: str | int | Scheme | None = None
) -> np.ndarray:
    """(2, h, w) uint8 grey context patches (CONTEXT_SIZE) of one face's image-left and
    image-right eye, the right one mirrored, from a grey or RGB image (only the patches are made
    grey, whatever the photo's size)."""
    import cv2

    pts = np.asarray(points, np.float64)
    s = get_scheme(len(pts) if scheme is None else scheme)
    if "eye_left" not in s.contours:
        raise ConfigError(f"scheme {s.name} has no eye outlines")
    img = np.ascontiguousarray(image)
    out = []
    for k, (a, b) in enumerate(eye_corners(pts, s)):
        m = corner_affine(a, b, k == 1, CONTEXT_SIZE, _CONTEXT_WIDTHS)
        patch = cv2.warpAffine(
            img, m, CONTEXT_SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        out.append(cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY) if patch.ndim == 3 else patch)
    return np.stack(out)


def input_affine(
    scale: float = 1.0, angle: float = 0.0, shift: tuple[float, float] = (0.0, 0.0)
) -> np.ndarray:
    """2x3 map from a context patch to the net's input; scale, angle (degrees) and shift (in eye
    widths) move the cut (training's jitter; the defaults at inference)."""
    cw, ch = CONTEXT_SIZE
    w, h = INPUT_SIZE
    s = _INPUT_SCALE * scale
    t = np.radians(angle)
    r = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]) * s
    c = np.array([(cw - 1) / 2, (ch - 1) / 2]) + np.asarray(shift) * (cw / _CONTEXT_WIDTHS)
    m = np.zeros((2, 3))
    m[:, :2] = r
    m[:, 2] = np.array([(w - 1) / 2, (h - 1) / 2]) - r @ c
    return m


def to_input(contexts: np.ndarray) -> np.ndarray:
    """(..., h, w) float32 net inputs (INPUT_SIZE, each patch standardised) of context patches."""
    import cv2

    ctx = np.asarray(contexts)
    flat = ctx.reshape(-1, *ctx.shape[-2:])
    m = input_affine()
    out = np.stack([cv2.warpAffine(c, m, INPUT_SIZE, flags=cv2.INTER_LINEAR) for c in flat]).astype(
        np.float32
    )
    return standardise(out).reshape(*ctx.shape[:-2], INPUT_SIZE[1], INPUT_SIZE[0])


def standardise(patches: np.ndarray) -> np.ndarray:
    """Each patch (last two axes) to zero mean and unit spread: light and contrast do not tell."""
    p = np.asarray(patches, np.float32)
    mu = p.mean(axis=(-2, -1), keepdims=True)
    sd = p.std(axis=(-2, -1), keepdims=True)
    return (p - mu) / np.maximum(sd, 4.0)


def _net_class():
    import torch
    from torch import nn

    class EyeNet(nn.Module):
        """Shared conv trunk on each eye's patch (three strided convolutions, then a linear
        layer over the map, which keeps where the lids lie); each eye's openness from its own
        features, the other eye's, and both eyes' openness from the points."""

        def __init__(
            self, widths=(16, 32, 32), features: int = 64, hidden: int = 64, scalars: int = 2
        ):
            super().__init__()
            c = [1, *widths]
            layers = []
            for i in range(len(widths)):
                layers += [
                    nn.Conv2d(c[i], c[i + 1], 3, stride=2, padding=1, bias=False),
                    nn.BatchNorm2d(c[i + 1]),
                    nn.ReLU(inplace=True),
                ]
            w, h = INPUT_SIZE
            for _ in widths:
                w, h = (w + 1) // 2, (h + 1) // 2
            layers += [nn.Flatten(), nn.Linear(c[-1] * w * h, features), nn.ReLU(inplace=True)]
            self.trunk = nn.Sequential(*layers)
            self.head = nn.Sequential(
                nn.Linear(2 * (features + scalars), hidden),
                nn.ReLU(inplace=True),
                nn.Linear(hidden, 1),
            )
            self.config = {
                "widths": list(widths),
                "features": features,
                "hidden": hidden,
                "scalars": scalars,
            }

        def forward(self, patches: torch.Tensor, scalars: torch.Tensor) -> torch.Tensor:
            """patches (B, 2, h, w), scalars (B, 2, S) (`eye_scalars`) -> openness (B, 2)."""
            b = patches.shape[0]
            f = self.trunk(patches.reshape(2 * b, 1, *patches.shape[-2:])).reshape(b, 2, -1)
            pair = torch.cat([f, f.flip(1), scalars, scalars.flip(1)], dim=-1)
            return self.head(pair)[..., 0]

    return EyeNet


def EyeNet(**kw):  # noqa: N802 - a class made on first use, so that torch loads only when needed
    """The eye-openness CNN (torch.nn.Module); kw: widths, features, hidden."""
    return _net_class()(**kw)


@functools.lru_cache(maxsize=1)
def _loaded():
    import torch
    from safetensors.torch import load_file

    if not WEIGHTS.is_file():
        raise ConfigError(f"{WEIGHTS.name} is missing: the eye-patch CNN is not fitted")
    from safetensors import safe_open

    with safe_open(str(WEIGHTS), "pt") as f:
        meta = f.metadata() or {}
    net = EyeNet(**json.loads(meta.get("config", "{}")))
    state = {
        k: v.float() if v.is_floating_point() else v for k, v in load_file(str(WEIGHTS)).items()
    }
    net.load_state_dict(state)
    net.eval()
    return net, torch


def eye_scalars(points: np.ndarray, scheme: str | int | Scheme | None = None) -> np.ndarray:
    """(..., 2, 2) what the points tell of each eye, for points (..., K, 2): the eye's openness
    from the points (at most 3) and the log ratio of its width (corner to corner) to the other
    eye's (within +-1.5; the head's turn, which foreshortens one eye)."""
    from .openness import eye_openness

    pts = np.asarray(points, np.float64)
    s = get_scheme(pts.shape[-2] if scheme is None else scheme)
    ear = np.maximum(eye_openness(pts, s), 0.0)  # at most MAX_EYE_OPENNESS (3)
    width = []
    for name in ("eye_left", "eye_right"):
        c = s.contours[name]
        width.append(np.linalg.norm(pts[..., c[0], :] - pts[..., c[len(c) // 2], :], axis=-1))
    w = np.maximum(np.stack(width, axis=-1), 1e-3)
    ratio = np.clip(np.log(w / w[..., ::-1]), -1.5, 1.5)
    return np.stack([ear, ratio], axis=-1).astype(np.float32)


def predict(contexts: np.ndarray, scalars: np.ndarray) -> np.ndarray:
    """(N, 2) openness from context patches (N, 2, h, w) and `eye_scalars` (N, 2, 2)."""
    net, torch = _loaded()
    x = torch.from_numpy(np.ascontiguousarray(to_input(contexts), np.float32))
    e = torch.from_numpy(np.asarray(scalars, np.float32))
    with torch.inference_mode():
        out = net(x, e).numpy().astype(np.float64)
    return np.maximum(out, 0.0)
