"""Landmark schemes as data: names, groups, flip pairs, normalising pair, projections.

Every other module asks a scheme instead of hard-coding an index. Points are (..., K, 2) arrays in
x, y order; "left" and "right" are the *image's* left and right (CUHK's convention), so the 5-point
"left eye" is the person's right eye.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import ConfigError

__all__ = [
    "Scheme",
    "SCHEMES",
    "MEAN_FACES",
    "get_scheme",
    "composite_scheme",
    "primary_scheme",
    "mean_face",
    "project",
    "projection_matrix",
]


@dataclass(frozen=True)
class Scheme:
    """One landmark scheme. `flip` maps each index to its mirror; `norm_pair` gives the two
    point sets whose centres' distance normalises the error (one index each for most schemes)."""

    name: str
    names: tuple[str, ...]
    groups: dict[str, tuple[int, ...]]
    flip: tuple[int, ...]
    norm_pair: tuple[tuple[int, ...], tuple[int, ...]]
    # name of target scheme -> (K_target, K_self) averaging matrix rows as index lists
    projections: dict[str, tuple[tuple[int, ...], ...]] = field(default_factory=dict)
    description: str = ""
    # closed outlines, each starting at one corner: corner, upper side..., other corner, lower
    # side back (so point 1 + i faces point -1 - i); "left" is the image's left
    contours: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def num_points(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def flip_points(self, points: np.ndarray, width: float) -> np.ndarray:
        """Mirror points horizontally in an image of `width` pixels and swap left/right labels.
        Pixel-centre convention: x -> width - 1 - x."""
        out = np.asarray(points, dtype=np.float32)[..., list(self.flip), :].copy()
        out[..., 0] = (width - 1) - out[..., 0]
        return out

    def norm_distance(self, points: np.ndarray) -> np.ndarray:
        """The normalising distance of each face, shape (...,)."""
        p = np.asarray(points, dtype=np.float64)
        a = p[..., list(self.norm_pair[0]), :].mean(axis=-2)
        b = p[..., list(self.norm_pair[1]), :].mean(axis=-2)
        return np.linalg.norm(a - b, axis=-1)

    def group_of(self) -> list[str]:
        """The group name of every point (first group that holds it)."""
        out = ["other"] * self.num_points
        for g, idx in reversed(list(self.groups.items())):
            for i in idx:
                out[i] = g
        return out


def _check(s: Scheme) -> Scheme:
    k = s.num_points
    assert sorted(s.flip) == list(range(k)), s.name
    assert all(s.flip[s.flip[i]] == i for i in range(k)), s.name
    for rows in s.projections.values():
        assert all(0 <= i < k for row in rows for i in row), s.name
    return s


# --- 5 points: CUHK (Sun et al. 2013) ----------------------------------------------------------
CUHK5 = _check(
    Scheme(
        name="cuhk5",
        names=("left_eye", "right_eye", "nose", "left_mouth", "right_mouth"),
        groups={"eyes": (0, 1), "nose": (2,), "mouth": (3, 4)},
        flip=(1, 0, 2, 4, 3),
        norm_pair=((0,), (1,)),
        description="5 points: eye centres, nose tip, mouth corners (image left first)",
    )
)

# --- 68 points: 300W / iBUG (dlib's order) -----------------------------------------------------
_n68 = (
    [f"jaw_{i}" for i in range(17)]
    + [f"brow_left_{i}" for i in range(5)]
    + [f"brow_right_{i}" for i in range(5)]
    + [f"nose_bridge_{i}" for i in range(4)]
    + [f"nose_base_{i}" for i in range(5)]
    + [f"eye_left_{i}" for i in range(6)]
    + [f"eye_right_{i}" for i in range(6)]
    + [f"mouth_outer_{i}" for i in range(12)]
    + [f"mouth_inner_{i}" for i in range(8)]
)
_flip68 = (
    list(range(16, -1, -1))
    + list(range(26, 16, -1))
    + [27, 28, 29, 30]
    + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46]
    + [39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]
    + [64, 63, 62, 61, 60, 67, 66, 65]
)
IBUG68 = _check(
    Scheme(
        name="ibug68",
        names=tuple(_n68),
        groups={
            "contour": tuple(range(0, 17)),
            "brows": tuple(range(17, 27)),
            "nose": tuple(range(27, 36)),
            "eyes": tuple(range(36, 48)),
            "mouth": tuple(range(48, 68)),
        },
        flip=tuple(_flip68),
        norm_pair=((36,), (45,)),
        projections={
            "cuhk5": (tuple(range(36, 42)), tuple(range(42, 48)), (30,), (48,), (54,)),
        },
        description="68 points of 300W/iBUG (dlib's order); NME by outer eye corners 36-45",
        contours={
            "eye_left": tuple(range(36, 42)),
            "eye_right": tuple(range(42, 48)),
            "mouth_outer": tuple(range(48, 60)),
            "mouth_inner": tuple(range(60, 68)),
        },
    )
)

