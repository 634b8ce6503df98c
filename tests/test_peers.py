"""Peers (dlib's 68-point model, MTCNN's ONet) on real faces, their box and output maps, and the
benchmark. Tests that need a peer skip when it is not installed (`pip install
'facepoints[peers]'`); CI installs them, so there they run for real."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from facepoints.data import read_dataset
from facepoints.errors import ConfigError
from facepoints.evaluation.metrics import nme_per_face
from facepoints.peers import (
    PEERS,
    AdaptedSource,
    BoxAdapter,
    LandmarkSource,
    Linear5Map,
    fit_box_adapter,
    load_images,
    sample_faces,
)
from facepoints.peers.dlib68 import Dlib68
from facepoints.peers.dlib68 import default_model_path as dlib_model_path
from facepoints.peers.mtcnn_onet import MtcnnONet
from facepoints.peers.mtcnn_onet import default_weights_path as onet_weights_path
from facepoints.schemes import IBUG68, project

# boxes near what the fit finds on training faces: CUHK's boxes are tight, both peers like them
# about 15% larger and a little higher
PEER_BOX = BoxAdapter(1.15, 0.0, -0.05)


@pytest.fixture(scope="module")
def dlib68() -> Dlib68:
    pytest.importorskip("dlib")
    # not importorskip("face_recognition_models"): its __init__ needs pkg_resources, which new
    # setuptools lacks, and the file is all we use
    if dlib_model_path() is None:
        pytest.skip("face_recognition_models (dlib's 68-point model file) is not installed")
    return Dlib68()


@pytest.fixture(scope="module")
def onet() -> MtcnnONet:
    if onet_weights_path() is None:
        pytest.skip("facenet-pytorch's onet.pt is not installed")
    return MtcnnONet()


@pytest.fixture(scope="module")
def test_faces(cuhk_root):
    recs = sample_faces(read_dataset("cuhk5", "test", data_root=cuhk_root), 20, seed=1)
    return recs, load_images(recs)


@pytest.fixture(scope="module")
def train_faces(cuhk_root):
    recs = sample_faces(read_dataset("cuhk5", "train", data_root=cuhk_root), 20, seed=2)
    return recs, load_images(recs)


class _Fixed68(LandmarkSource):
    """A fake 68-point peer: the same points, shifted to each box's corner."""

    name, scheme = "fixed68", IBUG68

    def __init__(self, points: np.ndarray):
        self.points = points

    def predict(self, image, boxes):
        return np.stack([self.points + b[:2] for b in np.asarray(boxes)]).astype(np.float32)

    @property
    def size_mb(self) -> float:
        return 0.0


# --- maps, without any peer installed -------------------------------------------------------------


def test_plain_68_to_5_mapping_is_the_mean_of_each_eye_contour():
    rng = np.random.default_rng(0)
    p68 = rng.uniform(0, 100, (3, 68, 2)).astype(np.float32)
    want = np.stack(
        [
            p68[:, 36:42].mean(axis=1),
            p68[:, 42:48].mean(axis=1),
            p68[:, 30],
            p68[:, 48],
            p68[:, 54],
        ],
        axis=1,
    )
    np.testing.assert_allclose(project(p68, "ibug68", "cuhk5"), want, rtol=1e-6)
    src = AdaptedSource(_Fixed68(p68[0]), scheme="cuhk5")
    got = src.predict(np.zeros((10, 10, 3), np.uint8), np.array([[5, 7, 50, 52]]))
    np.testing.assert_allclose(got[0], want[0] + [5, 7], rtol=1e-5)
    assert src.mapping == "plain 68->5"


def test_box_adapter_scales_about_the_centre_and_shifts_by_box_fractions():
    box = np.array([[10, 20, 50, 100]], np.float32)  # 40 x 80, centre (30, 60)
    assert np.array_equal(BoxAdapter()(box), box)
    got = BoxAdapter(scale=1.5, dx=0.25, dy=-0.1)(box)[0]
    # centre (30 + 10, 60 - 8), size 60 x 120
    np.testing.assert_allclose(got, [10, -8, 70, 112])


def test_linear_map_recovers_a_known_linear_map():
    rng = np.random.default_rng(1)
    n = 200
    boxes = np.tile(np.array([[0, 0, 100, 100]], np.float32), (n, 1))
    boxes += rng.uniform(0, 50, (n, 1)).astype(np.float32)
    raw = boxes[:, None, :2] + rng.uniform(10, 90, (n, 68, 2)).astype(np.float32)
    truth = project(raw, "ibug68", "cuhk5") + np.float32(3.0)  # every point 3 px off
    lmap = Linear5Map.fit(raw, boxes, truth, "ibug68", "cuhk5", ridge=0.0)
    np.testing.assert_allclose(lmap(raw, boxes), truth, atol=1e-3)


