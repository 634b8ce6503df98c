"""Cross-dataset evaluation on the WFLW sample: 5-point models through the 98 -> 5 projection with
crops from the points or a detector, the per-attribute table, and a 98-point model's short run."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from facepoints.cli import main
from facepoints.data import read_dataset
from facepoints.evaluation.evaluate import crop_boxes, evaluate
from facepoints.inference.boxes import box_from_points
from facepoints.inference.detectors import BoxMap, FaceDetector
from facepoints.inference.detectors.fit import match_faces
from facepoints.models import create_model, save_model
from facepoints.schemes import project

# the sample's subsets and their sizes (shared/README.md)
SUBSETS = {
    "all": 175,
    "largepose": 31,
    "expression": 42,
    "illumination": 56,
    "makeup": 20,
    "occlusion": 68,
    "blur": 55,
}


@pytest.fixture(scope="module")
def model5(tmp_path_factory):
    torch.manual_seed(0)
    m = create_model("sun2013")
    p = tmp_path_factory.mktemp("m") / "tiny5.safetensors"
    save_model(m, p, {"margin": 0.2})
    return p


def test_points_boxes_give_the_per_attribute_table(model5, wflw_root, tmp_path, capsys):
    out = tmp_path / "eval"
    args = ["eval", str(model5), "--data-root", str(wflw_root), "--boxes", "points"]
    assert main(args + ["--grid", "0", "--worst", "0", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert _table_n(text) == SUBSETS
    assert "compared in cuhk5" in text and "eye centres (wflw98 points 96-97)" in text
    assert "upper bound" in text and "Missed" not in text
    (subs,) = json.loads((out / "metrics.json").read_text()).values()
    assert {k: s["n"] for k, s in subs.items()} == SUBSETS
    assert all(s["boxes"] == "points" and s["missed"] == 0 for s in subs.values())


def test_points_boxes_follow_the_cuhk_convention(wflw_root):
    recs = read_dataset("wflw", "test", data_root=wflw_root)
    crops = crop_boxes(recs, "points")
    five = project(recs.points, recs.scheme, "cuhk5")
    assert np.allclose(crops.boxes, box_from_points(five, "cuhk5"), atol=1e-3)
    b = crops.boxes
    eyes_y = (five[:, :2, 1].mean(axis=1) - b[:, 1]) / (b[:, 3] - b[:, 1])
    mouth_y = (five[:, 3:, 1].mean(axis=1) - b[:, 1]) / (b[:, 3] - b[:, 1])
    # CUHK training faces: eyes at ~26% and mouth at ~77% of the box height
    assert abs(np.median(eyes_y) - 0.26) < 0.04 and abs(np.median(mouth_y) - 0.77) < 0.04
    # the sample's given boxes (the 98 points' extent) are looser, jaw and brows included
    assert np.median(recs.boxes[:, 3] - recs.boxes[:, 1]) > np.median(b[:, 3] - b[:, 1])
    assert crops.found.all() and len(crops.apply(recs)) == len(recs)


def test_detector_boxes_count_misses(model5, wflw_root, tmp_path, capsys):
    out = tmp_path / "eval"
    args = ["eval", str(model5), "--data-root", str(wflw_root), "--boxes", "detector"]
    args += ["--max-faces", "6", "--grid", "0", "--worst", "0", "--out", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "Missed" in text and "detector found" in text and "of 6 faces" in text
    (subs,) = json.loads((out / "metrics.json").read_text()).values()
    assert subs["all"]["n"] + subs["all"]["missed"] == 6
    assert subs["all"]["boxes"].startswith("detector:")


def test_detector_matching_and_misses(model5, wflw_root, tmp_path, monkeypatch):
    """A scripted detector on the first three faces (three photos): the first face's box exactly,
    the second's shifted up by 0.6 of its height (IoU 0.25, centre outside, but its eye centre
    inside: matched by the eye-centre rule), nothing for the third (missed)."""
    recs = read_dataset("wflw", "test", data_root=wflw_root).subset(slice(0, 3))
    assert len({str(p) for p in recs.images}) == 3
    ref = box_from_points(recs.points, recs.scheme)
    shifted = ref[1] - np.array([0, 0.6, 0, 0.6], np.float32) * (ref[1, 3] - ref[1, 1])
    assert match_faces(shifted[None], ref[1:2])[0] == -1  # fit.py's rule alone misses it
    script = [ref[:1], shifted[None], np.zeros((0, 4), np.float32)]

    class Scripted(FaceDetector):
        name = "scripted"

        def _work_scale(self, hw):
            return 1.0

        def _detect_raw(self, rgb):
            boxes = script.pop(0)
            return boxes, np.ones(len(boxes))

    import facepoints.inference.detectors as detectors

    monkeypatch.setattr(detectors, "create_detector", lambda name=None: Scripted(box_map=BoxMap()))
    crops = crop_boxes(recs, "detector")
    assert crops.source == "detector:scripted" and crops.found.tolist() == [True, True, False]
    assert np.allclose(crops.boxes[0], ref[0]) and np.allclose(crops.boxes[1], shifted)
    assert crops.missed == 1 and len(crops.apply(recs)) == 2

    script[:] = [ref[:1], shifted[None], np.zeros((0, 4), np.float32)]
    res = evaluate(
        [str(model5)], data_root=wflw_root, boxes="detector", max_faces=3, out_dir=tmp_path,
        grid=0, worst=0, progress=False,
    )  # fmt: skip
    (subs,) = res["summaries"].values()
    assert subs["all"]["n"] == 2 and subs["all"]["missed"] == 1
    assert "missed 1 (33.3%)" in res["table"]


def test_wflw_model_overfits_and_is_evaluated_with_wflw_norm(wflw_root, tmp_path, capsys):
    run = tmp_path / "run"
    train = ["train", "--data-root", str(wflw_root), "--split", "test", "--model", "lenet"]
    train += ["--epochs", "2", "--max-faces", "40", "--val-fraction", "0.25"]
    train += ["--workers", "0", "--threads", "1", "--out", str(run)]
    assert main(train) == 0
    with open(run / "log.csv", newline="") as f:
        loss = [float(r["train_loss"]) for r in csv.DictReader(f)]
    assert len(loss) == 2 and loss[1] < loss[0]
    capsys.readouterr()
    args = ["eval", str(run / "best.safetensors"), "--data-root", str(wflw_root)]
    assert main(args + ["--grid", "0", "--worst", "0", "--out", str(tmp_path / "eval")]) == 0
    text = capsys.readouterr().out
    assert _table_n(text) == SUBSETS
    assert "compared in wflw98" in text and "(wflw98 points 60-72)" in text


def _table_n(text: str) -> dict[str, int]:
    """Subset -> N of the plain per-model table(s) printed by `facepoints eval`."""
    rows = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in SUBSETS and parts[1].isdigit():
            rows[parts[0]] = int(parts[1])
    return rows
