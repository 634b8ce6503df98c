"""Turned faces from frontal ones ("face profiling", after 300W-LP): a face's 68 labelled points
get depths from the mean 3D face fitted to them (`analysis.pose`), the head turns about its own
vertical axis, and the photo is warped triangle by triangle to the turned points, the nearer
triangles drawn over the farther. The points move with it, so a labelled face becomes a labelled
face turned further aside: the large poses that photos with human dense labels have too few of.

    from facepoints.data.profiling import turn_face
    image2, points2 = turn_face(image, points, degrees=25)

The face's surroundings come along: a ring of points around the face (hair, ears) turns with the
head, behind it; a frame further out stays still, so the background stretches between the two.
Far-side jaw points follow the 3D jaw line, which stays close to the face's outline while the
face is turned less than about 45 degrees (`MAX_YAW`); with `outline=True` those hidden behind
the face are moved onto its outline, as dense markups draw faces seen from the side, and faces
turn up to 75 degrees (`MAX_YAW_OUTLINE`)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..schemes import IBUG68

__all__ = [
    "MAX_PITCH",
    "MAX_YAW",
    "MAX_YAW_OUTLINE",
    "crop_around",
    "outline_jaw",
    "turn_face",
    "turned_points",
    "write_turned",
    "yaw_of",
]

MAX_YAW = 45.0  # degrees: beyond it the far side's jaw points leave the face's outline
MAX_YAW_OUTLINE = 75.0  # degrees: with the far jaw moved onto the outline (`outline_jaw`)
MAX_PITCH = 30.0  # degrees: beyond it the chin or the brows fold over the face
_RING = 1.3  # the head's ring: the face's outline pushed out this much from its centre
_RING_DEPTH_MM = 40.0  # and this far behind the jaw line
_FRAME = 2.2  # the still frame: this many face sizes across, centred on the face
_FOREHEAD = 0.55  # forehead points: the brows moved up by this many eye-to-mouth lengths
_HEAD_CENTRE_MM = 90.0  # the head turns about an axis this far behind the face's points
_MAX_OUTSIDE = 0.1  # a copy whose points leave the photo by more than this much of its size is
# not made (a face near the photo's edge turned out of it)


def yaw_of(points: np.ndarray, image_size: tuple[int, int] | None = None) -> float:
    """The yaw (degrees, `analysis.pose` convention) of a face's 68 points."""
    from ..analysis.pose import head_pose

    return float(head_pose(np.asarray(points, np.float64), IBUG68, image_size).yaw)


def turned_points(
    points: np.ndarray,
    degrees: float,
    image_size: tuple[int, int] | None = None,
    pitch: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 3D geometry of a turn: (source (M, 2), target (M, 2), target depth (M,)) pixel
    positions of the face's 68 points followed by its forehead, ring and frame points, the head
    turned by `degrees` about its own vertical axis (the sign as `analysis.pose`'s yaw: > 0
    turns the nose to the image's left), then by `pitch` degrees about its own left-right axis
    (as `analysis.pose`'s pitch: > 0 looks up). Depth in pixels, larger = farther."""
    from ..analysis.pose import face3d, head_pose

    pts = np.asarray(points, np.float64).reshape(-1, 2)
    if pts.shape != (IBUG68.num_points, 2) or not np.isfinite(pts).all():
        raise ConfigError(f"turning a face needs its 68 finite points, got {pts.shape}")
    pose = head_pose(pts, IBUG68, image_size)
    r, t = np.asarray(pose.rotation), np.asarray(pose.translation)
    model = face3d(IBUG68)
    cam = model @ r.T + t  # mm, camera frame
    z0 = float(cam[:, 2].mean())
    left, right = (list(IBUG68.contours[e]) for e in ("eye_left", "eye_right"))
    g = {name: list(idx) for name, idx in IBUG68.groups.items()}
    eyes = np.linalg.norm(pts[left].mean(0) - pts[right].mean(0))
    model_eyes = np.linalg.norm(cam[left].mean(0) - cam[right].mean(0))
    k = eyes / max(model_eyes, 1e-6)  # pixels per mm at the face
    depth = (cam[:, 2] - z0) * k

    centre = pts.mean(0)
    up = -r[:2, 1] / max(np.linalg.norm(r[:2, 1]), 1e-6)  # the head's up, on the image
    eye_mouth = np.linalg.norm(pts[g["eyes"]].mean(0) - pts[g["mouth"]].mean(0))
    forehead = pts[g["brows"]] + up * (_FOREHEAD * eye_mouth)
    forehead_depth = depth[g["brows"]] + 10.0 * k
    outline = np.concatenate([pts[g["contour"]], forehead[::-1]])
    ring = centre + (outline - centre) * _RING
    ring_depth = np.full(len(ring), float(depth[g["contour"]].max()) + _RING_DEPTH_MM * k)
    src3 = np.concatenate(
        [
            np.column_stack([pts, depth]),
            np.column_stack([forehead, forehead_depth]),
            np.column_stack([ring, ring_depth]),
        ]
    )
    # the turn: about the head's own vertical axis, through a point behind the face
    axis = r[:, 1] / np.linalg.norm(r[:, 1])
    pivot = np.array([centre[0], centre[1], float(depth.mean()) + _HEAD_CENTRE_MM * k])
    turn = _rodrigues(axis, math.radians(degrees))
    if pitch:  # then about the turned head's own left-right axis (image y grows downwards)
        across = turn @ (r[:, 0] / np.linalg.norm(r[:, 0]))
        turn = _rodrigues(across, math.radians(pitch)) @ turn
    dst3 = (src3 - pivot) @ turn.T + pivot

    side = max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]))
    half = side * _FRAME / 2
    frame = np.array(
        [[centre[0] + a * half, centre[1] + b * half] for a in (-1, 0, 1) for b in (-1, 0, 1)]
    )
    frame = frame[np.abs(frame - centre).sum(1) > 0]  # not the centre itself
    far = float(dst3[:, 2].max()) + 1.0
    source = np.concatenate([src3[:, :2], frame])
    target = np.concatenate([dst3[:, :2], frame])
    target_depth = np.concatenate([dst3[:, 2], np.full(len(frame), far)])
    return source, target, target_depth


