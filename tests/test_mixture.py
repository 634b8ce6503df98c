"""Training on several datasets at once, each in its own scheme (facepoints.data.mixture)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from facepoints.data import read_dataset
from facepoints.data.dataset import LandmarkDataset
from facepoints.data.mixture import MixedDataset, epoch_order, lift_index, lift_pairs, parse_mix
from facepoints.errors import ConfigError
from facepoints.schemes import CUHK5, IBUG68, WFLW98, get_scheme, primary_scheme, project
from facepoints.training import train
from facepoints.training.config import TrainConfig


def test_lift_index_is_the_projection_for_every_dense_scheme():
    pts = np.random.default_rng(0).normal(size=(98, 2)).astype(np.float32)
    for src in (IBUG68, CUHK5):
        np.testing.assert_array_equal(pts[lift_index(src, WFLW98)], project(pts, WFLW98, src))
    np.testing.assert_array_equal(lift_index(IBUG68, IBUG68), np.arange(68))
    with pytest.raises(ConfigError, match="averages points"):
        lift_index(CUHK5, IBUG68)  # 68 -> 5 averages the eye contours: not a selection
    with pytest.raises(ConfigError, match="no projection"):
        lift_index(WFLW98, IBUG68)


def test_epoch_order_follows_weights_and_cycles_without_repeats():
    sizes, weights = [50, 1000, 10], [0.5, 0.3, 0.2]
    a = epoch_order(sizes, weights, 400, seed=3, epoch=0)
    assert torch.equal(a, epoch_order(sizes, weights, 400, seed=3, epoch=0))
    assert not torch.equal(a, epoch_order(sizes, weights, 400, seed=3, epoch=1))
    part = np.searchsorted([0, 50, 1050], a.numpy(), side="right") - 1
    np.testing.assert_array_equal(np.bincount(part, minlength=3), [200, 120, 80])
    # the small part is drawn in full cycles: 4 epochs of 200 from 50 faces = 16 full cycles
    drawn = torch.cat([epoch_order(sizes, weights, 400, 3, e) for e in range(4)]).numpy()
    small = np.bincount(drawn[drawn < 50], minlength=50)
    assert (small == 16).all()
    big = drawn[(drawn >= 50) & (drawn < 1050)]
    assert len(np.unique(big)) == len(big)  # 480 of 1000: none twice before a cycle ends


def test_parse_mix_errors():
    assert parse_mix({"cuhk5": {}})[0].dataset == "cuhk5"
    for bad, fault in [
        ({"a": 3}, "must be a dict"),
        ({"a": {"weight": 0}}, "weight must be a positive"),
        ({"a": {"wieght": 1}}, "unknown setting 'wieght'"),
    ]:
        with pytest.raises(ConfigError, match=fault):
            TrainConfig(mix=bad)


def test_masked_loss_counts_only_labelled_points():
    from facepoints.models import create_model
    from facepoints.training.losses import get_loss

    model = create_model("resnet", num_points=98, input_size=64, head="heatmap", width=8)
    x = torch.randn(2, 3, 64, 64)
    out = model.forward_train(x)
    target = torch.rand(2, 98, 2)
    full, _ = model.compute_loss(out, target, get_loss("wing"))
    ones, _ = model.compute_loss(out, target, get_loss("wing"), mask=torch.ones(2, 98))
    assert torch.allclose(full, ones, rtol=1e-5)
    mask = torch.zeros(2, 98, dtype=torch.bool)
    mask[:, :5] = True
    moved = target.clone()
    moved[:, 5:] = 1 - moved[:, 5:]  # unlabelled points: their targets must not matter
    a, _ = model.compute_loss(out, target, get_loss("wing"), mask=mask)
    b, _ = model.compute_loss(out, moved, get_loss("wing"), mask=mask)
    assert torch.allclose(a, b) and not torch.allclose(a, full)


def test_mixed_items_lift_points_and_mask(cuhk_root, w300_root):
    parts = [
        LandmarkDataset(read_dataset("cuhk5", "test", cuhk_root).subset(slice(0, 4)), 64,
                        progress=False, cache=False),
        LandmarkDataset(read_dataset("300w", "test", w300_root).subset(slice(0, 3)), 64,
                        progress=False, cache=False),
    ]  # fmt: skip
    mixed = MixedDataset(parts, WFLW98)
    assert len(mixed) == 7 and mixed.locate(5) == (1, 1)
    item = mixed[5]
    assert item["points"].shape == (98, 2) and int(item["mask"].sum()) == 68
    own = parts[1][1]["points"]
    assert torch.equal(item["points"][lift_index(IBUG68, WFLW98)], own)
    assert int(mixed[0]["mask"].sum()) == 5 and item["part"] == 1
    assert item["norm"] == pytest.approx(float(IBUG68.norm_distance(own.numpy())))


def test_98_point_model_from_68_point_weights_keeps_their_points(cuhk_root):
    """A 98-point model initialised from dense68 predicts dense68's points at the 68 points that
    project onto them (the head's channels are re-indexed, the backbone copied)."""
    from facepoints.models.pretrained import resolve_model
    from facepoints.training.distributed import DistInfo
    from facepoints.training.loop import _build_model

    src = resolve_model("dense68")
    cfg = TrainConfig(
        model="resnet", model_kwargs=src.metadata["train_config"]["model_kwargs"],
        input_size=src.model.input_size, init="dense68", scheme="wflw98", dataset="cuhk5",
        data_root=str(cuhk_root),
    )  # fmt: skip
    x = torch.randn(3, 3, src.model.input_size, src.model.input_size)
    with torch.no_grad():
        theirs = src.model.eval()(x)
    for scheme in (WFLW98, get_scheme("wflw98+ibug68+cuhk5")):
        model = _build_model(cfg, scheme, None, torch.device("cpu"), DistInfo()).eval()
        with torch.no_grad():
            out = model(x)
        assert out.shape[1] == scheme.num_points
        torch.testing.assert_close(out[:, torch.as_tensor(lift_index(IBUG68, scheme))], theirs)
        torch.testing.assert_close(out[:, torch.as_tensor(lift_index(IBUG68, WFLW98))], theirs)


def test_deeper_resnet_from_shallower_weights_starts_as_the_same_function(cuhk_root):
    """init from a ResNet with fewer blocks per stage (same width): the deeper net's first blocks
    hold its weights, the extra ones start as identity, so both give the same points; even
    across schemes (dense68's 68 points into a deeper 98-point model)."""
    from facepoints.models.pretrained import resolve_model
    from facepoints.training.distributed import DistInfo
    from facepoints.training.loop import _build_model

    src = resolve_model("dense68")
    kwargs = dict(src.metadata["train_config"]["model_kwargs"])
    assert list(kwargs["depth"]) == [1, 1, 1, 1]
    kwargs["depth"] = [2, 1, 2, 1]
    size = src.model.input_size
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        theirs = src.model.eval()(x)
    for scheme in (IBUG68, WFLW98):
        cfg = TrainConfig(
            model="resnet", model_kwargs=kwargs, input_size=size, init="dense68",
            scheme=scheme.name, dataset="cuhk5", data_root=str(cuhk_root),
        )  # fmt: skip
        model = _build_model(cfg, scheme, None, torch.device("cpu"), DistInfo()).eval()
        assert sum(1 for _ in model.parameters()) > sum(1 for _ in src.model.parameters())
        with torch.no_grad():
            out = model(x)
        torch.testing.assert_close(out[:, torch.as_tensor(lift_index(IBUG68, scheme))], theirs)
    wider = dict(kwargs, width=kwargs["width"] * 2)
    cfg = TrainConfig(
        model="resnet", model_kwargs=wider, input_size=size, init="dense68", scheme="ibug68",
        dataset="cuhk5", data_root=str(cuhk_root),
    )  # fmt: skip
    with pytest.raises(ConfigError, match="do not fit"):
        _build_model(cfg, IBUG68, None, torch.device("cpu"), DistInfo())


def test_wider_resnet_from_narrower_weights_starts_as_the_same_function(cuhk_root):
    """init from a ResNet of the same depth and a smaller width: each new channel copies an old
    one and its readers split the weight, so the wider net gives the same points, in eval mode
    and with batch statistics (training mode) alike; and its copies are not all equal."""
    from facepoints.models.pretrained import resolve_model
    from facepoints.training.distributed import DistInfo
    from facepoints.training.loop import _build_model

    src = resolve_model("dense68")
    kwargs = dict(src.metadata["train_config"]["model_kwargs"])
    wider = dict(kwargs, width=kwargs["width"] + 8)
    size = src.model.input_size
    cfg = TrainConfig(
        model="resnet", model_kwargs=wider, input_size=size, init="dense68", scheme="ibug68",
        dataset="cuhk5", data_root=str(cuhk_root),
    )  # fmt: skip
    model = _build_model(cfg, IBUG68, None, torch.device("cpu"), DistInfo())
    n_src = sum(p.numel() for p in src.model.parameters())
    assert sum(p.numel() for p in model.parameters()) > 1.3 * n_src
    x = torch.randn(4, 3, size, size)
    narrow = copy.deepcopy(src.model)  # training mode moves batch-norm statistics: not the cache's
    with torch.no_grad():
        for mode in (False, True):
            narrow.train(mode)
            model.train(mode)
            torch.testing.assert_close(
                model.head.maps(model.backbone(x))[0], narrow.head.maps(narrow.backbone(x))[0],
                atol=2e-4, rtol=1e-3,
            )  # fmt: skip
    head = model.state_dict()["head.conv.weight"][:, :, 0, 0]
    assert torch.linalg.matrix_rank(head.T.double()) > 0  # sanity
    assert len({tuple(c.tolist()) for c in head.T.round(decimals=6)}) == head.shape[1]


def test_composite_scheme_blocks_and_what_each_dataset_teaches():
    c = get_scheme("wflw98+ibug68+cuhk5")
    assert c.num_points == 98 + 68 + 5 and primary_scheme(c) is WFLW98
    pts = np.random.default_rng(1).normal(size=(171, 2)).astype(np.float32)
    np.testing.assert_array_equal(project(pts, c, IBUG68), pts[98:166])
    np.testing.assert_array_equal(project(pts, c, CUHK5), pts[166:])
    flipped = c.flip_points(pts, 100.0)  # each block mirrors within itself
    np.testing.assert_allclose(project(flipped, c, IBUG68), IBUG68.flip_points(pts[98:166], 100.0))
    src, dst = lift_pairs(IBUG68, c)  # its own block and the 98 points that project onto it
    assert sorted(dst[dst >= 98]) == list(range(98, 166))
    np.testing.assert_array_equal(dst[dst < 98], lift_index(IBUG68, WFLW98))
    src, dst = lift_pairs(WFLW98, c)  # the first block only: no other markup is taught by WFLW
    np.testing.assert_array_equal(dst, np.arange(98))


@pytest.mark.slow
def test_mixed_run_trains_validates_each_dataset_and_resumes_exactly(
    tmp_path, cuhk_root, w300_root
):
    common = dict(
        mix=_cuhk_and_300w(cuhk_root, w300_root, 3.0), epoch_size=48, max_faces=40, model="resnet", input_size=48, epochs=2,
        batch_size=16, model_kwargs={"width": 8, "head": "heatmap"}, threads=1, workers=0,
        val_fraction=0.2, augment_kind="wild", scheme="wflw98",
    )  # fmt: skip
    whole = train(TrainConfig(**common, out=str(tmp_path / "a")), progress=False)
    assert whole["finished"] and whole["global_step"] == 6
    parts = (tmp_path / "a" / "val_parts.csv").read_text().splitlines()
    assert parts[0] == "epoch,dataset,nme,fr" and len(parts) == 1 + 2 * 2
    half = train(TrainConfig(**common, out=str(tmp_path / "b"), stop_after_steps=4), progress=False)
    assert half["stopped"] == "step limit"
    done = train(TrainConfig(**common, out=str(tmp_path / "b"), resume=True), progress=False)
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=False)["model"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], msg=k)
    assert done["val_nme"] == pytest.approx(whole["val_nme"])


