"""`facepoints eval` end to end on real faces with small saved models."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from facepoints.cli import main
from facepoints.data import read_dataset
from facepoints.evaluation.evaluate import common_scheme, predict_records
from facepoints.evaluation.metrics import summarize
from facepoints.models import create_model, save_model
from facepoints.models.pretrained import resolve_model
from facepoints.schemes import get_scheme


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    torch.manual_seed(0)
    m = create_model("sun2013", num_points=5)
    p = tmp_path_factory.mktemp("m") / "tiny.safetensors"
    save_model(m, p, {"margin": 0.2})
    return p


def test_eval_cli_writes_table_plots_and_pictures(model_path, cuhk_root, tmp_path, capsys):
    out = tmp_path / "eval"
    code = main(
        [
            "eval",
            str(model_path),
            "--data-root",
            str(cuhk_root),
            "--max-faces",
            "40",
            "--grid",
            "4",
            "--worst",
            "4",
            "--out",
            str(out),
            "--thresholds",
            "0.08,0.10",
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "NME" in text and "FR@10%" in text and "FR@8%" in text
    metrics = json.loads((out / "metrics.json").read_text())
    (summary,) = metrics.values()
    assert summary["all"]["n"] == 40 and 0 < summary["all"]["nme"] < 10
    for f in ("ced.png", "table.md", "grid_tiny.jpg", "worst_tiny.jpg", "per_point_tiny.png"):
        assert (out / f).stat().st_size > 0


def test_eval_matches_metrics_and_flip_is_symmetric(model_path, cuhk_root):
    recs = read_dataset("cuhk5", "test", data_root=cuhk_root).subset(slice(0, 24))
    loaded = resolve_model(model_path)
    pred = predict_records(loaded, recs, progress=False)
    assert pred.shape == (24, 5, 2)
    # predictions are in image pixels: near the face box for any sane model output
    s = summarize(pred, recs.points, "cuhk5")
    assert np.isfinite(s["nme"])
    # flip TTA of a model and of its mirror twin give mirrored results: check self-consistency
    pf = predict_records(loaded, recs, flip=True, progress=False)
    assert pf.shape == pred.shape and not np.allclose(pf, pred)


def test_cross_scheme_projection(cuhk_root, tmp_path):
    m = create_model("lenet", num_points=98)
    p = tmp_path / "dense.safetensors"
    save_model(m, p, {"margin": 0.2})
    loaded = resolve_model(p)
    assert common_scheme(get_scheme(98), get_scheme(5)).name == "cuhk5"
    recs = read_dataset("cuhk5", "test", data_root=cuhk_root).subset(slice(0, 8))
    assert predict_records(loaded, recs, progress=False).shape == (8, 98, 2)
    code = main(
        [
            "eval",
            str(p),
            "--data-root",
            str(cuhk_root),
            "--max-faces",
            "8",
            "--grid",
            "0",
            "--worst",
            "0",
            "--out",
            str(tmp_path / "e"),
        ]
    )
    assert code == 0


def test_unknown_model_is_one_clear_error(cuhk_root, capsys):
    code = main(["eval", "no-such-model", "--data-root", str(cuhk_root)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "no-such-model" in err[0]
