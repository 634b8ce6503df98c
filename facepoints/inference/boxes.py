"""Face boxes from landmarks: the CUHK training-box convention predicted from the eyes and mouth, so a
second pass (refinement) or a tracker can crop a face the way the models were trained to see it.

A face's frame is the least-squares similarity that sends a fixed template (eye centres at
(-0.5, 0) and (0.5, 0), mouth centre at MOUTH) onto its eye centres and mouth centre; the box is
centred at CENTER and sized SIZE in that frame's units, axis-aligned in the image."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..schemes import Scheme, get_scheme, project

__all__ = ["MOUTH", "CENTER", "SIZE", "box_from_points", "fit_box_from_points", "roll_from_points"]

# Fitted on all 10,000 CUHK training faces by
#   fit_box_from_points(read_dataset("cuhk5", split="train"))
# (tests/test_landmarker.py refits on 500 of them and checks these numbers).
MOUTH = (-0.0032, 1.0934)  # mouth centre in the template (eye centres at (-0.5, 0), (0.5, 0))
CENTER = (-0.0243, 0.523)  # box centre in template units
SIZE = (2.0956, 2.0957)  # box width, height in template units


def box_from_points(
    points: np.ndarray,
    scheme: Scheme | str | int | None = None,
    constants: dict | None = None,
) -> np.ndarray:
    """CUHK-convention boxes (N, 4) float32 x1 y1 x2 y2 from landmarks (N, K, 2) or (K, 2) of
    `scheme` (default: recognised by K); dense schemes are projected to the 5 CUHK points first.
    `constants` (as `fit_box_from_points` returns) override the shipped ones."""
    p = np.asarray(points, dtype=np.float64)
    single = p.ndim == 2
    if single:
        p = p[None]
    if p.ndim != 3 or p.shape[-1] != 2:
        raise ConfigError(f"points must be (N, K, 2) or (K, 2), got shape {np.shape(points)}")
    s = get_scheme(scheme if scheme is not None else p.shape[1])
    if s.num_points != p.shape[1]:
        raise ConfigError(f"scheme {s.name} has {s.num_points} points, got {p.shape[1]}")
    c = constants or {"mouth": MOUTH, "center": CENTER, "size": SIZE}
    a, b = _frames(_cuhk5(p, s), complex(*c["mouth"]))
    centre = a * complex(*c["center"]) + b
    half_w = np.abs(a) * float(c["size"][0]) / 2
    half_h = np.abs(a) * float(c["size"][1]) / 2
    out = np.stack(
        [centre.real - half_w, centre.imag - half_h, centre.real + half_w, centre.imag + half_h],
        axis=-1,
    ).astype(np.float32)
    return out[0] if single else out


def roll_from_points(points: np.ndarray, scheme: Scheme | str | int | None = None) -> np.ndarray:
    """(N,) or () degrees each face is turned in the image plane: the angle of its frame (the
    similarity that `box_from_points` fits to the eyes and mouth), 0 for level eyes, positive
    when the face leans clockwise on screen (its right-hand eye lower). `crop_matrices` with
    these angles cuts the face upright."""
    p = np.asarray(points, dtype=np.float64)
    single = p.ndim == 2
    if single:
        p = p[None]
    s = get_scheme(scheme if scheme is not None else p.shape[1])
    a, _ = _frames(_cuhk5(p, s), complex(*MOUTH))
    out = np.angle(a, deg=True)
    return out[0] if single else out


def fit_box_from_points(records) -> dict:
    """Least-squares constants {"mouth", "center", "size"} from annotated faces (FaceRecords with
    boxes and points, any scheme that projects to cuhk5); the shipped ones come from CUHK train."""
    pts = _cuhk5(np.asarray(records.points, dtype=np.float64), records.scheme)
    boxes = np.asarray(records.boxes, dtype=np.float64)
    ok = np.isfinite(pts).all(axis=(1, 2)) & np.isfinite(boxes).all(axis=1)
    pts, boxes = pts[ok], boxes[ok]
    if len(pts) == 0:
        raise ConfigError("cannot fit box constants on no faces")
    z = pts[..., 0] + 1j * pts[..., 1]  # (N, 5) complex
    eye_l, eye_r, mouth = z[:, 0], z[:, 1], (z[:, 3] + z[:, 4]) / 2
    # the mouth in each face's eye frame (eyes at -0.5 and 0.5), averaged: the template's mouth
    m = complex(np.mean((mouth - (eye_l + eye_r) / 2) / (eye_r - eye_l)))
    a, b = _frames(pts, m)
    c = (boxes[:, 0] + boxes[:, 2]) / 2 + 1j * (boxes[:, 1] + boxes[:, 3]) / 2
    aa = np.sum(np.abs(a) ** 2)
    centre = np.sum(np.conj(a) * (c - b)) / aa  # min sum |a centre + b - c|^2
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    size = (np.sum(np.abs(a) * w) / aa, np.sum(np.abs(a) * h) / aa)
    return {
        "mouth": (_r(m.real), _r(m.imag)),
        "center": (_r(centre.real), _r(centre.imag)),
        "size": (_r(size[0]), _r(size[1])),
    }


# --- helpers -------------------------------------------------------------------------------------


def _cuhk5(points: np.ndarray, scheme) -> np.ndarray:
    s = get_scheme(scheme)
    return points if s.name == "cuhk5" else project(points, s, "cuhk5").astype(np.float64)


def _frames(pts5: np.ndarray, mouth: complex) -> tuple[np.ndarray, np.ndarray]:
    """Per face the similarity z -> a z + b (a, b complex, (N,)) sending the template (eyes at
    -0.5, 0.5, mouth centre at `mouth`) onto its eye centres and mouth centre, least squares."""
    z = pts5[..., 0] + 1j * pts5[..., 1]
    dst = np.stack([z[:, 0], z[:, 1], (z[:, 3] + z[:, 4]) / 2], axis=1)  # (N, 3)
    src = np.array([-0.5, 0.5, mouth])
    sc = src - src.mean()
    dc = dst - dst.mean(axis=1, keepdims=True)
    a = (dc @ np.conj(sc)) / np.sum(np.abs(sc) ** 2)
    b = dst.mean(axis=1) - a * src.mean()
    return a, b


def _r(v: float) -> float:
    return round(float(v), 4)
