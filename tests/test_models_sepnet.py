"""The depthwise separable family (sepnet) and the lean ONNX graph of heatmap heads: blocks start
as their shortcut, bad layouts are refused, and an exported heatmap model decodes its points with
a handful of nodes and no shape arithmetic, giving PyTorch's points."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facepoints.errors import ConfigError
from facepoints.models import create_model
from facepoints.models.confidence import ConfidenceHead
from facepoints.models.heads import HeatmapHead
from facepoints.models.sepnet import SeparableBlock

torch.set_num_threads(1)

NANO = dict(
    name="sepnet",
    input_size=64,
    in_channels=1,
    stem=[8, 16],
    channels=[32, 32, 64, 64, 96, 96],
    strides=[1, 1, 2, 1, 1, 1],
)


def test_sepnet_shapes_and_its_blocks_start_as_their_shortcut():
    torch.manual_seed(0)
    model = create_model(**NANO).eval()
    x = torch.randn(2, 1, 64, 64)
    features = model.backbone(x)
    assert features.shape == (2, 96, 8, 8)  # stride 8: the heatmap head's 8x8 grid
    assert model(x).shape == (2, 5, 2)
    blocks = [m for m in model.modules() if isinstance(m, SeparableBlock)]
    assert [b.residual for b in blocks] == [False, True, False, True, False, True]
    y = torch.randn(1, 32, 16, 16).relu()
    with torch.no_grad():
        assert torch.equal(blocks[1](y), y)  # zeroed last batch norm: the shortcut alone


@pytest.mark.parametrize(
    "bad",
    [
        {"stem": [8]},
        {"channels": [32, 64], "strides": [1]},
        {"channels": [32], "strides": [3]},
        {"channels": [], "strides": []},
    ],
)
def test_sepnet_refuses_bad_layouts(bad):
    with pytest.raises(ConfigError):
        create_model("sepnet", **bad)


def test_heatmap_decode_matches_the_index_arithmetic():
    """The table-based decode gives what (cell + offset) / size gives, on a non-square map."""
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(3, 5, 6, 7, generator=g)
    offsets = torch.rand(3, 2, 5, 6, 7, generator=g)
    index = scores.flatten(2).argmax(dim=2)
    off = offsets.flatten(3).gather(3, index[:, None, :, None].expand(-1, 2, -1, 1)).squeeze(3)
    cx, cy = (index % 7).float(), (index // 7).float()
    want = torch.stack(((cx + off[:, 0]) / 7, (cy + off[:, 1]) / 6), dim=-1)
    assert torch.allclose(HeatmapHead.decode(scores, offsets), want, atol=1e-6)


def test_heatmap_export_is_lean_and_matches_torch(tmp_path):
    pytest.importorskip("onnxruntime")
    import onnx

    from facepoints.inference.export import export_onnx
    from facepoints.inference.onnx_backend import OnnxRunner
    from facepoints.models.pretrained import LoadedModel

    torch.manual_seed(0)
    model = create_model(**NANO).eval()
    torch.nn.init.normal_(model.head.conv.weight, std=0.1)  # no near-ties in the argmax
    head = ConfidenceHead(96, 5, heatmap=True, hidden=16, kernel=1).eval()
    loaded = LoadedModel(model, "nano", tmp_path / "nano", 0.2, {}, head)
    path = export_onnx(loaded, tmp_path / "nano.onnx")
    nodes = [n for n in onnx.load(str(path)).graph.node if n.op_type != "Constant"]
    ops = {n.op_type for n in nodes}
    assert not ops & {"Shape", "Mod", "Where", "Xor", "Not"}, ops
    decode = [n for n in nodes if n.name.startswith("/head/") and n.op_type != "Conv"]
    assert len(decode) <= 16, [n.op_type for n in decode]  # index arithmetic took 57
    x = np.random.default_rng(0).normal(size=(3, 1, 64, 64)).astype(np.float32)
    points, conf = OnnxRunner(path, threads=1).run_with_confidence(x)
    with torch.no_grad():
        ref_points, ref_conf = (t.numpy() for t in loaded.confident()(torch.from_numpy(x)))
    np.testing.assert_allclose(points, ref_points, atol=1e-4)
    np.testing.assert_allclose(conf, ref_conf, atol=1e-4)