# --- 98 points: WFLW ----------------------------------------------------------------------------
_n98 = (
    [f"contour_{i}" for i in range(33)]
    + [f"brow_left_{i}" for i in range(9)]
    + [f"brow_right_{i}" for i in range(9)]
    + [f"nose_{i}" for i in range(9)]
    + [f"eye_left_{i}" for i in range(8)]
    + [f"eye_right_{i}" for i in range(8)]
    + [f"mouth_outer_{i}" for i in range(12)]
    + [f"mouth_inner_{i}" for i in range(8)]
    + ["pupil_left", "pupil_right"]
)
_flip98 = (
    list(range(32, -1, -1))
    + [46, 45, 44, 43, 42, 50, 49, 48, 47]
    + [37, 36, 35, 34, 33, 41, 40, 39, 38]
    + [51, 52, 53, 54, 59, 58, 57, 56, 55]
    + [72, 71, 70, 69, 68, 75, 74, 73]
    + [64, 63, 62, 61, 60, 67, 66, 65]
    + [82, 81, 80, 79, 78, 77, 76, 87, 86, 85, 84, 83]
    + [92, 91, 90, 89, 88, 95, 94, 93]
    + [97, 96]
)
_map98to68 = (
    list(range(0, 33, 2))
    + [33, 34, 35, 36, 37, 42, 43, 44, 45, 46]
    + [51, 52, 53, 54, 55, 56, 57, 58, 59]
    + [60, 61, 63, 64, 65, 67, 68, 69, 71, 72, 73, 75]
    + list(range(76, 96))
)
WFLW98 = _check(
    Scheme(
        name="wflw98",
        names=tuple(_n98),
        groups={
            "contour": tuple(range(0, 33)),
            "brows": tuple(range(33, 51)),
            "nose": tuple(range(51, 60)),
            "eyes": tuple(range(60, 76)),
            "mouth": tuple(range(76, 96)),
            "pupils": (96, 97),
        },
        flip=tuple(_flip98),
        norm_pair=((60,), (72,)),
        projections={
            "ibug68": tuple((i,) for i in _map98to68),
            "cuhk5": ((96,), (97,), (54,), (76,), (82,)),
        },
        description="98 points of WFLW; NME by outer eye corners 60-72",
        contours={
            "eye_left": tuple(range(60, 68)),
            "eye_right": tuple(range(68, 76)),
            "mouth_outer": tuple(range(76, 88)),
            "mouth_inner": tuple(range(88, 96)),
        },
    )
)

SCHEMES: dict[str, Scheme] = {s.name: s for s in (CUHK5, IBUG68, WFLW98)}

