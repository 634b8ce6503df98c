"""WFLW's readers on the real sample (subset lists) and on an official-style rect_attr list built
from it; flips and projections of real faces; per-attribute evaluation; every kind of bad line."""

from __future__ import annotations

import numpy as np
import pytest

from facepoints.data import detect_dataset, read_dataset
from facepoints.data.wflw import (
    ATTRIBUTES,
    RECT_ATTR_FILE,
    TEST_LIST_DIR,
    read_wflw_rect_attr,
    read_wflw_subset_lists,
)
from facepoints.errors import DataError
from facepoints.schemes import IBUG68, WFLW98, project

COUNTS = {
    "largepose": 31,
    "expression": 42,
    "illumination": 56,
    "makeup": 20,
    "occlusion": 68,
    "blur": 55,
}


@pytest.fixture(scope="module")
def sample(wflw_root):
    return read_wflw_subset_lists(wflw_root / TEST_LIST_DIR)


def _sample_lines(wflw_root) -> list[str]:
    text = (wflw_root / TEST_LIST_DIR / "list_98pt_test.txt").read_text()
    return [line for line in text.splitlines() if line.strip()]


def _rect_line(points_line: str, flags) -> str:
    """An official rect_attr line from a list_98pt_test line: box = the points' extent."""
    f = points_line.split()
    nums = np.array([float(v) for v in f[:-1]]).reshape(-1, 2)
    box = [*nums.min(axis=0), *nums.max(axis=0)]
    box_txt = [repr(float(v)) for v in (box[0], box[1], box[2], box[3])]
    return " ".join(f[:-1] + box_txt + [str(int(b)) for b in flags] + [f[-1]])


@pytest.fixture(scope="module")
def built_root(tmp_path_factory, wflw_root, sample):
    """The official layout: WFLW_annotations/list_98pt_rect_attr_train_test/..._test.txt (BOM,
    CRLF) beside a link to the sample's WFLW_images/."""
    root = tmp_path_factory.mktemp("wflw_built")
    (root / "WFLW_images").symlink_to(wflw_root / "WFLW_images", target_is_directory=True)
    rect = root / RECT_ATTR_FILE.format("test")
    rect.parent.mkdir(parents=True)
    flags = np.stack([sample.attributes[a] for a in ATTRIBUTES], axis=1)
    lines = [_rect_line(t, fl) for t, fl in zip(_sample_lines(wflw_root), flags, strict=True)]
    rect.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode())
    return root


# --- the real sample --------------------------------------------------------------------------


def test_subset_lists_on_the_sample(sample):
    r = sample
    assert len(r) == 175 and r.scheme is WFLW98 and r.points.shape == (175, 98, 2)
    assert list(r.attributes) == list(ATTRIBUTES)
    assert {k: int(v.sum()) for k, v in r.attributes.items()} == COUNTS
    assert np.stack(list(r.attributes.values())).any(axis=0).all()  # every face in a subset
    assert len(set(r.images)) == 150 and all(p.is_file() for p in r.images)
    assert all(s and "--" in s and "/" not in s for s in r.sources)  # e.g. "51--Dresses"
    assert r.sources[0] == r.images[0].parent.name
    # the box is the points' extent
    np.testing.assert_array_equal(r.boxes[:, :2], r.points.min(axis=1))
    np.testing.assert_array_equal(r.boxes[:, 2:], r.points.max(axis=1))
    assert not r.skipped


def test_rect_attr_built_from_the_sample_reads_back_identically(built_root, sample):
    r = read_wflw_rect_attr(built_root / RECT_ATTR_FILE.format("test"))  # images root inferred
    assert len(r) == len(sample) and r.name == "list_98pt_rect_attr_test.txt"
    np.testing.assert_array_equal(r.points, sample.points)
    np.testing.assert_allclose(r.boxes, sample.boxes, atol=1e-4)
    assert r.images == [built_root / "WFLW_images" / p.parent.name / p.name for p in sample.images]
    assert r.sources == sample.sources
    for a in ATTRIBUTES:
        np.testing.assert_array_equal(r.attributes[a], sample.attributes[a])


