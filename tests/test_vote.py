"""Reading heatmaps by neighbourhood vote (HeatmapHead's `vote`, `set_vote`): two cells that
score alike share a point, cells off the map count for nothing, the setting lives in the model's
config through saving, loading and the ONNX export, and it is refused where it cannot apply."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from test_models_sepnet import NANO  # a small heatmap model

from facepoints.errors import ConfigError
from facepoints.models import create_model, load_model, save_model
from facepoints.models.heads import HeatmapHead, make_head, set_vote

torch.set_num_threads(1)


def _maps(h: int, w: int, cells: dict[tuple[int, int], tuple[float, float, float]]):
    """One point's maps: low scores everywhere but `cells` ((y, x) -> score, x offset, y offset)."""
    scores = torch.full((1, 1, h, w), -5.0)
    offsets = torch.zeros(1, 2, 1, h, w)
    for (y, x), (s, ox, oy) in cells.items():
        scores[0, 0, y, x] = s
        offsets[0, :, 0, y, x] = torch.tensor([ox, oy])
    return scores, offsets


def test_two_cells_that_score_alike_share_the_point():
    h, w = 6, 8
    # cell (2, 3) votes for x = 3.9 cells, its right neighbour (2, 4) for x = 4.3: both y = 2.5
    scores, offsets = _maps(h, w, {(2, 3): (1.0, 0.9, 0.5), (2, 4): (1.0, 0.3, 0.5)})
    got = HeatmapHead.decode(scores, offsets, vote=15.0)[0, 0]
    # the 7 other neighbours score -5: e^(15 * -6) of the weight each, nothing at this precision
    assert got[0] == pytest.approx(4.1 / w, abs=1e-6)
    assert got[1] == pytest.approx(2.5 / h, abs=1e-6)
    best = HeatmapHead.decode(scores, offsets)[0, 0]  # the best cell alone: the first of the tie
    assert best[0] == pytest.approx(3.9 / w, abs=1e-6)
    # a lead of 0.1 in score gives the leader sigmoid(15 * 0.1) of the weight
    scores[0, 0, 2, 3] = 1.1
    share = 1 / (1 + math.exp(-1.5))
    want = (share * 3.9 + (1 - share) * 4.3) / w
    assert HeatmapHead.decode(scores, offsets, vote=15.0)[0, 0, 0] == pytest.approx(want, abs=1e-6)


def test_cells_off_the_map_count_for_nothing():
    """At a corner, the clamped stand-ins of the 5 neighbours off the map must not vote (they
    would repeat the corner cell's own vote and pull the point towards it)."""
    h, w = 5, 5
    scores, offsets = _maps(h, w, {(0, 0): (1.0, 0.8, 0.8), (0, 1): (1.0, 0.2, 0.8)})
    got = HeatmapHead.decode(scores, offsets, vote=15.0)[0, 0]
    assert got[0] == pytest.approx(1.0 / w, abs=1e-6)  # the mean of 0.8 and 1.2 cells
    assert got[1] == pytest.approx(0.8 / h, abs=1e-6)


def test_vote_off_is_the_best_cell_and_a_steep_vote_comes_close():
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(3, 7, 6, 9, generator=g)
    offsets = torch.rand(3, 2, 7, 6, 9, generator=g)
    best = HeatmapHead.decode(scores, offsets)
    assert torch.equal(HeatmapHead.decode(scores, offsets, vote=None), best)
    steep = HeatmapHead.decode(scores, offsets, vote=1e4)
    assert torch.allclose(steep, best, atol=1e-5)
    soft = HeatmapHead.decode(scores, offsets, vote=0.5)  # flat weights: a different point
    assert (soft - best).abs().max() > 1e-3


def test_vote_lives_in_the_config_through_save_load_and_onnx(tmp_path):
    pytest.importorskip("onnxruntime")
    from facepoints.inference.export import export_onnx
    from facepoints.inference.onnx_backend import OnnxRunner
    from facepoints.models.pretrained import LoadedModel

    torch.manual_seed(0)
    model = create_model(**NANO).eval()
    torch.nn.init.normal_(model.head.conv.weight, std=0.1)
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(3, 1, 64, 64)).astype(np.float32))
    with torch.no_grad():
        plain = model(x)  # (B, K, 2) in eval mode
        set_vote(model, 15)
        voted = model(x)
    assert model.config["vote"] == 15.0 and (voted - plain).abs().max() > 1e-4
    save_model(model, tmp_path / "nano.safetensors")
    again = load_model(tmp_path / "nano.safetensors").eval()
    assert again.head.vote == 15.0 and again.config["vote"] == 15.0
    path = export_onnx(LoadedModel(again, "nano", tmp_path / "nano", 0.2, {}), tmp_path / "n.onnx")
    points = OnnxRunner(path, threads=1)(x.numpy())
    np.testing.assert_allclose(points, voted.numpy(), atol=1e-4)
    set_vote(again, None)  # and back: the config forgets it
    assert again.head.vote is None and "vote" not in again.config


def test_vote_is_refused_where_it_cannot_apply():
    with pytest.raises(ConfigError, match="heatmap"):
        make_head("regression", 16, 5, vote=15)
    with pytest.raises(ConfigError, match="heatmap"):
        set_vote(create_model("lenet"), 15)
    with pytest.raises(ConfigError, match="positive"):
        set_vote(create_model(**NANO), 0)
    with pytest.raises(ConfigError, match="positive"):
        HeatmapHead(8, 5, vote=-1.0)


def test_shipped_dense_models_read_by_vote_in_both_backends(w300_root):
    """dense98 and dense98-fast ship read by vote 15 (their cards' `--vote 15`): ONNX Runtime
    gives torch's voted points on a real face, and the vote moves them from the best cell."""
    pytest.importorskip("onnxruntime")
    from facepoints import FaceLandmarker
    from facepoints.data import read_dataset
    from facepoints.io import load_image
    from facepoints.models.pretrained import WEIGHTS_DIR, resolve_model

    test = read_dataset("300w", "test", data_root=w300_root)
    rgb, box = load_image(test.images[0]), test.boxes[:1]
    for name in ("dense98", "dense98-fast"):
        assert "--vote 15" in (WEIGHTS_DIR / f"{name}.md").read_text()
        assert resolve_model(name).model.head.vote == 15.0
        kw = dict(scheme=68, mirror=False, refine=False)
        onnx = FaceLandmarker(name, backend="onnx", **kw).landmarks(rgb, box)
        lm = FaceLandmarker(name, backend="torch", **kw)
        voted = lm.landmarks(rgb, box)
        np.testing.assert_allclose(onnx, voted, atol=0.05)  # pixels
        set_vote(lm.loaded.model, None)
        best_cell = lm.landmarks(rgb, box)
        assert np.abs(best_cell - voted).max() > 0.1