def turn_face(
    image: np.ndarray,
    points: np.ndarray,
    degrees: float,
    image_size: tuple[int, int] | None = None,
    pitch: float = 0.0,
    outline: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(image, points (68, 2) float32): the face turned by `degrees` about its vertical axis
    (> 0: the nose to the image's left), then by `pitch` about its left-right axis (> 0: up),
    the photo warped piecewise to follow, nearer triangles drawn over farther ones. Pixels
    outside the still frame are left as they are.
    `image_size`: the camera's (width, height) when `image` is a crop of a larger photo (None:
    the image's own). `outline`: far-side jaw points hidden behind the face are moved onto its
    outline (`outline_jaw`), as dense markups draw a face seen from the side."""

    img = np.ascontiguousarray(image)
    h, w = img.shape[:2]
    source, target, depth = turned_points(points, degrees, image_size or (w, h), pitch)
    tri = _delaunay(source)
    order = np.argsort(-depth[tri].mean(1), kind="stable")  # farthest first
    out = img.copy()
    for i in order:
        _warp_triangle(img, out, source[tri[i]], target[tri[i]])
    points2 = target[: IBUG68.num_points]
    if outline:
        points2 = outline_jaw(points2, depth[: IBUG68.num_points])
    return out, points2.astype(np.float32)


def outline_jaw(points: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """The 68 points with the far side's jaw points that fall inside the rest of the face moved
    outwards, across the face, onto its outline (the convex hull of the other points: the far
    brow's end, eye corner, nose, mouth and chin), as 300-W's and WFLW's markups draw a face
    seen from the side; the near side and jaw points already on the outline stay. `depth`
    (68,): the points' depths (larger = farther), which tell the far side."""
    import cv2

    pts = np.asarray(points, np.float64).reshape(-1, 2).copy()
    depth = np.asarray(depth, np.float64)
    jaw = list(IBUG68.groups["contour"])
    mid = len(jaw) // 2
    near, far = sorted((jaw[:mid], jaw[mid + 1 :]), key=lambda half: float(depth[half].mean()))
    rest = [i for i in range(len(pts)) if i not in far]
    hull = cv2.convexHull(pts[rest].astype(np.float32))
    # across the face, towards the far side: from the near jaw's middle to the far jaw's
    across = pts[far].mean(0) - pts[near].mean(0)
    across /= max(np.linalg.norm(across), 1e-9)
    for i in far:
        if cv2.pointPolygonTest(hull, tuple(map(float, pts[i])), False) <= 0:
            continue  # on or outside the outline: seen
        pts[i] = _ray_exit(pts[i], across, hull.reshape(-1, 2).astype(np.float64))
    return pts


def _ray_exit(p: np.ndarray, d: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Where the ray from `p` (inside the convex `polygon`) along `d` leaves it."""
    best = math.inf
    for a, b in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
        e = b - a
        den = d[0] * e[1] - d[1] * e[0]
        if abs(den) < 1e-12:
            continue
        w = a - p
        t = (w[0] * e[1] - w[1] * e[0]) / den
        u = (w[0] * d[1] - w[1] * d[0]) / den
        if t >= 0 and -1e-9 <= u <= 1 + 1e-9:
            best = min(best, t)
    return p + d * best if math.isfinite(best) else p


def _warp_triangle(src: np.ndarray, out: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """Copy triangle `a` of `src` onto triangle `b` of `out` (an affine map), in place."""
    import cv2

    h, w = out.shape[:2]
    x0, y0 = np.floor(b.min(0)).astype(int)
    x1, y1 = np.ceil(b.max(0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return
    (ux, uy), (vx, vy) = b[1] - b[0], b[2] - b[0]
    if abs(ux * vy - uy * vx) < 1e-3:
        return  # folded flat: nothing shows
    m = cv2.getAffineTransform(b.astype(np.float32), a.astype(np.float32))  # target -> source
    m[:, 2] += m[:, :2] @ np.array([x0, y0], np.float64)
    patch = cv2.warpAffine(
        src,
        m,
        (x1 - x0, y1 - y0),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT,
    )
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillConvexPoly(mask, np.round((b - [x0, y0]) * 16).astype(np.int32), 1, cv2.LINE_8, 4)
    region = out[y0:y1, x0:x1]
    np.copyto(region, patch, where=mask.astype(bool)[..., None] if region.ndim == 3 else mask > 0)


def _delaunay(points: np.ndarray) -> np.ndarray:
    """(T, 3) point indices of the Delaunay triangles of `points` (M, 2)."""
    import cv2

    lo, hi = points.min(0) - 1.0, points.max(0) + 1.0
    sub = cv2.Subdiv2D((int(lo[0]), int(lo[1]), int(hi[0] - lo[0]) + 2, int(hi[1] - lo[1]) + 2))
    sub.insert([(float(x), float(y)) for x, y in points])
    corners = sub.getTriangleList().reshape(-1, 3, 2)
    # each corner back to its point: the nearest (Subdiv2D returns the coordinates it was given)
    d = np.linalg.norm(corners[:, :, None, :] - points[None, None].astype(np.float32), axis=-1)
    idx = d.argmin(-1)
    ok = (d.min(-1) < 1e-2).all(1) & (idx[:, 0] != idx[:, 1]) & (idx[:, 1] != idx[:, 2])
    return idx[ok & (idx[:, 0] != idx[:, 2])]


def _rodrigues(axis: np.ndarray, angle: float) -> np.ndarray:
    """The rotation by `angle` radians about the unit `axis`."""
    x, y, z = axis
    c, s = math.cos(angle), math.sin(angle)
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) * c + s * k + (1 - c) * np.outer(axis, axis)


def write_turned(
    records,
    out: str | os.PathLike,
    per_face: int = 2,
    yaw_range: tuple[float, float] = (25.0, 45.0),
    min_turn: float = 8.0,
    seed: int = 0,
    progress: bool = True,
    pitch_range: tuple[float, float] = (0.0, 0.0),
    outline: bool = False,
) -> int:
    """Write `per_face` turned copies of each face of `records` (68 points) under `out`, as a
    300-W folder (`<source>/<name>_turnJ.jpg` beside its `.pts`), readable by the `300w`
    dataset (split "train" where the sources are helen/trainset and afw). Each copy is turned
    away from the camera, to a yaw drawn from `yaw_range` (degrees, either side for a face
    within 5 degrees of frontal); copies that would turn less than `min_turn` are not made.
    `pitch_range`: each copy also nods up or down (either, by chance) by this many degrees,
    drawn the same way; a copy that nods at least `min_turn` is made however little it turns.
    `outline`: the far side's hidden jaw points are moved onto the face's outline
    (`outline_jaw`), which lets the yaw go to `MAX_YAW_OUTLINE` instead of `MAX_YAW`.
    Files are written whole (a temporary name, then renamed). Returns the faces written."""
    from ..io import load_image
    from .w300 import SPLITS

    most = MAX_YAW_OUTLINE if outline else MAX_YAW
    if not 0 <= yaw_range[0] <= yaw_range[1] <= most:
        raise ConfigError(f"yaw range {yaw_range}: want 0 <= low <= high <= {most:g} degrees")
    if not 0 <= pitch_range[0] <= pitch_range[1] <= MAX_PITCH:
        raise ConfigError(
            f"pitch range {pitch_range}: want 0 <= low <= high <= {MAX_PITCH:g} degrees"
        )

    root = Path(out)
    for folder in SPLITS["train"]:  # a 300-W root, even where one source gave no face
        (root / folder).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = 0
    faces = range(len(records))
    if progress:
        from tqdm import tqdm

        faces = tqdm(faces, desc="turning faces", unit="face")
    for i in faces:
        image_path = Path(records.images[i])
        folder = root / _source_folder(records, i)
        folder.mkdir(parents=True, exist_ok=True)
        pts = np.asarray(records.points[i], np.float64)
        draws = rng.uniform(*yaw_range, size=per_face), rng.choice([-1.0, 1.0], size=per_face)
        nods = np.zeros(per_face)
        if pitch_range[1] > 0:  # drawn only then: the yaw-only copies stay as they were
            nods = rng.uniform(*pitch_range, size=per_face) * rng.choice([-1.0, 1.0], per_face)
        image = None
        for j in range(per_face):
            name = folder / f"{image_path.stem}_turn{j}"
            if name.with_suffix(".pts").is_file():
                written += 1
                continue  # made by an earlier run: the same seed draws the same turns
            if image is None:
                image = load_image(image_path)
                h, w = image.shape[:2]
                yaw = yaw_of(pts, (w, h))
            side = math.copysign(1.0, yaw) if abs(yaw) >= 5.0 else float(draws[1][j])
            turn = side * float(draws[0][j]) - yaw
            nod = float(nods[j])
            if abs(turn) < min_turn or np.sign(turn) != side:
                if abs(nod) < min_turn:
                    continue  # already turned this far
                turn = 0.0  # the nod alone
            turned, q = turn_face(image, pts, turn, (w, h), pitch=nod, outline=outline)
            crop, q = crop_around(turned, q)
            if not _inside(q, crop.shape, _MAX_OUTSIDE):
                continue  # turned out of the photo's frame
            _write_face(crop, q, name)
            written += 1
    return written


def _inside(points: np.ndarray, shape: tuple[int, ...], margin: float) -> bool:
    """Whether all `points` lie within the image of `shape`, give or take `margin` of its size."""
    h, w = shape[:2]
    lo = -margin * np.array([w, h])
    return bool(((points >= lo) & (points <= np.array([w, h]) - lo)).all())


def _source_folder(records, i: int) -> str:
    """The face's folder under a 300-W root (helen/trainset, afw, ...), from its image path."""
    parts = Path(records.images[i]).parts
    for k in range(len(parts) - 1, 0, -1):
        if parts[k - 1] == "helen":
            return f"helen/{parts[k]}"
        if parts[k] == "afw":
            return "afw"
    return Path(records.images[i]).parent.name


def crop_around(
    image: np.ndarray, points: np.ndarray, sides: float = _FRAME
) -> tuple[np.ndarray, np.ndarray]:
    """The photo cut to a square `sides` face sizes across around the points (the still frame
    by default: the rest is not needed to train on this face), and the points in the cut."""
    c = points.mean(0)
    half = max(np.ptp(points[:, 0]), np.ptp(points[:, 1])) * sides / 2
    h, w = image.shape[:2]
    x0, y0 = max(int(c[0] - half), 0), max(int(c[1] - half), 0)
    x1, y1 = min(int(c[0] + half) + 1, w), min(int(c[1] + half) + 1, h)
    return image[y0:y1, x0:x1], (points - [x0, y0]).astype(np.float32)


def _write_face(image: np.ndarray, pts: np.ndarray, name: Path) -> None:
    """`name`.jpg and `name`.pts, each written to a temporary name and then renamed (the .pts
    last: a face counts as made once it has one)."""
    import cv2

    from .w300 import write_pts

    jpg, pts_file = name.with_suffix(".jpg"), name.with_suffix(".pts")
    tmp = jpg.with_name(jpg.stem + ".tmp.jpg")
    if not cv2.imwrite(str(tmp), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise OSError(f"{tmp}: cannot write the image")
    os.replace(tmp, jpg)
    write_pts(pts_file, pts)