def test_read_dataset_on_the_sample_and_the_built_layout(wflw_root, built_root, sample):
    assert detect_dataset(wflw_root) == "wflw" and detect_dataset(built_root) == "wflw"
    r = read_dataset("wflw", "test", data_root=wflw_root)
    assert len(r) == 175 and r.name == "list_98pt_test.txt"
    np.testing.assert_array_equal(r.points, sample.points)
    r = read_dataset(split="test", data_root=built_root)
    assert len(r) == 175 and r.name == "list_98pt_rect_attr_test.txt"
    with pytest.raises(DataError, match="no train split here"):
        read_dataset("wflw", "train", data_root=wflw_root)
    with pytest.raises(DataError, match="splits train, test"):
        read_dataset("wflw", "val", data_root=wflw_root)


def test_rect_attr_list_is_preferred_when_both_exist(tmp_path, wflw_root, built_root):
    (tmp_path / "WFLW_images").symlink_to(wflw_root / "WFLW_images")
    (tmp_path / "WFLW_annotations").mkdir()
    (tmp_path / TEST_LIST_DIR).symlink_to(wflw_root / TEST_LIST_DIR)
    r = read_dataset("wflw", "test", data_root=tmp_path)
    assert r.name == "list_98pt_test.txt"
    rect = tmp_path / RECT_ATTR_FILE.format("test")
    rect.parent.mkdir()
    rect.symlink_to(built_root / RECT_ATTR_FILE.format("test"))
    assert read_dataset("wflw", "test", data_root=tmp_path).name == rect.name


# --- flips and projections of real faces -------------------------------------------------------


def test_flip_mirrors_the_eyes(sample):
    from facepoints.data.stats import image_size

    i = int(np.flatnonzero(~sample.attributes["largepose"])[0])
    p = sample.points[i]
    w, _ = image_size(sample.images[i])
    f = WFLW98.flip_points(p, w)
    # the image-left eye's outer corner (60) lands on the mirror of the other outer corner (72)
    np.testing.assert_allclose(f[60], [w - 1 - p[72, 0], p[72, 1]], atol=1e-3)
    np.testing.assert_allclose(f[72], [w - 1 - p[60, 0], p[60, 1]], atol=1e-3)
    # after the flip the "left" eye (60-67) is still the one at the image left, on every face
    for pts in (sample.points, WFLW98.flip_points(sample.points, 1024)):
        assert (pts[:, 60:68, 0].mean(axis=1) < pts[:, 68:76, 0].mean(axis=1)).all()
    # flipping twice is the identity
    np.testing.assert_allclose(WFLW98.flip_points(f, w), p, atol=1e-3)


def test_projection_to_5_points_puts_the_eyes_on_the_eye_contours(sample):
    p = sample.points.astype(np.float64)
    p5 = project(p, "wflw98", "cuhk5")
    iod = WFLW98.norm_distance(p)
    large = sample.attributes["largepose"]
    for j, eye in enumerate((slice(60, 68), slice(68, 76))):
        d = np.linalg.norm(p5[:, j] - p[:, eye].mean(axis=1), axis=-1) / iod
        other = np.linalg.norm(p5[:, 1 - j] - p[:, eye].mean(axis=1), axis=-1) / iod
        # pupils sit a few % of the eye distance from the contour centre (gaze, pose)
        assert np.median(d) < 0.05 and np.percentile(d, 90) < 0.08
        assert d[~large].max() < 0.15 and d.max() < 0.3
        assert (other > 0.5).all()  # and nowhere near the other eye
    np.testing.assert_array_equal(p5[:, 2], p[:, 54])  # nose tip
    np.testing.assert_array_equal(p5[:, 3:], p[:, [76, 82]])  # mouth corners


def test_projection_to_68_points_keeps_the_outer_eye_corners(sample):
    p = sample.points
    p68 = project(p, "wflw98", "ibug68")
    assert p68.shape == (len(p), 68, 2)
    np.testing.assert_array_equal(p68[:, 36], p[:, 60])
    np.testing.assert_array_equal(p68[:, 45], p[:, 72])
    np.testing.assert_allclose(IBUG68.norm_distance(p68), WFLW98.norm_distance(p), rtol=1e-6)
    # projecting commutes with flipping
    np.testing.assert_array_equal(
        project(WFLW98.flip_points(p, 1024), "wflw98", "ibug68"), IBUG68.flip_points(p68, 1024)
    )


# --- evaluation per attribute and statistics ---------------------------------------------------


