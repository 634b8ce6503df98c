"""ONNX and TorchScript export: outputs agree with PyTorch, the batch is dynamic, metadata
round-trips, the ONNX runner caches its export, and the CLI reports the difference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facepoints.errors import ConfigError
from facepoints.inference.export import (
    export_onnx,
    export_torchscript,
    load_torchscript,
    read_onnx_metadata,
)
from facepoints.inference.onnx_backend import OnnxRunner, cached_onnx_path
from facepoints.models import create_model, save_model
from facepoints.models.pretrained import resolve_model

# Max |ONNX Runtime - PyTorch| in normalised crop units (1e-4 = 0.0064 px at 64 px); measured
# differences are ~1e-7 (float32 rounding in a different order of operations).
TOL = 1e-4

SPECS = {
    "regression": dict(name="resnet", input_size=64, width=16, depth=[1, 1, 1, 1]),
    "heatmap": dict(name="resnet10", head="heatmap", input_size=64, width=16),
}


def _model(kind: str):
    torch.manual_seed(0)
    m = create_model(**SPECS[kind]).eval()
    if kind == "heatmap":
        # the head starts with tiny weights (near-equal scores); spread them so that the argmax
        # is decided by more than float rounding and the comparison tests the graph, not ties
        torch.nn.init.normal_(m.head.conv.weight, std=0.1)
    return m


def _crops(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 3, 64, 64)).astype(np.float32)


def _torch(m, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return m(torch.from_numpy(x)).numpy()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "tiny.safetensors"
    save_model(_model("regression"), path, {"margin": 0.25, "scheme": "cuhk5"})
    return path


@pytest.mark.parametrize("kind", ["regression", "heatmap"])
def test_onnx_matches_torch_with_dynamic_batch(kind, tmp_path):
    m = _model(kind)
    path = export_onnx(m, tmp_path / f"{kind}.onnx")
    run = OnnxRunner(path, threads=1)
    for n in (1, 5):
        x = _crops(n, seed=n)
        got = run(x)
        assert got.shape == (n, 5, 2) and got.dtype == np.float32
        assert np.abs(got - _torch(m, x)).max() < TOL
    assert run(np.zeros((0, 3, 64, 64), np.float32)).shape == (0, 5, 2)


def test_static_batch_runs_one_at_a_time(tmp_path):
    m = _model("regression")
    run = OnnxRunner(export_onnx(m, tmp_path / "s.onnx", dynamic_batch=False), threads=1)
    x = _crops(3)
    assert np.abs(run(x) - _torch(m, x)).max() < TOL


def test_metadata_round_trips(saved, tmp_path):
    lm = resolve_model(saved)
    path = export_onnx(lm, tmp_path / "m.onnx", opset=17)
    meta = read_onnx_metadata(path)
    assert meta["input_size"] == 64 and meta["in_channels"] == 3 and meta["num_points"] == 5
    assert meta["margin"] == 0.25 and meta["scheme"] == "cuhk5" and meta["opset"] == 17
    assert meta["name"] == "tiny"
    assert create_model(**meta["model_config"]).config == lm.model.config
    run = OnnxRunner(path)
    assert (run.input_size, run.in_channels, run.num_points, run.margin) == (64, 3, 5, 0.25)
    assert run.metadata == meta


def test_runner_exports_once_into_the_cache(saved):
    lm = resolve_model(saved)
    target = cached_onnx_path(lm)
    assert not target.exists()
    run = OnnxRunner(lm, threads=1)
    assert run.path == target and target.is_file()
    stamp = target.stat().st_mtime_ns
    x = _crops(2)
    assert np.abs(OnnxRunner(lm)(x) - _torch(lm.model, x)).max() < TOL
    assert target.stat().st_mtime_ns == stamp  # the second runner reused the file
    with pytest.raises(ConfigError):
        run(np.zeros((1, 3, 32, 32), np.float32))


def test_torchscript_loads_and_agrees(saved, tmp_path):
    lm = resolve_model(saved)
    path = export_torchscript(lm, tmp_path / "m.torchscript")
    module, meta = load_torchscript(path)
    assert meta["margin"] == 0.25 and meta["num_points"] == 5
    for n in (1, 5):
        x = _crops(n)
        with torch.no_grad():
            got = module(torch.from_numpy(x)).numpy()
        assert np.abs(got - _torch(lm.model, x)).max() < 1e-6


def test_cli_export_prints_the_difference(saved, tmp_path, capsys):
    from facepoints.cli import main

    out = tmp_path / "cli.onnx"
    assert main(["export", str(saved), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert out.is_file() and f"wrote {out}" in text
    diff = float(text.split("PyTorch| on a check batch: ")[1].split()[0])
    assert diff < TOL
    assert main(["export", str(tmp_path / "missing.safetensors")]) != 0
