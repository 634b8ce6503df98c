"""Drawing that reads at any size: dots, lines and boxes follow the face and the image; colours by
part; optional numbers. On real photos: 250-pixel CUHK faces and 1024-pixel WFLW photos."""

from __future__ import annotations

import numpy as np
import pytest

from facepoints.data import read_dataset
from facepoints.draw import draw_box, draw_landmarks, face_size, group_colors, mark_radius
from facepoints.io import load_image
from facepoints.schemes import get_scheme


@pytest.fixture(scope="module")
def cuhk_face(cuhk_root):
    recs = read_dataset("cuhk5", "test", cuhk_root)
    i = next(i for i, p in enumerate(recs.images) if "lfw_5590" in str(p))  # a 250 x 250 photo
    return load_image(recs.images[i]), recs.points[i], recs.boxes[i]


@pytest.fixture(scope="module")
def wflw_face(wflw_root):
    recs = read_dataset("wflw", "test", wflw_root)
    sides = recs.boxes[:, 2] - recs.boxes[:, 0]
    i = int(np.argmax(sides))  # the largest face of the sample, on a 1024-pixel-wide photo
    return load_image(recs.images[i]), recs.points[i], recs.boxes[i]


def _dot_pixels(image, points) -> float:
    """Pixels changed per point by drawing the points (their dots do not overlap)."""
    out = draw_landmarks(image, points, (255, 0, 255))
    return np.any(out != image, axis=2).sum() / len(points)


def test_dots_are_visible_on_a_small_photo_and_scale_with_the_face(cuhk_face):
    import cv2

    img, pts, _ = cuhk_face
    assert img.shape[:2] == (250, 250)
    small = _dot_pixels(img, pts)
    assert small >= 20  # a dot of a few pixels across, not a speck
    # the same face 4x larger: dots 4x wider (about 16x the area) within rounding
    big = cv2.resize(img, (1000, 1000), interpolation=cv2.INTER_LINEAR)
    large = _dot_pixels(big, pts * 4 + 1.5)  # pixel centres: x' = 4x + 1.5
    assert 10 < large / small < 22, (small, large)


def test_dense_points_on_a_large_photo_stay_apart_and_show(wflw_face):
    img, pts, box = wflw_face
    assert max(img.shape[:2]) >= 1000
    n = len(pts)
    r = mark_radius(img.shape, face_size(pts), n)
    gaps = np.linalg.norm(np.diff(pts[:33], axis=0), axis=1)  # neighbours along the jaw
    assert r >= max(img.shape[:2]) / 300 * 0.99 or r >= face_size(pts) / 35
    assert 2 * r < np.median(gaps)  # neighbouring dots do not merge
    out = draw_landmarks(img, pts, group_colors(n), scheme=n, connect=True)
    assert np.any(out != img, axis=2).sum() > n * np.pi * r * r * 0.5


def test_colours_follow_the_scheme_parts(wflw_face):
    img, pts, _ = wflw_face
    s = get_scheme(len(pts))
    colors = group_colors(s)
    out = draw_landmarks(img, pts, colors, scheme=s)
    for g, idx in s.groups.items():
        i = idx[len(idx) // 2]
        x, y = np.round(pts[i]).astype(int)
        assert tuple(out[y, x]) == tuple(colors[i]), g
    # one colour per group, the same within a group
    assert len({tuple(colors[idx[0]]) for idx in s.groups.values()}) == len(s.groups)


def test_dots_have_a_dark_rim_that_can_be_turned_off():
    white = np.full((60, 60, 3), 255, np.uint8)
    p = np.array([[30.0, 30.0]])
    rimmed = draw_landmarks(white, p, (255, 230, 0), radius=8)
    plain = draw_landmarks(white, p, (255, 230, 0), radius=8, outline=False)
    assert rimmed[30, 30].tolist() == plain[30, 30].tolist() == [255, 230, 0]
    assert rimmed[30, 39].max() < 100  # the rim just outside the dot is dark
    assert plain[30, 40].tolist() == [255, 255, 255]


def test_numbers_are_optional_and_drawn_beside_each_point(cuhk_face):
    img, pts, _ = cuhk_face
    without = draw_landmarks(img, pts)
    with_numbers = draw_landmarks(img, pts, numbers=True)
    changed = np.any(with_numbers != without, axis=2)
    r = mark_radius(img.shape, face_size(pts), len(pts))
    for x, y in pts:  # some pixels change up and right of each point, where its number goes
        x0, y0 = int(x + r), int(y - 4 * r - 8)
        assert changed[max(0, y0) : int(y), x0 : x0 + int(4 * r + 12)].any()


def test_box_edge_follows_the_box_and_the_image(cuhk_face, wflw_face):
    def edge(img, box):
        out = draw_box(img, box, (255, 0, 255))
        x1, y1, x2, y2 = np.round(box).astype(int)
        col = np.any(out[:, (x1 + x2) // 2] != img[:, (x1 + x2) // 2], axis=1)
        return int(col[max(0, y1 - 10) : y1 + 10].sum())

    small = edge(*cuhk_face[::2])
    large = edge(*wflw_face[::2])
    assert small >= 1 and large > small
    face = wflw_face[2]
    assert large <= (face[2] - face[0]) / 20 + 1  # never swamps the face


def test_predict_numbers_the_points_when_asked(tmp_path, capsys):
    from facepoints.cli import main

    plain, numbered = tmp_path / "plain", tmp_path / "numbered"
    for out, extra in ((plain, []), (numbered, ["--numbers"])):
        code = main(["predict", "--demo", "--out", str(out), "--threads", "1", *extra])
        assert code == 0, capsys.readouterr().err
    a, b = load_image(plain / "demo.jpg"), load_image(numbered / "demo.jpg")
    changed = np.abs(a.astype(int) - b).max(axis=2) > 60  # beyond JPEG noise
    assert changed.sum() > 50