# Mean faces: each point's average position over human-labelled faces, in units of the outer eye
# corners' distance, origin between them, x along the eye line (image left to right), y down.
# WFLW98: the 90 faces of the WFLW sample's tune half (`facepoints.data` "wflw68" tune split).
MEAN_FACES: dict[str, tuple[tuple[float, float], ...]] = {
    "wflw98": (
        (-0.853, -0.040),
        (-0.845, 0.082),
        (-0.838, 0.204),
        (-0.830, 0.326),
        (-0.818, 0.448),
        (-0.798, 0.569),
        (-0.769, 0.687),
        (-0.730, 0.802),
        (-0.679, 0.912),
        (-0.618, 1.015),
        (-0.549, 1.114),
        (-0.477, 1.205),
        (-0.400, 1.292),
        (-0.319, 1.371),
        (-0.232, 1.438),
        (-0.131, 1.485),
        (-0.019, 1.503),
        (0.096, 1.498),
        (0.203, 1.459),
        (0.302, 1.399),
        (0.398, 1.326),
        (0.487, 1.245),
        (0.568, 1.158),
        (0.645, 1.064),
        (0.713, 0.962),
        (0.769, 0.854),
        (0.817, 0.741),
        (0.855, 0.623),
        (0.883, 0.501),
        (0.903, 0.378),
        (0.918, 0.253),
        (0.931, 0.128),
        (0.946, 0.003),
        (-0.591, -0.187),
        (-0.479, -0.281),
        (-0.367, -0.294),
        (-0.253, -0.280),
        (-0.147, -0.251),
        (-0.147, -0.172),
        (-0.254, -0.194),
        (-0.367, -0.209),
        (-0.480, -0.204),
        (0.138, -0.261),
        (0.262, -0.293),
        (0.384, -0.305),
        (0.508, -0.288),
        (0.623, -0.189),
        (0.506, -0.211),
        (0.382, -0.219),
        (0.259, -0.206),
        (0.137, -0.179),
        (-0.018, -0.023),
        (-0.029, 0.132),
        (-0.040, 0.286),
        (-0.043, 0.437),
        (-0.209, 0.536),
        (-0.121, 0.552),
        (-0.032, 0.564),
        (0.065, 0.552),
        (0.159, 0.535),
        (-0.500, 0.000),
        (-0.428, -0.044),
        (-0.343, -0.062),
        (-0.266, -0.046),
        (-0.203, -0.001),
        (-0.272, 0.032),
        (-0.351, 0.041),
        (-0.429, 0.030),
        (0.203, 0.003),
        (0.270, -0.048),
        (0.355, -0.061),
        (0.433, -0.041),
        (0.500, -0.000),
        (0.432, 0.030),
        (0.356, 0.040),
        (0.277, 0.031),
        (-0.318, 0.870),
        (-0.235, 0.781),
        (-0.103, 0.730),
        (-0.041, 0.732),
        (0.029, 0.729),
        (0.188, 0.775),
        (0.302, 0.865),
        (0.224, 0.966),
        (0.110, 1.041),
        (-0.029, 1.069),
        (-0.156, 1.040),
        (-0.252, 0.965),
        (-0.282, 0.870),
        (-0.180, 0.821),
        (-0.038, 0.802),
        (0.138, 0.811),
        (0.268, 0.868),
        (0.148, 0.938),
        (-0.025, 0.970),
        (-0.177, 0.934),
        (-0.335, -0.014),
        (0.359, -0.009),
    ),
}
MEAN_FACES["ibug68"] = tuple(MEAN_FACES["wflw98"][i] for i in _map98to68)
_BY_COUNT = {s.num_points: s for s in SCHEMES.values()}


def get_scheme(name_or_count: str | int | Scheme) -> Scheme:
    """A scheme by name ("cuhk5", "ibug68", "wflw98", or a composite "wflw98+ibug68+cuhk5") or by
    its number of points (5, 68, 98)."""
    if isinstance(name_or_count, Scheme):
        return name_or_count
    try:
        if isinstance(name_or_count, int) or str(name_or_count).isdigit():
            return _BY_COUNT[int(name_or_count)]
        name = str(name_or_count)
        if "+" in name:
            return composite_scheme(name.split("+"))
        return SCHEMES[name]
    except KeyError:
        raise ConfigError(
            f"unknown landmark scheme {name_or_count!r}; known: {', '.join(SCHEMES)} "
            f"(or several joined by +)"
        ) from None