def test_composite_checkpoint_loads_with_its_scheme(tmp_path, cuhk_root, w300_root):
    """A run's .pt checkpoint of a composite-scheme model (171 points: no scheme has that many
    on its own) loads with its scheme, as its .safetensors does, for torch and ONNX alike."""
    from facepoints import FaceLandmarker
    from facepoints.models.pretrained import resolve_model

    cfg = TrainConfig(
        mix=_cuhk_and_300w(cuhk_root, w300_root, 1.0), epoch_size=16, max_faces=16, model="resnet", input_size=32, epochs=1,
        batch_size=8, model_kwargs={"width": 8, "head": "heatmap"}, threads=1, workers=0,
        val_fraction=0.25, scheme="wflw98+ibug68+cuhk5", out=str(tmp_path / "run"),
        stop_after_steps=1,
    )  # fmt: skip
    train(cfg, progress=False)
    loaded = resolve_model(tmp_path / "run" / "last.pt")
    assert loaded.scheme.name == "wflw98+ibug68+cuhk5" and loaded.scheme.num_points == 171
    rgb = np.zeros((64, 64, 3), np.uint8)
    for backend in ("torch", "onnx"):
        lm = FaceLandmarker(tmp_path / "run" / "last.pt", backend=backend, scheme="ibug68")
        assert lm.landmarks(rgb, [[8, 8, 56, 56]]).shape == (1, 68, 2)


def _cuhk_and_300w(cuhk_root, w300_root, w300_weight: float) -> dict:
    """A training mix of CUHK's faces and 300-W's test faces (few, for quick runs)."""
    return {
        "cuhk5": {"data_root": str(cuhk_root), "weight": 1.0},
        "300w": {"data_root": str(w300_root), "split": "test", "weight": w300_weight},
    }
