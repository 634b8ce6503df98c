"""Models: shapes, losses and gradients, heatmap encode/decode, weights files, tracing."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from facepoints.errors import CheckpointError, ConfigError
from facepoints.models import (
    MODELS,
    LandmarkModel,
    create_model,
    list_models,
    load_model,
    read_metadata,
    save_model,
)
from facepoints.models.heads import HeatmapHead

torch.set_num_threads(1)

NAMES = MODELS.names()


def _input(model: LandmarkModel, batch: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    s = model.input_size
    return torch.randn(batch, model.in_channels, s, s, generator=g)


def _first_weight(model: LandmarkModel) -> torch.Tensor:
    return next(p for p in model.backbone.parameters() if p.dim() == 4)


def test_every_family_is_registered():
    rows = list_models()
    assert {"lenet", "sun2013", "resnet", "mobilenet"} <= {row["family"] for row in rows}
    assert {"lenet", "sun2013", "resnet", "mobilenet", "mobilenetv2"} <= set(NAMES)
    for row in rows:
        assert row["params"] > 0 and row["in_channels"] in (1, 3) and row["description"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("k", [5, 98])
def test_shapes_loss_and_gradients(name, k):
    torch.manual_seed(0)
    model = create_model(name, num_points=k)
    assert (model.num_points, model.config["name"], model.config["num_points"]) == (k, name, k)
    x = _input(model)
    model.train()
    out = model.forward_train(x)
    assert out["points"].shape == (2, k, 2)
    target = torch.rand(2, k, 2)
    loss, parts = model.compute_loss(out, target, F.smooth_l1_loss)
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert parts and all(isinstance(v, float) for v in parts.values())
    loss.backward()
    grad = _first_weight(model).grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    model.eval()
    with torch.inference_mode():
        y = model(x)
    assert y.shape == (2, k, 2) and torch.isfinite(y).all()


@pytest.mark.parametrize("name", ["resnet", "mobilenet", "mobilenetv2"])
@pytest.mark.parametrize("head", ["regression", "heatmap"])
def test_head_variants(name, head):
    kw = {"width": 16} if name == "resnet" else {"width_mult": 0.25}
    model = create_model(name, num_points=7, head=head, **kw).eval()
    out = model.forward_train(_input(model, 1))
    assert out["points"].shape == (1, 7, 2)
    if head == "heatmap":
        assert out["scores"].shape == (1, 7, 7, 7)  # 112 px at stride 16
        assert out["offsets"].shape == (1, 2, 7, 7, 7)


def test_regression_starts_near_the_centre():
    model = create_model("resnet10", width=16).eval()
    with torch.inference_mode():
        y = model(_input(model))
    assert (y - 0.5).abs().max() < 0.2


def test_config_rebuilds_the_model():
    model = create_model("resnet10", num_points=68, width=16, head="heatmap")
    config = json.loads(json.dumps(model.config))
    assert config["depth"] == [1, 1, 1, 1] and config["head"] == "heatmap"
    again = create_model(**config)
    assert again.config == model.config
    assert again.state_dict().keys() == model.state_dict().keys()


def test_bad_names_and_arguments():
    with pytest.raises(ConfigError):
        create_model("nosuchnet")
    with pytest.raises(ConfigError):
        create_model("lenet", depth=3)
    with pytest.raises(ConfigError):
        create_model("resnet", head="nosuchhead")
    with pytest.raises(ConfigError):
        create_model("mobilenet", out_stride=12)
    model = create_model("lenet")
    with pytest.raises(ConfigError):
        model(torch.zeros(1, 3, 40, 40))


@pytest.mark.parametrize("h,w", [(7, 7), (4, 6)])
def test_heatmap_encode_decode_round_trip(h, w):
    g = torch.Generator().manual_seed(1)
    points = torch.rand(3, 11, 2, generator=g) * 1.2 - 0.1  # some fall off the map
    points[0, 0] = torch.tensor([0.0, 0.0])
    points[0, 1] = torch.tensor([0.999, 0.999])
    scores, offsets = HeatmapHead.encode(points, h, w)
    assert scores.shape == (3, 11, h, w) and offsets.shape == (3, 2, 11, h, w)
    assert torch.equal(scores.flatten(2).sum(-1), torch.ones(3, 11))
    assert torch.allclose(HeatmapHead.decode(scores, offsets), points, atol=1e-3)


def test_heatmap_loss_is_zero_at_its_target():
    head = HeatmapHead(8, 4)
    target = torch.rand(2, 4, 2)
    scores, offsets = head.encode(target, 5, 5)
    out = {"points": head.decode(scores, offsets), "scores": scores, "offsets": offsets}
    loss, parts = head.loss(out, target, F.l1_loss)
    assert loss.item() < 1e-6 and set(parts) == {"score", "offset"}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated, still used
@pytest.mark.parametrize("name", NAMES)
def test_trace(name):
    model = create_model(name, num_points=5).eval()
    traced = torch.jit.trace(model, _input(model, 1), check_trace=False)
    x = _input(model, 3)  # the batch size is not baked in
    with torch.inference_mode():
        assert torch.allclose(traced(x), model(x), atol=1e-5)


def test_export_heatmap_with_dynamic_batch():
    """What the ONNX exporter sees (torch.export), without needing the onnx package."""
    model = create_model("resnet10", width=8, head="heatmap").eval()
    batch = torch.export.Dim("batch")
    program = torch.export.export(model, (_input(model, 2),), dynamic_shapes=({0: batch},))
    x = _input(model, 3)
    with torch.inference_mode():
        assert torch.allclose(program.module()(x), model(x), atol=1e-5)


@pytest.mark.parametrize("name", ["lenet", "resnet18_heatmap", "mobilenetv2"])
def test_save_load_round_trip(tmp_path, name):
    model = create_model(name, num_points=5).eval()
    if name != "lenet":
        model.train()
        model.forward_train(_input(model))  # move the batch norm statistics off their start
        model.eval()
    path = tmp_path / "m.safetensors"
    save_model(model, path, metadata={"nme": 0.041, "scheme": "cuhk5"})
    loaded = load_model(path)
    assert not loaded.training and loaded.config == model.config
    x = _input(model)
    with torch.inference_mode():
        assert torch.equal(loaded(x), model(x))
    meta = read_metadata(path)
    assert meta["config"] == model.config and meta["nme"] == 0.041 and meta["scheme"] == "cuhk5"
    assert not list(tmp_path.glob(".*.tmp"))


def test_bad_weights_files(tmp_path):
    with pytest.raises(CheckpointError, match="missing.safetensors"):
        load_model(tmp_path / "missing.safetensors")
    bad = tmp_path / "corrupt.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(CheckpointError, match="corrupt.safetensors"):
        load_model(bad)
    model = create_model("lenet")
    good = tmp_path / "good.safetensors"
    save_model(model, good)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(CheckpointError):
        load_model(cut)
    # tensors that do not fit the recorded config
    other = create_model("lenet", num_points=6)
    other.config = dict(model.config)
    wrong = tmp_path / "wrong.safetensors"
    save_model(other, wrong)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_model(wrong)
    with pytest.raises(ConfigError):
        save_model(model, good, metadata={"config": 1})
