"""`facepoints data stats` and `data show` on the real CUHK data (and the WFLW sample)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from facepoints.data import read_dataset
from facepoints.data.records import FaceRecords
from facepoints.data.show import face_tile, select_faces, show_samples, tile_matrix
from facepoints.data.stats import (
    compute_stats,
    dataset_stats,
    format_stats,
    pose_proxies,
    write_stat_plots,
)
from facepoints.errors import DataError
from facepoints.geometry import apply, warp
from facepoints.io import load_image
from facepoints.schemes import CUHK5, WFLW98

WFLW_ATTRS = ("largepose", "expression", "illumination", "makeup", "occlusion", "blur")


@pytest.fixture(scope="module")
def cuhk(cuhk_root) -> dict[str, FaceRecords]:
    return {s: read_dataset("cuhk5", s, data_root=cuhk_root) for s in ("train", "test")}


@pytest.fixture(scope="module")
def cuhk_stats(cuhk) -> dict:
    return compute_stats(cuhk, image_sizes=True, progress=False)


@pytest.fixture(scope="module")
def wflw(wflw_root) -> FaceRecords:
    """The WFLW sample as records, built here from its lists (box: the points' extent; flags:
    the subset lists a face's line appears in), so these tests need no WFLW reader."""
    d = wflw_root / "WFLW_annotations" / "list_98pt_test"
    lines = [s for s in (d / "list_98pt_test.txt").read_text().splitlines() if s.strip()]
    subsets = {
        a: {s.strip() for s in (d / f"list_98pt_test_{a}.txt").read_text().splitlines()}
        for a in WFLW_ATTRS
    }
    pts = np.array([[float(v) for v in s.split()[:196]] for s in lines]).reshape(-1, 98, 2)
    return FaceRecords(
        scheme=WFLW98,
        images=[wflw_root / "WFLW_images" / s.split()[196] for s in lines],
        boxes=np.concatenate([pts.min(axis=1), pts.max(axis=1)], axis=1),
        points=pts,
        attributes={a: [s.strip() in subsets[a] for s in lines] for a in WFLW_ATTRS},
        name="list_98pt_test.txt",
    )


# --- stats -------------------------------------------------------------------------------------


def test_counts_per_split_and_source(cuhk_stats):
    g = cuhk_stats["groups"]
    assert list(g) == ["train", "test", "all"]
    assert (g["train"]["faces"], g["test"]["faces"], g["all"]["faces"]) == (10_000, 3_466, 13_466)
    assert g["train"]["sources"] == {"net": 5_849, "lfw": 4_151}
    assert g["test"]["sources"] == {"net": 2_027, "lfw": 1_439}
    assert g["all"]["images"] == 13_466
    json.dumps(cuhk_stats)  # plain numbers only


def test_image_sizes_and_outliers(cuhk_stats):
    sizes = cuhk_stats["groups"]["all"]["image_sizes"]
    assert sizes["counts"] == {"250x250": 5_590, "400x400": 4_711, "160x216": 3_165}
    assert sizes["distinct"] == 3 and sizes["unreadable"] == 0
    for g in cuhk_stats["groups"].values():
        assert all(o["faces"] == 0 for o in g["outliers"].values()), g["outliers"]


def test_landmark_layout_and_pose_are_sensible(cuhk_stats):
    g = cuhk_stats["groups"]["all"]
    mean = dict(zip(cuhk_stats["landmarks"], g["landmarks"]["mean"], strict=True))
    assert mean["left_eye"][0] < mean["nose"][0] < mean["right_eye"][0]
    assert mean["left_mouth"][0] < mean["right_mouth"][0]
    eyes_y = max(mean["left_eye"][1], mean["right_eye"][1])
    mouth_y = min(mean["left_mouth"][1], mean["right_mouth"][1])
    assert eyes_y < mean["nose"][1] < mouth_y
    assert all(0 < v < 1 for xy in g["landmarks"]["mean"] for v in xy)
    assert 0.3 < g["norm_distance"]["relative_to_box_width"]["median"] < 0.7
    assert abs(g["pose"]["roll_deg"]["median"]) < 5
    assert abs(g["pose"]["yaw_proxy"]["median"]) < 0.1
    assert g["box"]["width"]["min"] > 0 and 0.9 < g["box"]["aspect"]["median"] < 1.1


def test_format_stats_is_an_aligned_report(cuhk_stats):
    text = format_stats(cuhk_stats)
    for s in ("10,000", "3,466", "13,466", "5,849", "left_eye", "250x250", "roll", "Outliers"):
        assert s in text, s
    row = next(line for line in text.splitlines() if line.strip().startswith("lfw"))
    assert row.split() == ["lfw", "4,151", "1,439", "5,590"]


def test_pose_proxies_on_synthetic_faces():
    face = np.array([[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]], dtype=np.float64)
    roll, yaw = pose_proxies(face[None], CUHK5)
    assert roll[0] == pytest.approx(0) and yaw[0] == pytest.approx(0)
    a = np.deg2rad(10)  # rotate the face by +10 degrees on screen (y down: clockwise)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    turned = face.copy()
    turned[2, 0] += 8  # nose towards the image right
    roll, yaw = pose_proxies((turned @ rot.T)[None], CUHK5)
    assert roll[0] == pytest.approx(10, abs=1e-6)
    assert yaw[0] == pytest.approx(8 / 40, abs=1e-6)  # along the eye line, so roll-free
    dense = np.zeros((1, 98, 2))
    dense[0, [96, 97, 54]] = face[:3]
    assert pose_proxies(dense, WFLW98)[0][0] == pytest.approx(0)


def test_without_image_sizes(cuhk):
    small = {k: r.subset(slice(0, 300)) for k, r in cuhk.items()}
    g = compute_stats(small, image_sizes=False, progress=False)["groups"]["all"]
    assert g["faces"] == 600 and g["image_sizes"] is None
    assert g["outliers"]["outside_image"] is None and g["outliers"]["outside_box"]["faces"] == 0


def test_dataset_stats_writes_plots_and_json(cuhk_root, tmp_path):
    stats = dataset_stats(cuhk_root, splits=["test"], out_dir=tmp_path / "st", progress=False)
    assert stats["dataset"] == "cuhk5" and stats["splits"] == ["test"]
    assert list(stats["groups"]) == ["test"] and stats["groups"]["test"]["faces"] == 3_466
    assert "3,466" in format_stats(stats)
    for n in (
        "hist_box_size.png",
        "hist_box_aspect.png",
        "hist_norm_distance.png",
        "hist_roll.png",
        "hist_yaw.png",
        "landmarks_scatter.png",
        "landmarks_spread.png",
    ):
        with Image.open(tmp_path / "st" / n) as im:
            assert im.format == "PNG" and min(im.size) > 200, n
    assert json.loads((tmp_path / "st" / "stats.json").read_text()) == stats
    assert not (tmp_path / "st" / "attributes.png").exists()
    assert not list((tmp_path / "st").glob(".*"))  # no temporary files left


def test_wflw_attributes_and_dense_scheme(wflw, tmp_path):
    stats = compute_stats({"test": wflw}, progress=False)
    g = stats["groups"]["test"]
    assert g["faces"] == 175 and g["images"] == 150
    assert g["attributes"] == dict(zip(WFLW_ATTRS, (31, 42, 56, 20, 68, 55), strict=True))
    assert g["no_attribute"] == 0
    assert len(g["landmarks"]["mean"]) == 98
    text = format_stats(stats)
    assert "Attributes" in text and "occlusion" in text and "mouth (20)" in text
    files = write_stat_plots({"test": wflw}, stats, tmp_path)
    assert tmp_path / "attributes.png" in files
    out = show_samples(wflw, tmp_path / "w.png", count=2, seed=3, cols=2)
    with Image.open(out) as im:
        assert im.size[0] == 2 * 448


# --- show --------------------------------------------------------------------------------------


def test_show_samples_grid_size(cuhk, tmp_path):
    out = show_samples(cuhk["train"], tmp_path / "grid.png", count=6, seed=0, cols=3)
    with Image.open(out) as im:
        strip = max(14, round(256 / 12))  # draw.make_grid's caption strip
        assert im.size == (3 * 256, 2 * (256 + strip))
    a = select_faces(cuhk["train"], count=6, seed=0)
    assert a == select_faces(cuhk["train"], count=6, seed=0) != select_faces(cuhk["train"], 6, 1)
    assert len(set(a)) == 6


def test_show_named_images(cuhk, tmp_path):
    recs = cuhk["test"]
    want = [recs.images[5].name, "lfw_5590\\" + recs.images[0].name, recs.images[9].as_posix()]
    assert select_faces(recs, images=want) == [5, 0, 9]
    out = show_samples(recs, tmp_path / "named.jpg", images=want[:2], crop=False)
    assert out.is_file()
    with pytest.raises(DataError, match=r"nope\.jpg, lfw_5590/missing\.jpg"):
        select_faces(recs, images=[want[0], "nope.jpg", "lfw_5590/missing.jpg"])


def test_face_tile_draws_on_the_landmarks(cuhk):
    recs = cuhk["test"]
    lum_eye, lum_nose = [], []
    for i in range(40):
        img, box, pts = load_image(recs.images[i]), recs.boxes[i], recs.points[i]
        m = tile_matrix(box, pts, img.shape, size=256)
        plain = warp(img, m, 256).astype(np.float64)
        tile = face_tile(img, box, pts, CUHK5, size=256).astype(np.float64)
        xy = np.round(apply(m, pts)).astype(int)
        assert ((0 <= xy) & (xy < 256)).all()
        changed = np.abs(tile[xy[:, 1], xy[:, 0]] - plain[xy[:, 1], xy[:, 0]]).sum(axis=1)
        assert (changed > 30).all(), changed
        lum = plain.mean(axis=2)
        lum_eye.append(lum[xy[:2, 1], xy[:2, 0]].mean())
        lum_nose.append(lum[xy[2, 1], xy[2, 0]])
    # the points land on the face: eye centres are darker than the nose tip on most faces
    assert np.mean(np.array(lum_eye) < np.array(lum_nose)) > 0.75
