"""Turned faces (`data.profiling`, `facepoints data turn`) made from real 300-W faces: the head
turns by the angle asked, the photo's texture moves with the points, and the copies are written
whole as a 300-W folder the readers take, never from validation faces."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from facepoints.analysis.pose import head_pose
from facepoints.data import read_dataset
from facepoints.data.profiling import (
    outline_jaw,
    turn_face,
    turned_points,
    write_turned,
    yaw_of,
)
from facepoints.data.w300 import read_pts_folders
from facepoints.errors import ConfigError
from facepoints.io import load_image
from facepoints.schemes import IBUG68


@pytest.fixture(scope="module")
def faces(w300_root):
    train = read_dataset("300w", "train", data_root=w300_root)
    # near-frontal HELEN faces and AFW ones, a few of each
    pick = [i for i in range(len(train)) if train.sources[i] == "helen"][:40:8]
    pick += [i for i in range(len(train)) if train.sources[i] == "afw"][:4]
    return train.subset(np.array(pick))


def test_the_head_turns_by_the_angle_asked(faces):
    for i in range(len(faces)):
        image = load_image(faces.images[i])
        size = image.shape[1], image.shape[0]
        before = yaw_of(faces.points[i], size)
        for turn in (-20.0, 20.0):
            _, target, _ = turned_points(faces.points[i], turn, size)
            after = yaw_of(target[:68], size)
            assert after - before == pytest.approx(turn, abs=8.0)
        source, target, _ = turned_points(faces.points[i], 0.0, size)
        np.testing.assert_allclose(target, source, atol=1e-6)


def _pitch(points, size) -> float:
    return float(head_pose(np.asarray(points, np.float64), "ibug68", size).pitch)


def test_the_head_nods_by_the_angle_asked(faces):
    for i in range(len(faces)):
        image = load_image(faces.images[i])
        size = image.shape[1], image.shape[0]
        yaw, pitch = yaw_of(faces.points[i], size), _pitch(faces.points[i], size)
        for nod in (-20.0, 20.0):
            _, target, _ = turned_points(faces.points[i], 0.0, size, pitch=nod)
            assert _pitch(target[:68], size) - pitch == pytest.approx(nod, abs=12.0)
            assert yaw_of(target[:68], size) == pytest.approx(yaw, abs=8.0)
        _, both, _ = turned_points(faces.points[i], 20.0, size, pitch=-20.0)
        assert yaw_of(both[:68], size) - yaw == pytest.approx(20.0, abs=10.0)
        assert _pitch(both[:68], size) - pitch == pytest.approx(-20.0, abs=12.0)


def test_the_photo_moves_with_the_points(faces):
    image = load_image(faces.images[0])
    pts = faces.points[0]
    same, q0 = turn_face(image, pts, 0.0)
    np.testing.assert_allclose(q0, pts, atol=1e-3)
    assert np.abs(same.astype(int) - image.astype(int)).mean() < 1.0
    turned, q = turn_face(image, pts, 10.0)
    assert turned.shape == image.shape and turned.dtype == np.uint8
    assert np.abs(q - pts).max() > 3  # the points moved ...
    # ... and the texture with them: the patches around the nose tip, the inner eye corners and
    # the mouth corners are found again at the points' new places, not at their old ones
    eye = np.linalg.norm(pts[36:42].mean(0) - pts[42:48].mean(0))
    r = max(int(eye * 0.25), 3)
    grey0, grey1 = image.mean(-1), turned.mean(-1)

    def patch(img, p):
        x, y = np.round(p).astype(int)
        return img[y - r : y + r + 1, x - r : x + r + 1].ravel()

    found, left = [], []
    for k in (30, 39, 42, 48, 54):
        a = patch(grey0, pts[k])
        found.append(np.corrcoef(a, patch(grey1, q[k]))[0, 1])
        left.append(np.corrcoef(a, patch(grey1, pts[k]))[0, 1])
    assert np.mean(found) > 0.6 and np.mean(found) > np.mean(left) + 0.3
    turned, q = turn_face(image, pts, 25.0)
    # far from the face the photo is untouched
    x1, y1, x2, y2 = faces.boxes[0]
    side = max(x2 - x1, y2 - y1)
    corner = turned[: max(int(y1 - 1.6 * side), 0), :]
    assert np.array_equal(corner, image[: corner.shape[0], :])


def _hull_distance(points: np.ndarray, i: int, others: list[int]) -> float:
    """Signed distance of point `i` from the convex hull of `others` (> 0 inside)."""
    import cv2

    hull = cv2.convexHull(points[others].astype(np.float32))
    return float(cv2.pointPolygonTest(hull, tuple(map(float, points[i])), True))


def test_far_jaw_moves_onto_the_outline_of_a_face_seen_from_the_side(faces):
    jaw = list(IBUG68.groups["contour"])
    moved_any = False
    for i in range(len(faces)):
        image = load_image(faces.images[i])
        size = image.shape[1], image.shape[0]
        yaw = yaw_of(faces.points[i], size)
        turn = (70.0 if yaw >= 0 else -70.0) - yaw
        _, target, depth = turned_points(faces.points[i], turn, size)
        pts3d, d = target[:68], depth[:68]
        out = outline_jaw(pts3d, d)
        far = jaw[:8] if d[jaw[:8]].mean() > d[jaw[9:]].mean() else jaw[9:]
        rest = [k for k in range(68) if k not in far]
        np.testing.assert_array_equal(out[rest], pts3d[rest])  # only the far jaw moves
        for k in far:
            if _hull_distance(pts3d, k, rest) > 1.0:  # hidden behind the face before
                moved_any = True
                assert abs(_hull_distance(out, k, rest)) < 0.5  # on the outline now
            else:
                np.testing.assert_array_equal(out[k], pts3d[k])
        # the turn with outline=True gives the same points
        _, q = turn_face(image, faces.points[i], turn, size, outline=True)
        np.testing.assert_allclose(q, out, atol=1e-3)
    assert moved_any  # at 70 degrees the far jaw is hidden on these faces


def test_outlined_copies_turn_further(faces, tmp_path):
    n = write_turned(
        faces, tmp_path, per_face=1, yaw_range=(60, 70), seed=2, outline=True, progress=False
    )
    made = read_dataset("300w", "train", data_root=tmp_path)
    assert len(made) == n >= len(faces) // 2
    for i in range(len(made)):
        h, w = load_image(made.images[i]).shape[:2]
        p = made.points[i]
        assert (p >= -0.1 * w).all() and (p[:, 0] <= 1.1 * w).all() and (p[:, 1] <= 1.1 * h).all()
    with pytest.raises(ConfigError, match="75"):
        write_turned(faces, tmp_path, yaw_range=(60, 80), outline=True)


def test_turning_needs_68_finite_points(faces):
    bad = faces.points[0].copy()
    bad[3] = np.nan
    with pytest.raises(ConfigError, match="68 finite points"):
        turned_points(bad, 10.0)
    with pytest.raises(ConfigError, match="68 finite points"):
        turned_points(faces.points[0][:5], 10.0)


def test_copies_are_written_whole_as_a_300w_folder(faces, tmp_path):
    n = write_turned(faces, tmp_path, per_face=2, seed=3, progress=False)
    made = read_dataset("300w", "train", data_root=tmp_path)
    assert len(made) == n >= len(faces)  # most faces get both copies
    assert not list(tmp_path.rglob("*.tmp*"))
    for i in range(len(made)):
        h, w = load_image(made.images[i]).shape[:2]
        p = made.points[i]
        assert (p >= -1).all() and (p[:, 0] <= w).all() and (p[:, 1] <= h).all()
        assert abs(yaw_of(p)) > 15  # turned aside (a 60 cm camera's view of the crop)
    stamps = {f: f.stat().st_mtime_ns for f in tmp_path.rglob("*.pts")}
    assert write_turned(faces, tmp_path, per_face=2, seed=3, progress=False) == n
    assert {f: f.stat().st_mtime_ns for f in tmp_path.rglob("*.pts")} == stamps


def test_nodding_copies_nod_either_way(faces, tmp_path):
    n = write_turned(
        faces, tmp_path, per_face=2, yaw_range=(0, 10), pitch_range=(15, 25), seed=1, progress=False
    )
    made = read_dataset("300w", "train", data_root=tmp_path)
    assert len(made) == n == 2 * len(faces)  # a nod alone is turn enough
    before = {p.stem: _pitch(faces.points[i], None) for i, p in enumerate(faces.images)}
    nods = [
        _pitch(made.points[i], None) - before[p.stem.rsplit("_turn", 1)[0]]
        for i, p in enumerate(made.images)
    ]
    assert min(nods) < -8 and max(nods) > 8  # up and down
    with pytest.raises(ConfigError, match="pitch range"):
        write_turned(faces, tmp_path, pitch_range=(20, 50))


def test_cli_leaves_validation_faces_out(w300_root, tmp_path):
    out = tmp_path / "turned"
    cmd = [sys.executable, "-m", "facepoints", "data", "turn", "--data-root", str(w300_root)]
    r = subprocess.run(
        [*cmd, "--out", str(out), "--max-faces", "12", "--per-face", "1", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    made = read_pts_folders([out / "helen" / "trainset"])
    stems = {p.stem.rsplit("_turn", 1)[0] for p in made.images}
    train, val = read_dataset("300w", "train", data_root=w300_root).split(0.1, 0)
    assert stems and stems <= {p.stem for p in train.images[:12]}
    assert not stems & {p.stem for p in val.images}
    flags = (
        ("--yaw", "40"),
        ("--yaw", "30,60"),
        ("--pitch", "10,45"),
        ("--outline --yaw", "60,80"),
    )
    for flag, value in flags:
        # not a range; past the turns the markup holds up to
        bad = subprocess.run(
            [*cmd, "--out", str(out), *flag.split(), value], capture_output=True, text=True
        )
        assert bad.returncode != 0
        lines = bad.stderr.strip().splitlines()
        assert len(lines) == 1 and f"{flag.split()[-1]} {value}" in lines[0]
    with pytest.raises(ConfigError, match="45"):
        write_turned(read_dataset("300w", "test", data_root=w300_root), out, yaw_range=(30, 60))