def test_dlib_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)  # import dlib -> ImportError
    assert not Dlib68.available()
    with pytest.raises(ConfigError, match="pip install dlib-bin"):
        Dlib68()


def test_peers_are_registered_by_name():
    assert {"dlib68", "mtcnn-onet"} <= set(PEERS.names())
    with pytest.raises(ConfigError, match="unknown peer"):
        PEERS.get("nope")


# --- the peers on real faces ----------------------------------------------------------------------


@pytest.mark.peers
def test_onet_points_land_on_real_faces(onet, test_faces):
    recs, images = test_faces
    pred = onet.predict_faces(images, PEER_BOX(recs.boxes))
    nme = nme_per_face(pred, recs.points, "cuhk5")
    assert nme.mean() < 0.15, nme
    # one face at a time gives the same points as the batch
    one = onet.predict(images[0], PEER_BOX(recs.boxes[:1]))
    np.testing.assert_allclose(one[0], pred[0], atol=1e-3)
    assert 1.0 < onet.size_mb < 3.0


@pytest.mark.peers
def test_dlib_points_land_on_real_faces(dlib68, test_faces):
    recs, images = test_faces
    raw = dlib68.predict_faces(images, PEER_BOX(recs.boxes))
    assert raw.shape == (len(recs), 68, 2)
    nme = nme_per_face(project(raw, "ibug68", "cuhk5"), recs.points, "cuhk5")
    assert nme.mean() < 0.15, nme


@pytest.mark.peers
def test_box_fit_is_never_worse_than_identity_on_its_faces(onet, train_faces):
    recs, images = train_faces
    grid = {"scale": (0.9, 1.1, 1.2, 1.3), "dx": (-0.04, 0.0, 0.04), "dy": (-0.1, -0.05, 0.05)}
    adapter, info = fit_box_adapter(onet, recs, grid=grid, images=images)
    assert info["faces"] == len(recs)
    assert info["nme"] <= info["nme_identity"]
    got = nme_per_face(onet.predict_faces(images, adapter(recs.boxes)), recs.points, "cuhk5")
    ident = nme_per_face(onet.predict_faces(images, recs.boxes), recs.points, "cuhk5")
    assert got.mean() == pytest.approx(info["nme"])
    assert got.mean() <= ident.mean()


# --- the benchmark --------------------------------------------------------------------------------


@pytest.mark.peers
def test_bench_prints_one_row_per_source(tmp_path, cuhk_root, dlib68, onet, capsys):
    from facepoints.cli import main
    from facepoints.models import create_model, save_model

    model = tmp_path / "tiny.safetensors"
    save_model(create_model("sun2013"), model, metadata={"margin": 0.2})
    out = tmp_path / "bench"
    code = main(
        ["bench", str(model), "--data-root", str(cuhk_root), "--max-faces", "30"]
        + ["--fit-faces", "20", "--timing-faces", "5", "--out", str(out), "--no-progress"]
    )
    assert code == 0
    table = capsys.readouterr().out
    names = ["tiny", "tiny (onnxruntime)", "dlib68", "dlib68-linear", "mtcnn-onet"]
    for name in names:
        assert f"| {name} " in table
    rows = json.loads((out / "bench.json").read_text())["rows"]
    assert [r["source"] for r in rows] == names
    assert all(r["n"] == 30 and r["ms_per_face"] > 0 and r["size_mb"] > 0 for r in rows)
    # the same weights through ONNX Runtime give the same accuracy
    assert abs(rows[0]["nme"] - rows[1]["nme"]) < 1e-4
    assert rows[2]["nme"] < 0.15 and rows[4]["nme"] < 0.15
    assert (out / "bench.md").read_text().count("\n| ") == 6  # the rule and five rows


def test_bench_says_when_a_peer_is_not_installed(monkeypatch, cuhk_root):
    from facepoints.evaluation.bench import format_bench, run_bench

    monkeypatch.setattr(Dlib68, "available", classmethod(lambda cls: False))
    rows = run_bench([], data_root=cuhk_root, max_faces=3, peers=("dlib68",), progress=False)
    assert rows[0]["status"] == "not installed"
    table = format_bench(rows)
    assert "dlib68" in table and "not installed" in table
