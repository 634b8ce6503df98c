"""facepoints.analysis on real faces: aligned chips, head pose, openness, blinks, smile, describe."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from facepoints.analysis import (
    TEMPLATES,
    BlinkDetector,
    chip_matrix,
    chips,
    describe,
    eye_openness,
    face3d,
    find_blinks,
    head_pose,
    mouth_openness,
    openness,
    smile_scores,
)
from facepoints.errors import ConfigError
from facepoints.geometry import apply
from facepoints.inference.landmarker import Face
from facepoints.io import load_image
from facepoints.schemes import get_scheme, project


@pytest.fixture(scope="module")
def cuhk_test(cuhk_root):
    from facepoints.data import read_dataset

    return read_dataset("cuhk5", "test", cuhk_root)


@pytest.fixture(scope="module")
def wflw(wflw_root):
    from facepoints.data import read_dataset

    return read_dataset("wflw", "test", wflw_root)


# --- aligned chips -------------------------------------------------------------------------------


def test_chip_puts_human_points_on_the_template(cuhk_test):
    target = TEMPLATES.get("arcface").target()
    res = []
    for p in cuhk_test.points[:200]:
        res.append(np.linalg.norm(apply(chip_matrix(p, "cuhk5"), p) - target, axis=-1))
    res = np.array(res)
    # a similarity cannot fit 5 points exactly, but a face's points lie near the template's
    assert np.median(res) < 3.0
    assert res.max() < 20.0


def test_chips_are_one_resampling_of_the_original(cuhk_test):
    imgs = [load_image(cuhk_test.images[i]) for i in range(3)]
    out = chips(imgs, cuhk_test.points[:3], "cuhk5")
    assert out.shape == (3, 112, 112, 3) and out.dtype == np.uint8
    m = chip_matrix(cuhk_test.points[1], "cuhk5")
    direct = cv2.warpAffine(imgs[1], m, (112, 112), flags=cv2.INTER_LINEAR)
    assert np.array_equal(out[1], direct)


def test_chips_from_any_scheme_agree(wflw):
    rgb = load_image(wflw.images[0])
    p98 = wflw.points[0]
    a = chip_matrix(p98, "wflw98")
    b = chip_matrix(project(p98, "wflw98", "cuhk5"), "cuhk5")
    assert np.allclose(a, b, atol=1e-4)
    big = chips([rgb], [p98], "wflw98", template="face", size=200, padding=0.2)
    assert big.shape == (1, 200, 200, 3)
    # padding shrinks the face towards the centre
    t0, t1 = TEMPLATES.get("face").target(200), TEMPLATES.get("face").target(200, 0.2)
    assert np.linalg.norm(t1[1] - t1[0]) < np.linalg.norm(t0[1] - t0[0])


def test_chip_options_are_checked():
    with pytest.raises(ConfigError):
        TEMPLATES.get("nope")
    with pytest.raises(ConfigError):
        TEMPLATES.get("arcface").target(4)
    with pytest.raises(ConfigError):
        chip_matrix(np.full((5, 2), np.nan), "cuhk5")


# --- head pose -----------------------------------------------------------------------------------


def _rotation(yaw, pitch, roll):
    y, p, r = np.radians([yaw, pitch, roll])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


@pytest.mark.parametrize("angles", [(0, 0, 0), (35, 0, 0), (0, -20, 0), (0, 0, 25), (-30, 15, -10)])
def test_pose_recovers_a_projected_face(angles):
    model = face3d("ibug68")
    camera = np.array([[640.0, 0, 319.5], [0, 640.0, 239.5], [0, 0, 1]])
    rvec = cv2.Rodrigues(_rotation(*angles))[0]
    pts = cv2.projectPoints(model, rvec, np.array([0.0, 0, 650]), camera, None)[0].reshape(-1, 2)
    pts += np.random.default_rng(0).normal(0, 0.5, pts.shape)
    hp = head_pose(pts, "ibug68", (640, 480))
    assert np.allclose([hp.yaw, hp.pitch, hp.roll], angles, atol=1.5)
    assert all(0 < s < 3 for s in hp.std)
    # the 5 points give the same pose, coarser
    hp5 = head_pose(project(pts, "ibug68", "cuhk5"), "cuhk5", (640, 480))
    assert abs(hp5.yaw - angles[0]) < 6 and abs(hp5.roll - angles[2]) < 4


def test_pose_of_a_mirrored_face_mirrors(wflw):
    s = get_scheme("wflw98")
    done = 0
    for img, p in zip(wflw.images[:20], wflw.points[:20], strict=True):
        w, h = load_image(img).shape[1::-1]
        a = head_pose(p, s, (w, h))
        b = head_pose(s.flip_points(p, w), s, (w, h))
        assert abs(a.yaw + b.yaw) < 1.0 and abs(a.roll + b.roll) < 1.0
        assert abs(a.pitch - b.pitch) < 1.0
        done += 1
    assert done == 20


def test_roll_follows_the_eye_line(cuhk_test):
    p = cuhk_test.points[:300]
    eye = p[:, 1] - p[:, 0]
    line = np.degrees(np.arctan2(eye[:, 1], eye[:, 0]))
    roll = np.array([head_pose(q, "cuhk5").roll for q in p])
    assert np.corrcoef(line, roll)[0, 1] > 0.9


# --- openness and blinks -------------------------------------------------------------------------


def test_openness_of_human_labels(wflw):
    p98 = wflw.points
    p68 = project(p98, "wflw98", "ibug68")
    e98, e68 = eye_openness(p98, "wflw98"), eye_openness(p68, "ibug68")
    assert e98.shape == (len(p98), 2)
    # a typical open eye is about 1 in both schemes, and they measure the same thing
    assert 0.7 < np.median(e98) < 1.3 and 0.7 < np.median(e68) < 1.3
    assert np.corrcoef(e98.ravel(), e68.ravel())[0, 1] > 0.8
    m98, m68 = mouth_openness(p98, "wflw98"), mouth_openness(p68, "ibug68")
    # the same inner-lip points in both (the eyes' centres differ: pupils in 98, outlines in 68)
    assert np.corrcoef(m98, m68)[0, 1] > 0.99


def test_closed_eye_and_mouth_read_zero(wflw):
    s = get_scheme("ibug68")
    p = project(wflw.points[0], "wflw98", "ibug68").copy()
    for name in ("eye_left", "eye_right", "mouth_inner"):
        c = s.contours[name]
        m = (len(c) - 2) // 2
        for i in range(m):  # each upper point onto the lower point it faces
            p[c[1 + i]] = p[c[len(c) - 1 - i]]
    o = openness(p, s)
    assert o.left_eye == pytest.approx(0, abs=1e-6) and o.right_eye == pytest.approx(0, abs=1e-6)
    assert o.mouth == pytest.approx(0, abs=1e-6)
    with pytest.raises(ConfigError):
        openness(project(p, "ibug68", "cuhk5"), "cuhk5")


def test_an_eye_seen_edge_on_reads_at_most_the_cap(wflw):
    """A far eye whose corners nearly meet (a face seen from the side): its lid gap over its
    width would grow without bound; openness stops at MAX_EYE_OPENNESS, the other eye as was."""
    from facepoints.analysis.openness import MAX_EYE_OPENNESS

    s = get_scheme("ibug68")
    every = project(wflw.points, "wflw98", "ibug68")
    typical = np.flatnonzero(np.all(np.abs(eye_openness(every, s) - 1) < 0.2, axis=1))
    p = every[typical[0]].copy()  # a face with both eyes typically open
    before = eye_openness(p, s)
    c = list(s.contours["eye_right"])
    inner, outer = c[0], c[len(c) // 2]
    u = (p[outer] - p[inner]) / np.linalg.norm(p[outer] - p[inner])
    d = p[c] - p[c].mean(0)
    p[c] -= 0.98 * (d @ u)[:, None] * u  # squeezed along its corners' line to 2% of its width
    after = eye_openness(p, s)
    assert before[1] < MAX_EYE_OPENNESS and after[1] == MAX_EYE_OPENNESS
    assert np.linalg.norm(p[inner] - p[outer]) > 0 and after[0] == before[0]


@pytest.fixture(scope="module")
def w300_train(w300_root):
    from facepoints.data import read_dataset

    return read_dataset("300w", "train", w300_root)


def _benchmark(name):
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _same_lids(points68):
    """The points with each eye's lids redrawn as one open shape between its corners: the points
    alone read every eye alike, so any difference comes from the photo."""
    s = get_scheme("ibug68")
    p = np.array(points68, np.float64)
    for name in ("eye_left", "eye_right"):
        c = s.contours[name]
        a, b = p[c[0]], p[c[3]]
        up = np.array([(b - a)[1], -(b - a)[0]])  # one eye width, upwards in the image
        p[c[1]], p[c[2]] = a + (b - a) / 3 + 0.15 * up, a + 2 * (b - a) / 3 + 0.15 * up
        p[c[4]], p[c[5]] = a + 2 * (b - a) / 3 - 0.15 * up, a + (b - a) / 3 - 0.15 * up
    return p


def test_eye_patches_tell_closed_from_open_eyes(w300_train):
    """Real photos of closed and open eyes (by their human labels), the lids' points the same
    for all: the eye CNN reads the closed ones lower."""
    from facepoints.analysis.eyes import eye_openness_from_image

    human = eye_openness(w300_train.points, "ibug68").mean(-1)
    closed, wide = np.flatnonzero(human < 0.3)[:12], np.flatnonzero(human > 1.0)[:12]
    assert len(closed) == len(wide) == 12

    def read(i):
        img = load_image(w300_train.images[i])
        return eye_openness_from_image(img, _same_lids(w300_train.points[i]), "ibug68").mean()

    c, o = np.array([read(i) for i in closed]), np.array([read(i) for i in wide])
    assert (c[:, None] < o[None]).mean() > 0.9  # pairs ordered right (the ROC curve's area)
    assert np.median(c) < 0.7 * np.median(o)


def test_eye_patches_see_eyes_painted_shut(w300_train):
    """The same photo with its eyes painted shut, the same (open) points: openness drops, on
    all but at most one of 12 faces (the eyes' points say open; only the patch says shut)."""
    from facepoints.analysis.eyes import eye_openness_from_image

    bench = _benchmark("analysis_blinks")
    human = eye_openness(w300_train.points, "ibug68").mean(-1)
    ratios = []
    for i in np.flatnonzero((human > 0.9) & (human < 1.2))[:12]:
        rgb, pts = load_image(w300_train.images[i]), w300_train.points[i]
        before = eye_openness_from_image(rgb, pts, "ibug68").mean()
        after = eye_openness_from_image(bench.close_eyes(rgb, pts), pts, "ibug68").mean()
        ratios.append(after / before)
    ratios = np.array(ratios)
    assert (ratios < 0.95).sum() >= 11, ratios.round(2)
    assert np.mean(ratios) < 0.8


def test_eye_cnn_is_light_and_says_what_it_was_fitted_on():
    from safetensors import safe_open

    from facepoints.analysis.eye_net import WEIGHTS

    assert WEIGHTS.stat().st_size < 400_000
    with safe_open(str(WEIGHTS), "pt") as f:
        meta = f.metadata()
    assert "--fit-eyes-cnn" in meta["about"] and "300-W training faces" in meta["about"]
    assert "WFLW sample's tune half" in meta["about"]


def _series(dips, n=200, seed=0):
    rng = np.random.default_rng(seed)
    v = 0.9 + rng.normal(0, 0.005, n)
    for start, length in dips:
        v[start : start + length] = 0.3
    return v


def test_blinks_are_short_closures():
    v = _series([(30, 1), (60, 4), (100, 10), (140, 15)])
    found = [(b.start, b.end, b.frames) for b in find_blinks(v)]
    assert found == [(30, 30, 1), (60, 63, 4), (100, 109, 10)]  # 15 frames: not a blink
    assert all(b.depth < 0.5 for b in find_blinks(v))


def test_blinks_online_and_reset():
    det = BlinkDetector(threshold=0.8)
    v = _series([(40, 3)])
    events = [det.update(x, i) for i, x in enumerate(v)]
    ended = [i for i, e in enumerate(events) if e is not None]
    assert ended == [44]  # reported once the eyes stayed open two frames
    # a face lost in the middle of a closure gives no blink
    v2 = _series([(40, 3)])
    v2[41] = np.nan
    assert find_blinks(v2, threshold=0.8) == []
    with pytest.raises(ConfigError):
        BlinkDetector(threshold=1.5)


# --- smile and describe --------------------------------------------------------------------------


def test_smile_score_separates_labelled_faces(cuhk_root):
    from pathlib import Path

    from facepoints.data import read_dataset

    labels = {}
    for line in (cuhk_root.parent / "lfw_smile" / "cuhk5_lfw_smile.txt").read_text().split("\n"):
        if line.strip():
            path, label = line.split()
            labels[Path(path).name] = int(label)
    test = read_dataset("cuhk5", "test", cuhk_root)
    keep = [i for i, p in enumerate(test.images) if "lfw_5590" in str(p) and Path(p).name in labels]
    y = np.array([labels[Path(test.images[i]).name] for i in keep])
    prob = smile_scores(test.points[keep], "cuhk5")
    assert prob.shape == (len(keep),) and np.all((prob >= 0) & (prob <= 1))
    # the rank statistic (AUROC) of the score for the human labels
    ranks = np.argsort(np.argsort(prob)) + 1
    auc = (ranks[y == 1].sum() - (y == 1).sum() * ((y == 1).sum() + 1) / 2) / (
        (y == 1).sum() * (y == 0).sum()
    )
    assert len(keep) > 300 and auc > 0.9


def test_describe_by_scheme(wflw):
    p98 = wflw.points[3]
    box = wflw.boxes[3]
    full = describe(Face(box=box, score=1.0, landmarks=p98, scheme=get_scheme("wflw98")))
    assert set(full) == {"pose", "openness", "smile"}
    assert set(full["pose"]) == {"yaw", "pitch", "roll", "std", "error"}
    assert 0 <= full["smile"] <= 1 and full["openness"]["left_eye"] > 0
    p5 = project(p98, "wflw98", "cuhk5")
    five = describe(Face(box=box, score=1.0, landmarks=p5, scheme=get_scheme("cuhk5")))
    assert five["openness"] is None and five["pose"] is not None and five["smile"] is not None
    lost = describe(
        Face(box=box, score=1.0, landmarks=np.full((98, 2), np.nan), scheme=get_scheme(98))
    )
    assert lost == {"pose": None, "openness": None, "smile": None}


def test_face_carries_its_analysis():
    from facepoints import FaceLandmarker
    from facepoints.inference.demo import demo_image

    rgb, _ = demo_image()  # a smiling astronaut looking into the camera
    face = FaceLandmarker(model="dense68", threads=1).detect(rgb)[0]
    assert abs(face.pose.yaw) < 15 and abs(face.pose.pitch) < 15 and abs(face.pose.roll) < 15
    assert face.pose is face.pose  # computed once
    assert all(0.6 < e < 1.4 for e in face.eyes_open)
    assert face.smile > 0.5
    assert describe(face)["pose"] == face.pose.to_dict()
    info = describe(face, rgb)  # the photo's camera, and the eyes' patches
    assert abs(info["pose"]["yaw"] - face.pose.yaw) < 5
    assert all(0.5 < info["openness"][k] < 1.5 for k in ("left_eye", "right_eye"))


def test_blinks_in_a_synthetic_video_of_a_real_photo():
    """The whole chain (model, One-Euro smoothing, eye patches, BlinkDetector) on the video that
    benchmarks/analysis_blinks.py makes: a real photo, jittered, with the eyes painted shut for
    blinks of 2, 4 and 8 frames and a 15-frame closure that is not a blink."""
    import importlib.util
    from pathlib import Path

    from facepoints import FaceLandmarker
    from facepoints.analysis.blinks import DEFAULT_THRESHOLD
    from facepoints.inference.demo import demo_image

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "analysis_blinks.py"
    spec = importlib.util.spec_from_file_location("analysis_blinks", script)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rgb, _ = demo_image()
    lm = FaceLandmarker(model="dense68", threads=1, refine=True)
    face = lm.detect(rgb)[0]
    series = bench.video_openness(lm, rgb, face.box, face.landmarks, seed=0)
    found = find_blinks(series[:, 1], threshold=DEFAULT_THRESHOLD)
    truth = bench.CLOSED["blinks"]
    assert len(found) == len(truth)
    for b, (start, n) in zip(found, truth, strict=True):
        assert abs(b.start - start) <= 1 and 1 <= b.frames <= n + 2


def test_smile_score_of_wild_points_is_quiet(w300_root):
    """Points far off a face (a failed fit) give a probability in [0, 1], with no overflow
    warning printed to the user (predict computes the smile of every face)."""
    import warnings

    from facepoints.analysis.smile import smile_scores
    from facepoints.data import read_dataset

    pts = read_dataset("300w", "test", w300_root).points[:3].astype(np.float64)
    pts[0, 48] += 1e4  # one mouth corner thrown far away
    pts[1] *= 50.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = smile_scores(pts, "ibug68")
    assert np.all((p >= 0) & (p <= 1))
