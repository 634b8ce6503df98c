"""dense98-fast: dense98's three markups from a small student, and the teacher labels it
learned from (recipes/dense_teacher_labels.py)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from facepoints import FaceLandmarker
from facepoints.data import read_dataset
from facepoints.data.wflw import RECT_ATTR_FILE
from facepoints.evaluation.metrics import nme_per_face
from facepoints.io import load_image
from facepoints.models.pretrained import WEIGHTS_DIR, list_pretrained, resolve_model
from facepoints.schemes import CUHK5, IBUG68, WFLW98, project

ROOT = WEIGHTS_DIR.parents[1]
SCRIPT = ROOT / "recipes" / "dense_teacher_labels.py"


def test_student_gives_three_markups_in_one_pass_near_human_labels(w300_root):
    assert "dense98-fast" in list_pretrained()
    loaded = resolve_model("dense98-fast")
    assert loaded.scheme.name == "wflw98+ibug68+cuhk5" and loaded.confidence is not None
    test = read_dataset("300w", "test", data_root=w300_root)
    rgb, box, truth = load_image(test.images[0]), test.boxes[:1], test.points[:1]
    lm = FaceLandmarker("dense98-fast")
    assert not lm.mirror and lm.scheme is WFLW98  # fast: one pass, 98 points by default
    p98 = lm.landmarks(rgb, box)
    p68 = FaceLandmarker("dense98-fast", scheme=68).landmarks(rgb, box)
    p5 = FaceLandmarker("dense98-fast", scheme=5).landmarks(rgb, box)
    assert p98.shape == (1, 98, 2) and p68.shape == (1, 68, 2) and p5.shape == (1, 5, 2)
    assert nme_per_face(p68, truth, IBUG68)[0] < 0.08
    # the 5-point block agrees with the 98-point block's matching points
    assert nme_per_face(p5, project(p98, WFLW98, CUHK5), CUHK5)[0] < 0.10


def _label(out, cuhk_root, n: int) -> None:
    """The script itself, on the first `n` CUHK training faces, with the fast model as teacher."""
    cmd = [sys.executable, str(SCRIPT), "--teacher", "dense98-fast", "--no-refine"]
    cmd += ["--data-root", str(cuhk_root), "--out", str(out), "--max-faces", str(n)]
    subprocess.run(cmd, check=True, cwd=ROOT)


def test_teacher_labels_read_back_as_wflw_in_cuhk_order_and_resume(tmp_path, cuhk_root):
    # a real run on the first CUHK training faces, read back by the `wflw` reader
    _label(tmp_path, cuhk_root, 4)
    labels = read_dataset("wflw", "train", tmp_path)
    cuhk = read_dataset("cuhk5", "train", cuhk_root)
    assert len(labels) == 4
    assert [p.name for p in labels.images] == [p.name for p in cuhk.images[:4]]
    # the teacher's points, as 5, sit near CUHK's human points on the same faces
    err = nme_per_face(project(labels.points, WFLW98, CUHK5), cuhk.points[:4], CUHK5)
    assert float(np.max(err)) < 0.15
    listing = tmp_path / RECT_ATTR_FILE.format("train")
    first = listing.read_text().splitlines()
    # resuming: a stopped run's partial file is kept, a line cut short dropped, and the rest
    # labelled; the finished list holds every face once, in order
    partial = listing.with_name(listing.name + ".partial")
    partial.write_text("\n".join(first[:2]) + "\n" + first[2][:50])
    listing.unlink()
    _label(tmp_path, cuhk_root, 5)
    again = listing.read_text().splitlines()
    assert again[:2] == first[:2] and again[2] == first[2] and len(again) == 5
    assert not partial.exists()