def test_summarize_subsets_on_known_noise(sample):
    from facepoints.evaluation.metrics import summarize_subsets

    gt = sample.points.astype(np.float64)
    n = len(gt)
    err = 0.02 + 0.15 * (np.arange(n) + 0.5) / n  # each face's NME, known
    angle = np.random.default_rng(0).uniform(0, 2 * np.pi, size=(n, 98))
    step = (err * WFLW98.norm_distance(gt))[:, None, None]
    pred = gt + step * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    out = summarize_subsets(pred, gt, "wflw98", sample.attributes)
    assert list(out) == ["all", *ATTRIBUTES]
    assert out["all"]["n"] == n
    for name, mask in [("all", np.ones(n, bool)), *sample.attributes.items()]:
        s = out[name]
        assert s["n"] == (n if name == "all" else COUNTS[name])
        assert s["nme"] == pytest.approx(err[mask].mean(), rel=1e-6)
        assert s["fr@0.10"] == pytest.approx((err[mask] > 0.1).mean())


def test_stats_on_wflw_records(sample):
    from facepoints.data.stats import compute_stats, format_stats

    stats = compute_stats({"test": sample}, image_sizes=True, progress=False)
    g = stats["groups"]["test"]
    assert stats["scheme"] == "wflw98" and g["faces"] == 175 and g["images"] == 150
    assert g["attributes"] == COUNTS and g["no_attribute"] == 0
    assert g["outliers"]["outside_box"]["faces"] == 0  # boxes are the points' extent
    text = format_stats(stats)
    assert "largepose" in text and "wflw98" in text


# --- bad lines ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_faces(wflw_root) -> tuple[str, str]:
    """Two sample lines of faces on the same photo (a repeated image is not an error)."""
    lines = _sample_lines(wflw_root)
    paths = [line.split()[-1] for line in lines]
    first = next(i for i, p in enumerate(paths) if paths.count(p) > 1)
    second = next(i for i, p in enumerate(paths) if p == paths[first] and i != first)
    return lines[first], lines[second]


def _change(line: str, index: int, value: str) -> str:
    f = line.split()
    f[index] = value
    return " ".join(f)


def _rect_cases(good: str) -> dict[str, tuple[str, str]]:
    path = good.split()[-1]
    return {
        "field count": (good.replace(path, "1 " + path), "expected 207 fields"),
        "short line": (" ".join(good.split()[:100]), "expected 207 fields"),
        "not a number": (_change(good, 6, "abc"), "field 7 is not a number"),
        "nan": (_change(good, 7, "nan"), "field 8 is not finite"),
        "inf": (_change(good, 197, "-inf"), "field 198 is not finite"),
        "inverted box": (_change(good, 198, "0"), "inverted box"),  # x_max 0 < x_min
        "empty box": (_change(good, 199, good.split()[197]), "inverted box"),  # y_max = y_min
        "flag 2": (_change(good, 200, "2"), "field 201 (largepose flag) must be 0 or 1"),
        "flag 0.5": (_change(good, 205, "0.5"), "field 206 (blur flag) must be 0 or 1"),
        "flag word": (_change(good, 203, "yes"), "field 204 is not a number"),
        "missing image": (good.replace(path, path.replace(".jpg", "_x.jpg")), "image not found"),
        "path escapes root": (good.replace(path, "../" + path), "leaves the data root"),
        "absolute path": (good.replace(path, "/etc/" + path), "leaves the data root"),
        "duplicate line": (good, "duplicate face (first on line 1)"),
    }


RECT_CASES = sorted(_rect_cases(" ".join(["1"] * 207)))


@pytest.mark.parametrize("case", RECT_CASES)
def test_bad_rect_attr_line_names_file_line_and_fault(tmp_path, wflw_root, two_faces, case):
    good = _rect_line(two_faces[0], [1, 0, 0, 0, 0, 1])
    other = _rect_line(two_faces[1], [0, 1, 0, 0, 0, 0])  # same photo, another face: fine
    bad, message = _rect_cases(good)[case]
    p = tmp_path / "list.txt"
    p.write_text(good + "\n" + other + "\n" + bad + "\n")
    images = wflw_root / "WFLW_images"
    with pytest.raises(DataError) as e:
        read_wflw_rect_attr(p, images)
    assert e.value.line == 3 and e.value.path == str(p)
    assert message in str(e.value) and f"{p}:3:" in str(e.value)
    r = read_wflw_rect_attr(p, images, skip_bad=True)
    assert len(r) == 2 and r.images[0] == r.images[1]
    assert r.attributes["largepose"].tolist() == [True, False]
    assert [(b.line, message in b.message) for b in r.skipped] == [(3, True)]


