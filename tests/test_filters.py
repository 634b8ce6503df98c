"""Face filters: placement geometry on faces with known landmarks, border clipping, each filter
changing the pixels of its own feature on real CUHK faces, 98-point faces via projection, and the
`facepoints filter` command. Landmarks are given (ground truth), so no trained model is needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facepoints.errors import ConfigError
from facepoints.filters import FILTERS, apply_filters, get_filter, list_filters
from facepoints.filters.base import TEMPLATE, blend, face_matrix, face_points5, parse_filter_names
from facepoints.geometry import apply
from facepoints.inference.landmarker import Face
from facepoints.schemes import get_scheme, project

CUHK5 = get_scheme("cuhk5")
OVERLAYS = ("sunglasses", "crown", "moustache", "dog", "clown")


def make_face(points: np.ndarray, scheme="cuhk5") -> Face:
    pts = np.asarray(points, np.float32)
    box = np.concatenate([pts.min(0), pts.max(0)]).astype(np.float32)
    return Face(box=box, score=1.0, landmarks=pts, scheme=get_scheme(scheme))


def synthetic_points(center=(200.0, 200.0), iod=80.0, angle_deg=0.0) -> np.ndarray:
    """TEMPLATE scaled to `iod` pixels, turned by `angle_deg` (counter-clockwise on screen),
    its eye midpoint at `center`."""
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])  # y points down
    return (TEMPLATE * iod) @ rot.T + np.asarray(center)


def grey(h=400, w=400, value=128) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def changed(a: np.ndarray, b: np.ndarray, level: int = 25) -> np.ndarray:
    return np.abs(a.astype(int) - b.astype(int)).max(axis=2) > level


def disc_change(a, b, center, radius) -> float:
    """Mean absolute difference of a and b within `radius` pixels of `center`."""
    h, w = a.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    m = (xx - center[0]) ** 2 + (yy - center[1]) ** 2 <= radius**2
    assert m.any(), "disc outside the image"
    return float(np.abs(a.astype(float) - b.astype(float))[m].mean())


# --- registry and API ----------------------------------------------------------------------------


def test_registry_lists_at_least_five_filters():
    names = list_filters()
    assert len(names) >= 5
    assert {"sunglasses", "crown", "moustache", "dog", "clown", "big_eyes", "align"} <= set(names)
    for n in names:
        f = get_filter(n)
        assert f.name == n and f.description
        assert get_filter(n) is f  # one shared instance: artwork drawn once
    assert FILTERS.names() == names


def test_parse_names_and_unknown_filter():
    assert parse_filter_names("crown, sunglasses,crown") == ["crown", "sunglasses"]
    assert parse_filter_names(["dog", "clown,dog"]) == ["dog", "clown"]
    assert parse_filter_names("") == [] and parse_filter_names(None) == []
    with pytest.raises(ConfigError, match="unknown filter 'hat'.*known: align"):
        parse_filter_names("sunglasses,hat")


def test_apply_filters_leaves_input_alone_and_no_faces_is_identity():
    img = grey()
    before = img.copy()
    face = make_face(synthetic_points())
    out = apply_filters(img, [face], "sunglasses")
    assert np.array_equal(img, before) and not np.array_equal(out, img)
    for n in list_filters():
        assert np.array_equal(apply_filters(img, [], [n]), img)
    assert np.array_equal(apply_filters(img, [face], []), img)


# --- placement -----------------------------------------------------------------------------------


def test_face_matrix_maps_template_eyes_onto_the_eyes():
    pts = synthetic_points(angle_deg=33, iod=57)
    m = face_matrix(pts, (0, 1))
    assert np.allclose(apply(m, TEMPLATE[:2]), pts[:2], atol=1e-3)
    m5 = face_matrix(pts, (0, 1, 2, 3, 4))
    assert np.allclose(apply(m5, TEMPLATE), pts, atol=1e-3)


@pytest.mark.parametrize("angle", [0.0, 20.0, -20.0])
def test_sunglasses_centre_between_eyes_and_angle_follows_eye_line(angle):
    img = grey()
    pts = synthetic_points((200, 190), iod=90, angle_deg=angle)
    out = apply_filters(img, [make_face(pts)], ["sunglasses"])
    ys, xs = np.nonzero(changed(out, img))
    assert len(xs) > 2000
    iod = np.linalg.norm(pts[1] - pts[0])
    mid = (pts[0] + pts[1]) / 2
    centre = np.array([xs.mean(), ys.mean()])
    assert np.linalg.norm(centre - mid) < 0.1 * iod, (centre, mid)
    # the long axis of the glasses (second moments) is the eye line
    cov = np.cov(np.stack([xs, ys]))
    evals, evecs = np.linalg.eigh(cov)
    axis = evecs[:, np.argmax(evals)]
    got = np.degrees(np.arctan2(-axis[1], axis[0]))  # counter-clockwise on screen
    got = (got + 90) % 180 - 90
    eye_line = np.degrees(np.arctan2(-(pts[1, 1] - pts[0, 1]), pts[1, 0] - pts[0, 0]))
    assert abs(got - eye_line) < 3.0, (got, eye_line)
    # the glasses span about two inter-ocular distances along the eye line
    along = (np.stack([xs, ys], 1) - mid) @ (np.array([pts[1] - pts[0]]).T / iod)
    assert 1.6 * iod < np.ptp(along) < 2.4 * iod


def test_overlay_size_follows_face_size():
    img = grey(600, 600)
    areas = []
    for iod in (40, 80, 160):
        out = apply_filters(img, [make_face(synthetic_points((300, 300), iod=iod))], ["crown"])
        areas.append(changed(out, img).sum())
    r1, r2 = areas[1] / areas[0], areas[2] / areas[1]
    assert 3.3 < r1 < 4.7 and 3.3 < r2 < 4.7, areas  # area grows with the square of the size


@pytest.mark.parametrize("name", sorted(set(list_filters())))
def test_clipped_at_the_border_without_error(name):
    img = grey(300, 360)
    cases = [
        synthetic_points((2, 3), iod=70),  # corner
        synthetic_points((355, 290), iod=70, angle_deg=30),  # opposite corner
        synthetic_points((180, -60), iod=50),  # mostly above the image
        synthetic_points((-500, -500), iod=50),  # entirely outside
        synthetic_points((180, 150), iod=1500),  # much larger than the image
        synthetic_points((180, 150), iod=0.2),  # tiny
    ]
    for pts in cases:
        out = apply_filters(img, [make_face(pts)], [name])
        assert out.dtype == np.uint8 and out.ndim == 3
        if name != "align":
            assert out.shape == img.shape
    nan = make_face(np.full((5, 2), np.nan))
    assert apply_filters(img, [nan], [name]).shape[2] == 3


def test_blend_clips_and_keeps_transparent_parts():
    img = grey(50, 50)
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[5:15, 5:15] = (255, 0, 0, 255)
    m = np.array([[1.0, 0, 40], [0, 1.0, -5]])  # half past the right and top edges
    out = blend(img.copy(), rgba, m)
    assert (out[0:10, 45:50] == (255, 0, 0)).all()
    assert (out[20:, :] == 128).all() and (out[:, :40] == 128).all()


# --- each filter on real faces ---------------------------------------------------------------------

# where each filter must change the picture, and where it must not (face units; radius 0.15)
EXPECT = {
    "sunglasses": ([(-0.5, 0.0), (0.5, 0.0), (0.0, -0.08)], [(0.0, 1.08), (0.0, -1.0)]),
    "crown": ([(0.0, -1.4), (-0.5, -1.15)], [(-0.5, 0.0), (0.5, 0.0), (0.0, 1.08)]),
    "moustache": ([(0.0, 0.85), (-0.4, 0.85), (0.4, 0.85)], [(-0.5, 0.0), (0.5, 0.0)]),
    "dog": ([(0.0, 0.6), (-1.25, -0.8), (1.25, -0.8)], [(-0.5, 0.0), (0.5, 0.0), (0.0, 1.2)]),
    "clown": ([(0.0, 0.58)], [(-0.5, 0.0), (0.5, 0.0), (0.0, -0.8)]),
    "big_eyes": ([(-0.5, 0.22), (0.5, -0.22)], [(0.0, 1.08), (0.0, -1.0)]),
}


@pytest.fixture(scope="module")
def cuhk_faces(cuhk_root):
    from facepoints.data import read_dataset
    from facepoints.io import load_image

    recs = read_dataset("cuhk5", "test", data_root=cuhk_root)
    out = []
    for i in (5, 40):  # frontal LFW faces, room above the head for the crown
        out.append((load_image(recs.images[i]), make_face(recs.points[i])))
    return out


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_filter_changes_its_feature_on_real_faces(name, cuhk_faces):
    near, far = EXPECT[name]
    for img, face in cuhk_faces:
        out = apply_filters(img, [face], [name])
        p5 = face_points5(face)
        m = face_matrix(p5, (0, 1, 2, 3, 4))
        iod = float(np.linalg.norm(p5[1] - p5[0]))
        r = 0.15 * iod
        for p in apply(m, np.array(near)):
            assert disc_change(out, img, p, r) > 12, (name, "near", p)
        for p in apply(m, np.array(far)):
            assert disc_change(out, img, p, r) < 2, (name, "far", p)


def test_align_makes_upright_crops_with_eyes_in_place(cuhk_faces):
    import cv2

    from facepoints.filters.align import ALIGN_EXTENT

    img, face = cuhk_faces[0]
    # turn the photo by 20 degrees; mark the eyes with pure green dots
    h, w = img.shape[:2]
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), 20, 1.0)
    turned = cv2.warpAffine(img, rot, (w, h))
    pts = apply(rot, face.landmarks)
    for x, y in pts[:2]:
        cv2.circle(turned, (int(round(x)), int(round(y))), 2, (0, 255, 0), -1)
    out = apply_filters(turned, [make_face(pts), make_face(pts)], ["align"])
    assert out.shape == (256, 512, 3)
    crop = out[:, :256].astype(int)
    green = (crop[..., 1] > 180) & (crop[..., 0] < 90) & (crop[..., 2] < 90)
    ys, xs = np.nonzero(green)
    left, right = xs < 128, xs >= 128
    assert left.any() and right.any()
    el = np.array([xs[left].mean(), ys[left].mean()])
    er = np.array([xs[right].mean(), ys[right].mean()])
    assert abs(el[1] - er[1]) < 4  # eyes level
    x0, y0, x1, y1 = ALIGN_EXTENT
    unit = 256 / max(x1 - x0, y1 - y0)
    expect_y = 255 / 2 - unit * (y0 + y1) / 2
    assert abs((el[1] + er[1]) / 2 - expect_y) < 0.12 * unit
    assert abs((er[0] - el[0]) - unit) < 0.15 * unit


def test_98_point_faces_work_through_projection(wflw_root):
    from facepoints.data import read_dataset
    from facepoints.io import load_image

    recs = read_dataset("wflw", "test", data_root=wflw_root)
    i = 1
    img = load_image(recs.images[i])
    face98 = make_face(recs.points[i], "wflw98")
    face68 = make_face(project(recs.points[i], "wflw98", "ibug68"), "ibug68")
    for name in ("sunglasses", "moustache", "lipstick"):  # drawn on the 68 points they project to
        a = apply_filters(img, [face98], [name])
        assert np.array_equal(a, apply_filters(img, [face68], [name]))
        assert changed(a, img).sum() > 100
    p = face_points5(face98)
    out = apply_filters(img, [face98], ["sunglasses"])
    iod = float(np.linalg.norm(p[1] - p[0]))
    assert disc_change(out, img, p[0], 0.15 * iod) > 12


def test_several_faces_all_get_the_filter():
    img = grey(300, 600)
    faces = [
        make_face(synthetic_points((150, 150), 60)),
        make_face(synthetic_points((450, 150), 60)),
    ]
    out = apply_filters(img, faces, ["clown"])
    for f in faces:
        p = face_points5(f)
        assert disc_change(out, img, p[2], 8) > 30


# --- command line --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    import torch

    from facepoints.models.registry import create_model
    from facepoints.models.weights import save_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_model(create_model("sun2013"), path, {"margin": 0.2})
    return path


def _cli(capsys, *args) -> tuple[int, str, str]:
    """Run `facepoints ARGS` in this process: (exit code, stdout, stderr)."""
    from facepoints.cli import main

    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_list_and_usage_errors(capsys, monkeypatch):
    code, out, _ = _cli(capsys, "filter", "--list")
    assert code == 0 and "sunglasses" in out and "crown" in out
    code, _, err = _cli(capsys, "filter", "x.jpg", "--filter", "hat")
    assert code == 2 and "unknown filter 'hat'" in err and len(err.strip().splitlines()) == 1
    code, _, err = _cli(capsys, "filter", "x.jpg")
    assert code == 2 and "--filter" in err
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code, _, err = _cli(capsys, "filter", "--camera", "0", "--filter", "crown")
    assert code == 2 and "display" in err and len(err.strip().splitlines()) == 1


def test_cli_photos_videos_and_bad_inputs(capsys, tmp_path, tiny_model, cuhk_root):
    import cv2

    photo = cuhk_root / "lfw_5590" / "Aaron_Eckhart_0001.jpg"
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(photo.read_bytes())
    (folder / "broken.png").write_text("not an image")
    frame = cv2.imread(str(photo))
    video = tmp_path / "clip.mp4"
    wr = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, frame.shape[1::-1])
    for _ in range(4):
        wr.write(frame)
    wr.release()
    out = tmp_path / "out"
    code, stdout, stderr = _cli(
        capsys, "filter", folder, video, "--filter", "sunglasses,crown", "--model", tiny_model,
        "--out", out, "--no-progress",
    )  # fmt: skip
    assert code == 1, stderr  # broken.png failed, the others were written
    assert "broken.png" in stderr and "Traceback" not in stderr
    assert (out / "a.jpg").is_file() and not (out / "broken.png").exists()
    cap = cv2.VideoCapture(str(out / "clip.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    cap.release()
    assert "1 video" in stdout
    assert not list(out.glob(".*tmp*"))  # no temporary files left behind


def test_align_keeps_every_face_in_rows_and_big_faces_sharp():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (900, 1400, 3), dtype=np.uint8)
    small = [make_face(synthetic_points((150 + 200 * k, 200), iod=40)) for k in range(6)]
    out = apply_filters(img, small, ["align"], min_face_score=None)
    assert out.shape == (2 * 256, 4 * 256, 3)  # all six, four to a row
    assert out[256:, 512:].max() == 0 and out[256:, :512].max() > 0  # two blank slots
    big = make_face(synthetic_points((700, 450), iod=200))
    out = apply_filters(img, [big], ["align"], min_face_score=None)
    assert out.shape == (680, 680, 3)  # the face's own resolution: 3.4 eye distances