_COMPOSITES: dict[str, Scheme] = {}


def composite_scheme(parts: list[str]) -> Scheme:
    """One model's outputs in several markups: the points of each part scheme in turn (a block
    per scheme), e.g. "wflw98+ibug68+cuhk5" (171 points). Each dataset can teach the block of its
    own markup, so markups that disagree (300-W's jaw and WFLW's, CUHK's eye centres) never pull
    one point two ways. It projects onto each part by taking that part's block, and onto any
    scheme its first part projects to, through the first block. Names are "<part>:<name>"."""
    key = "+".join(parts)
    if key in _COMPOSITES:
        return _COMPOSITES[key]
    blocks = [SCHEMES[p] for p in parts]
    if len({b.name for b in blocks}) != len(blocks) or len(blocks) < 2:
        raise ConfigError(f"a composite scheme needs two or more different schemes, got {key!r}")
    names, flip, groups, offsets = [], [], {}, {}
    start = 0
    for b in blocks:
        offsets[b.name] = start
        names += [f"{b.name}:{n}" for n in b.names]
        flip += [start + i for i in b.flip]
        for g, idx in b.groups.items():
            groups.setdefault(g, ())
            groups[g] = groups[g] + tuple(start + i for i in idx)
        start += b.num_points
    first = blocks[0]
    projections = {
        b.name: tuple((offsets[b.name] + i,) for i in range(b.num_points)) for b in blocks
    }
    for target, rows in first.projections.items():
        projections.setdefault(target, tuple(tuple(i for i in row) for row in rows))
    s = _check(
        Scheme(
            name=key,
            names=tuple(names),
            groups=groups,
            flip=tuple(flip),
            norm_pair=first.norm_pair,
            projections=projections,
            description=f"{start} points: the blocks of {', '.join(b.name for b in blocks)}",
        )
    )
    _COMPOSITES[key] = s
    return s


def mean_face(scheme: Scheme | str) -> np.ndarray | None:
    """(K, 2) mean positions of a scheme's points (see MEAN_FACES): stored, projected from the
    98-point mean face, or for a composite its parts' in turn; None when unknown."""
    s = get_scheme(scheme)
    if s.name in MEAN_FACES:
        return np.asarray(MEAN_FACES[s.name], dtype=np.float64)
    if "+" in s.name:
        parts = [mean_face(p) for p in s.name.split("+")]
        return None if any(p is None for p in parts) else np.concatenate(parts)
    if s.name in WFLW98.projections:
        return project(np.asarray(MEAN_FACES["wflw98"]), WFLW98, s).astype(np.float64)
    return None


def primary_scheme(scheme: Scheme | str) -> Scheme:
    """The scheme a model's points are shown in by default: a composite's first part, else the
    scheme itself."""
    s = get_scheme(scheme)
    return get_scheme(s.name.split("+")[0])


def projection_matrix(src: str | int | Scheme, dst: str | int | Scheme) -> np.ndarray:
    """(K_dst, K_src) matrix M with dst_points = M @ src_points; identity for equal schemes.
    Chains through 68 when no direct projection is stored (98 -> 68 -> 5 is not needed: 98 -> 5
    is stored directly)."""
    s, d = get_scheme(src), get_scheme(dst)
    if s.name == d.name:
        return np.eye(s.num_points, dtype=np.float32)
    if d.name not in s.projections:
        raise ConfigError(f"no projection from {s.name} to {d.name}")
    rows = s.projections[d.name]
    m = np.zeros((len(rows), s.num_points), dtype=np.float32)
    for r, idx in enumerate(rows):
        m[r, list(idx)] = 1.0 / len(idx)
    return m


def project(points: np.ndarray, src: str | int | Scheme, dst: str | int | Scheme) -> np.ndarray:
    """Points of scheme `src`, shape (..., K_src, 2), as points of scheme `dst`."""
    m = projection_matrix(src, dst)
    return np.einsum("ij,...jd->...id", m, np.asarray(points, dtype=np.float32))
