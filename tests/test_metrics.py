"""Metrics against hand-computed values, the table printer, JSON, drawing and plots."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from facepoints.draw import (
    GREEN,
    RED,
    compare_image,
    draw_box,
    draw_landmarks,
    group_colors,
    make_grid,
    scheme_polylines,
)
from facepoints.errors import ConfigError, DataError, FacepointsError
from facepoints.evaluation import metrics as M
from facepoints.evaluation.plots import (
    plot_ced,
    plot_per_point,
    plot_time_to_nme,
    plot_training_curves,
)
from facepoints.evaluation.report import format_table, metrics_rows, metrics_table, write_json
from facepoints.schemes import get_scheme


def two_faces():
    """CUHK 5-point faces worked out by hand.

    Face 0: eyes at (10, 20) and (20, 20), 10 px apart; only the nose is off, by (3, 4): error 5,
    NME = 5 / 5 points / 10 px = 0.1. Face 1: eyes 20 px apart; every point off by (6, 8), error
    10, NME = 10 / 20 = 0.5.
    """
    gt = np.array(
        [
            [[10, 20], [20, 20], [15, 25], [12, 30], [18, 30]],
            [[50, 50], [70, 50], [60, 60], [54, 70], [66, 70]],
        ],
        dtype=np.float32,
    )
    pred = gt.copy()
    pred[0, 2] += (3, 4)
    pred[1] += (6, 8)
    return pred, gt


# --- metrics --------------------------------------------------------------------------------------


def test_point_errors_and_nme_by_hand():
    pred, gt = two_faces()
    e = M.point_errors(pred, gt)
    assert e.shape == (2, 5)
    np.testing.assert_allclose(e[0], [0, 0, 5, 0, 0])
    np.testing.assert_allclose(e[1], [10] * 5)
    np.testing.assert_allclose(M.normalising_distance(gt, "cuhk5"), [10, 20])
    np.testing.assert_allclose(M.nme_per_face(pred, gt, "cuhk5"), [0.1, 0.5])
    np.testing.assert_allclose(M.nme_per_face(pred, gt, "cuhk5", norm="scheme"), [0.1, 0.5])


def test_box_normalisation():
    pred, gt = two_faces()
    boxes = np.array([[0, 0, 40, 10], [0, 0, 25, 16]], dtype=np.float32)  # sqrt(w h) = 20, 20
    np.testing.assert_allclose(M.normalising_distance(gt, "cuhk5", "box", boxes), [20, 20])
    np.testing.assert_allclose(M.nme_per_face(pred, gt, "cuhk5", "box", boxes), [1 / 20, 10 / 20])
    d = M.normalising_distance(gt, "cuhk5", "box-diagonal", boxes)
    np.testing.assert_allclose(d, [np.sqrt(1700), np.sqrt(881)])


def test_wflw_and_68_normalisations():
    gt = np.zeros((1, 98, 2), dtype=np.float32)
    gt[0, 60], gt[0, 72] = (0, 0), (40, 0)  # outer eye corners
    gt[0, 96], gt[0, 97] = (10, 0), (30, 0)  # pupils
    assert M.normalising_distance(gt, "wflw98")[0] == pytest.approx(40)
    assert M.normalising_distance(gt, 98, "inter-pupil")[0] == pytest.approx(20)
    g68 = np.zeros((1, 68, 2), dtype=np.float32)
    g68[0, 36:42, 0] = [0, 2, 4, 6, 4, 2]  # eye centre x = 3
    g68[0, 42:48, 0] = [30, 32, 34, 36, 34, 32]  # eye centre x = 33
    assert M.normalising_distance(g68, "ibug68")[0] == pytest.approx(36)  # corners 36 and 45
    assert M.normalising_distance(g68, "ibug68", "inter-pupil")[0] == pytest.approx(30)


def test_normalisation_errors():
    pred, gt = two_faces()
    with pytest.raises(ConfigError, match="unknown normalisation"):
        M.normalising_distance(gt, "cuhk5", "ears")
    with pytest.raises(ConfigError, match="needs face boxes"):
        M.nme_per_face(pred, gt, "cuhk5", norm="box")
    with pytest.raises(ConfigError, match="shape"):
        M.normalising_distance(gt, "cuhk5", "box", np.zeros((3, 4)))
    with pytest.raises(ConfigError):
        M.point_errors(pred, gt[:, :4])
    with pytest.raises(ConfigError, match="98 points"):
        M.nme_per_face(pred, gt, "wflw98")
    flat = gt.copy()
    flat[1, 1] = flat[1, 0]  # both eyes at one place
    with pytest.raises(FacepointsError, match="zero or not finite.*1"):
        M.nme_per_face(pred, flat, "cuhk5")


def test_fr_auc_perfect_and_all_failures():
    assert M.auc(np.zeros(7)) == pytest.approx(1.0)
    assert M.failure_rate(np.zeros(7)) == 0.0
    assert M.auc(np.array([0.2, 0.3])) == 0.0
    assert M.failure_rate(np.array([0.2, 0.3])) == 1.0
    assert M.failure_rate(np.array([0.1]), 0.1) == 0.0  # FR counts NME > t, not >=
    assert M.failure_rate(np.array([np.nan, 0.0])) == 0.5  # NaN is a failure


def test_fr_auc_by_hand():
    # CED is 0 below 0.025, 1/2 until 0.075, then 1: area 0.05 * 1/2 + 0.025 * 1 = 0.05 -> 0.5
    assert M.auc(np.array([0.025, 0.075])) == pytest.approx(0.5, abs=1e-3)
    # one face at 0.05, one failure: area 0.05 * 1/2 = 0.025 -> 0.25; FR 1/2
    nme = np.array([0.05, 0.15])
    assert M.auc(nme) == pytest.approx(0.25, abs=1e-3)
    assert M.failure_rate(nme) == 0.5
    assert M.failure_rate(nme, 0.2) == 0.0
    # NMEs spread evenly over [0, 0.1]: the CED is the diagonal, AUC 1/2
    assert M.auc((np.arange(1000) + 0.5) / 1e4) == pytest.approx(0.5, abs=1e-3)
    # threshold 0.2 on the same two faces: area 0.05 * 1/2 + 0.125 * 1 = 0.15 -> 0.15 / 0.2
    assert M.auc(np.array([0.025, 0.075]), 0.2) == pytest.approx(0.75, abs=1e-3)


def test_ced_curve():
    t, f = M.ced_curve(np.array([0.02, 0.04, 0.5, 0.06]), 0.1, steps=100)
    assert t.shape == f.shape == (101,)
    assert t[0] == 0 and t[-1] == pytest.approx(0.1)
    assert f[0] == 0 and f[-1] == 0.75
    assert np.all(np.diff(f) >= 0)
    assert f[np.searchsorted(t, 0.03)] == 0.25
    _, f = M.ced_curve(np.array([]))
    assert np.isnan(f).all()


def test_summarize():
    pred, gt = two_faces()
    s = M.summarize(pred, gt, "cuhk5", thresholds=(0.08, 0.1, 0.075))
    assert s["n"] == 2
    assert s["nme"] == pytest.approx(0.3)
    assert s["nme_median"] == pytest.approx(0.3)
    assert s["fr@0.10"] == 0.5  # 0.1 is not > 0.1
    assert s["fr@0.08"] == 1.0
    assert "auc@0.075" in s and "auc@0.10" in s
    # face 0 at NME 0.1 lies exactly on the threshold: CED is 0, then 1/2 only at 0.1 itself
    assert s["auc@0.10"] == pytest.approx(0.0, abs=1e-3)
    np.testing.assert_allclose(s["per_point"], [0.25, 0.25, 0.5, 0.25, 0.25])
    assert s["point_names"][2] == "nose"
    assert s["per_group"]["nose"] == pytest.approx(0.5)
    assert s["per_group"]["eyes"] == pytest.approx(0.25)
    np.testing.assert_allclose(s["per_face"], [0.1, 0.5])


def test_summarize_subsets():
    pred, gt = two_faces()
    subsets = {"first": np.array([True, False]), "none": np.array([False, False])}
    out = M.summarize_subsets(pred, gt, "cuhk5", subsets)
    assert list(out) == ["all", "first", "none"]
    assert out["all"]["nme"] == pytest.approx(0.3)
    assert out["first"]["n"] == 1
    assert out["first"]["nme"] == pytest.approx(0.1)
    assert out["first"]["fr@0.10"] == 0.0
    assert out["none"]["n"] == 0 and np.isnan(out["none"]["nme"])
    with pytest.raises(ConfigError, match="boolean mask"):
        M.summarize_subsets(pred, gt, "cuhk5", {"bad": np.array([1, 0, 1])})


# --- report ---------------------------------------------------------------------------------------


def test_format_table_plain_and_markdown():
    rows = [{"name": "all", "n": 2500, "nme": 0.0312}, {"name": "pose", "n": 326, "nme": None}]
    cols = [("name", "Subset", None), ("n", "N", "d"), ("nme", "NME", ".2%")]
    plain = format_table(rows, cols)
    assert plain.splitlines() == [
        "Subset     N    NME",
        "------  ----  -----",
        "all     2500  3.12%",
        "pose     326      -",
    ]
    md = format_table(rows, cols, style="markdown").splitlines()
    assert md[0] == "| Subset |    N |   NME |"
    assert md[1] == "|--------|-----:|------:|"
    assert md[2] == "| all    | 2500 | 3.12% |"
    with pytest.raises(ConfigError):
        format_table(rows, cols, style="html")


def test_metrics_rows_and_table():
    pred, gt = two_faces()
    out = M.summarize_subsets(pred, gt, "cuhk5", {"first": np.array([True, False])})
    rows = metrics_rows(out)
    assert [r["subset"] for r in rows] == ["all", "first"]
    assert "per_face" not in rows[0] and rows[0]["fr@0.10"] == 0.5
    text = metrics_table(out)
    assert "FR@10%" in text and "AUC@10%" in text
    assert "30.00%" in text and "10.00%" in text and "50.00%" in text


def test_write_json_numpy_safe(tmp_path):
    pred, gt = two_faces()
    s = M.summarize(pred, gt, "cuhk5")
    s["missing"] = float("nan")
    s["count"] = np.int64(3)
    path = tmp_path / "sub" / "metrics.json"
    write_json(path, s)
    back = json.loads(path.read_text())
    assert back["per_face"] == pytest.approx([0.1, 0.5])
    assert back["missing"] is None and back["count"] == 3
    assert not list(path.parent.glob(".*tmp"))


# --- drawing --------------------------------------------------------------------------------------


def is_color(img, xy, color):
    x, y = xy
    return tuple(int(v) for v in img[y, x]) == color


def test_draw_landmarks_puts_colour_at_points():
    img = np.zeros((100, 120, 3), dtype=np.uint8)
    pts = np.array([[30, 40], [90, 70]], dtype=np.float32)
    out = draw_landmarks(img, pts, radius=3)
    assert out is not img and img.sum() == 0  # input untouched
    assert is_color(out, (30, 40), GREEN) and is_color(out, (90, 70), GREEN)
    assert is_color(out, (60, 10), (0, 0, 0))
    out = draw_landmarks(img, np.array([[np.nan, 5], [10, 10]]))  # NaN point skipped
    assert is_color(out, (10, 10), GREEN)


def test_draw_dense_scheme_with_groups_numbers_and_lines():
    s = get_scheme("wflw98")
    rng = np.random.default_rng(0)
    pts = rng.uniform(20, 180, size=(98, 2)).astype(np.float32)
    img = np.zeros((200, 200, 3), dtype=np.uint8)
    colors = group_colors(s)
    assert colors.shape == (98, 3) and len({tuple(c) for c in colors}) == len(s.groups)
    out = draw_landmarks(img, pts, colors, scheme=s, numbers=True, connect=True)
    assert out.shape == img.shape and out.any()
    lines = dict(scheme_polylines(s))
    assert lines[tuple(range(0, 33))] is False  # contour open
    assert lines[tuple(range(60, 68))] is True  # eye closed
    assert all(96 not in idx for idx in lines)  # pupils are single points
    assert scheme_polylines("cuhk5") == []


def test_compare_image_green_pred_red_gt():
    img = np.full((100, 100, 3), 90, dtype=np.uint8)
    pred = np.array([[30, 40], [50, 50]], dtype=np.float32)
    gt = np.array([[70, 60], [50, 80]], dtype=np.float32)
    out = compare_image(img, pred, gt, box=(10, 10, 90, 90))
    assert is_color(out, (30, 40), GREEN) and is_color(out, (50, 50), GREEN)
    assert is_color(out, (70, 60), RED) and is_color(out, (50, 80), RED)
    assert is_color(out, (10, 50), (255, 255, 255))  # box edge


def test_draw_box():
    out = draw_box(np.zeros((50, 50, 3), np.uint8), (10, 10, 40, 30), (0, 0, 255), 1)
    assert is_color(out, (25, 10), (0, 0, 255)) and is_color(out, (25, 20), (0, 0, 0))


def test_make_grid_shape():
    imgs = [np.full((30, 40, 3), i * 40, np.uint8) for i in range(5)]
    assert make_grid(imgs, cols=3).shape == (60, 120, 3)
    g = make_grid(imgs, cols=3, captions=[f"face {i}" for i in range(5)], cell=50)
    assert g.shape == (2 * (50 + 14), 150, 3)
    mixed = [np.zeros((10, 20, 3), np.uint8), np.zeros((64, 32), np.uint8)]
    assert make_grid(mixed, cell=(32, 24)).shape == (24, 64, 3)
    with pytest.raises(ConfigError):
        make_grid([])


# --- plots ----------------------------------------------------------------------------------------


def assert_png(path):
    assert path.stat().st_size > 0
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 100


def write_log(path, header, rows):
    path.write_text("\n".join([",".join(header)] + [",".join(map(str, r)) for r in rows]) + "\n")


def test_plots_write_pngs(tmp_path):
    rng = np.random.default_rng(1)
    plot_ced(
        {"epoch 10": rng.uniform(0, 0.12, 50), "epoch 60": rng.uniform(0, 0.06, 50)},
        tmp_path / "ced.png",
    )
    assert_png(tmp_path / "ced.png")

    log = tmp_path / "run" / "log.csv"
    log.parent.mkdir()
    rows = [(e, 1.0 / e, "" if e == 2 else 0.1 / e, 1e-3, 60 * e) for e in range(1, 6)]
    write_log(log, ["epoch", "train_loss", "val_nme", "lr", "elapsed_s"], rows)
    plot_training_curves(log, tmp_path / "train.png")
    assert_png(tmp_path / "train.png")

    loss_only = tmp_path / "loss.csv"
    write_log(loss_only, ["epoch", "train_loss"], [(1, 0.5), (2, 0.4)])
    plot_training_curves(loss_only, tmp_path / "loss.png")
    assert_png(tmp_path / "loss.png")
    with pytest.raises(DataError):
        plot_training_curves(tmp_path / "nope.csv", tmp_path / "x.png")

    plot_time_to_nme(log, tmp_path / "time1.png", reference={"dlib": 0.06})
    assert_png(tmp_path / "time1.png")
    other = {"elapsed_s": [30, 90, 150], "val_nme": [0.09, 0.05, 0.04]}
    plot_time_to_nme({"ours": log, "other": other}, tmp_path / "time2.png")
    assert_png(tmp_path / "time2.png")
    with pytest.raises(DataError, match="elapsed_s"):
        plot_time_to_nme(loss_only, tmp_path / "x.png")

    gt = rng.uniform(0, 200, (4, 98, 2)).astype(np.float32)
    s = M.summarize(gt + rng.normal(0, 2, gt.shape), gt, "wflw98")
    plot_per_point(s, "wflw98", tmp_path / "points.png")
    assert_png(tmp_path / "points.png")
    pred, gt5 = two_faces()
    plot_per_point(M.summarize(pred, gt5, "cuhk5"), "cuhk5", tmp_path / "points5.png")
    assert_png(tmp_path / "points5.png")