def _subset_dir(tmp_path, main: list[str], subsets: dict[str, list[str]] | None = None):
    d = tmp_path / "lists"
    d.mkdir(parents=True)
    (d / "list_98pt_test.txt").write_text("".join(line + "\n" for line in main))
    for a in ATTRIBUTES:
        lines = (subsets or {}).get(a, main[:1])
        (d / f"list_98pt_test_{a}.txt").write_text("".join(line + "\r\n" for line in lines))
    return d


def test_bad_subset_list_lines(tmp_path, wflw_root, two_faces):
    good, other = two_faces
    path = good.split()[-1]
    images = wflw_root / "WFLW_images"
    cases = {
        "field count": (good + " 1", "expected 197 fields"),
        "not a number": (_change(good, 0, "x1"), "field 1 is not a number"),
        "nan": (_change(good, 195, "NaN"), "field 196 is not finite"),
        "no extent": (" ".join(["5"] * 196 + [path]), "empty box"),
        "missing image": (good.replace(path, "0--Parade/none.jpg"), "image not found"),
        "path escapes root": (good.replace(path, "..\\" + path), "leaves the data root"),
        "duplicate line": (good, "duplicate face (first on line 1)"),
    }
    for k, (case, (bad, message)) in enumerate(sorted(cases.items())):
        d = _subset_dir(tmp_path / str(k), [good, other, bad])
        with pytest.raises(DataError) as e:
            read_wflw_subset_lists(d, images)
        main = d / "list_98pt_test.txt"
        assert e.value.line == 3 and e.value.path == str(main), case
        assert message in str(e.value) and f"{main}:3:" in str(e.value), case
        r = read_wflw_subset_lists(d, images, skip_bad=True)
        assert len(r) == 2 and [b.line for b in r.skipped] == [3], case
        assert r.attributes["blur"].tolist() == [True, False], case


def test_bad_attribute_lists(tmp_path, wflw_root, two_faces):
    good, other = two_faces
    images = wflw_root / "WFLW_images"
    stranger = _change(good, 0, "1.5")  # a face not in the full list
    d = _subset_dir(tmp_path / "a", [good, other], {"makeup": [other, stranger]})
    with pytest.raises(DataError, match="face not in list_98pt_test.txt") as e:
        read_wflw_subset_lists(d, images)
    assert e.value.path == str(d / "list_98pt_test_makeup.txt") and e.value.line == 2
    r = read_wflw_subset_lists(d, images, skip_bad=True)
    assert r.attributes["makeup"].tolist() == [False, True] and len(r.skipped) == 1
    # a face dropped from the full list (with skip_bad) is not reported again by its subsets
    d = _subset_dir(tmp_path / "b", [good, other.replace(".jpg", "_x.jpg")])
    r = read_wflw_subset_lists(d, images, skip_bad=True)
    assert len(r) == 1 and len(r.skipped) == 1
    # a missing attribute list
    d = _subset_dir(tmp_path / "c", [good])
    (d / "list_98pt_test_blur.txt").unlink()
    with pytest.raises(DataError, match="attribute list not found"):
        read_wflw_subset_lists(d, images)


def test_encoding_empty_and_missing_files(tmp_path, wflw_root, two_faces):
    images = wflw_root / "WFLW_images"
    p = tmp_path / "rect.txt"
    p.write_bytes(b"\xff\xfe" + _rect_line(two_faces[0], [0] * 6).encode() + b"\n")
    with pytest.raises(DataError, match="not UTF-8"):
        read_wflw_rect_attr(p, images)
    p.write_text("\r\n\n")
    with pytest.raises(DataError, match="no faces"):
        read_wflw_rect_attr(p, images)
    with pytest.raises(DataError, match="cannot read"):
        read_wflw_rect_attr(tmp_path / "nope.txt", images)
    with pytest.raises(DataError, match="cannot read"):
        read_wflw_subset_lists(tmp_path, images)
