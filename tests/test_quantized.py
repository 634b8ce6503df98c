"""The shipped int8 files (`inference.quantized`): each was made from the shipped weights, runs
through `FaceLandmarker(precision="int8")`, and puts the points of real faces where the float
model puts them (within a fraction of the eye distance); a file made from other weights is
refused; the option is checked; the CLI and the benchmarks carry it."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from facepoints.cli import main
from facepoints.data import read_dataset
from facepoints.errors import ConfigError
from facepoints.inference import quantized
from facepoints.inference.landmarker import FaceLandmarker
from facepoints.io import load_image
from facepoints.schemes import get_scheme

SHIPPED_INT8 = ("cuhk5-fast", "dense68", "dense98")


def test_every_int8_file_was_made_from_the_shipped_weights():
    assert quantized.int8_models() == sorted(SHIPPED_INT8)
    for name in SHIPPED_INT8:
        assert quantized.int8_file(name).stat().st_size < 5e6


@pytest.mark.parametrize("name,faces", [("cuhk5-fast", 40), ("dense98", 6)])
def test_int8_points_follow_the_float_model_on_real_faces(name, faces, w300_root):
    recs = read_dataset("300w", "test", w300_root)
    f32 = FaceLandmarker(name, precision="float32")
    q8 = FaceLandmarker(name, precision="int8")
    assert q8.runner.path == quantized.int8_file(name) and f32.runner.path != q8.runner.path
    assert (q8.scheme.name, q8.input_size, q8.margin, q8.mirror) == (
        f32.scheme.name,
        f32.input_size,
        f32.margin,
        f32.mirror,
    )
    moved = []
    for i in np.random.default_rng(0).permutation(len(recs))[:faces]:
        rgb, box = load_image(recs.images[i]), recs.boxes[i][None]
        (a, ca), (b, cb) = (
            f32.landmarks_with_confidence(rgb, box),
            q8.landmarks_with_confidence(rgb, box),
        )
        iod = float(get_scheme(f32.scheme.name).norm_distance(a[0]))
        moved.append(np.linalg.norm(a[0] - b[0], axis=1).mean() / iod)
        assert np.isfinite(cb).all() and ((cb >= 0) & (cb <= 1)).all()
        assert abs(float(ca.mean()) - float(cb.mean())) < 0.1  # the confidence head kept float
    # a quantized network moves the points a little, never to another place on the face
    assert np.median(moved) < 0.02 and max(moved) < 0.08, moved


def test_a_file_from_other_weights_is_refused(tmp_path, monkeypatch):
    weights = tmp_path / "weights"
    weights.mkdir()
    shutil.copy(quantized._weights_dir() / "cuhk5-fast.int8.onnx", weights)
    stale = weights / "cuhk5-fast.safetensors"
    stale.write_bytes(b"other weights")
    monkeypatch.setattr(quantized, "_weights_dir", lambda: weights)
    assert quantized.int8_models() == []
    with pytest.raises(ConfigError, match="made from other weights"):
        quantized.int8_file("cuhk5-fast")
    with pytest.raises(ConfigError, match="no int8 file"):
        quantized.int8_file("cuhk5-nano")


def test_precision_option_is_checked(tmp_path):
    with pytest.raises(ConfigError, match="precision must be one of"):
        FaceLandmarker("cuhk5-fast", precision="int4")
    with pytest.raises(ConfigError, match="ONNX Runtime"):
        FaceLandmarker("cuhk5-fast", precision="int8", backend="torch")
    with pytest.raises(ConfigError, match="no int8 file"):
        FaceLandmarker("cuhk5-nano", precision="int8")
    with pytest.raises(ConfigError, match="shipped model's name"):
        FaceLandmarker(str(quantized._weights_dir() / "cuhk5-fast.safetensors"), precision="int8")


def test_predict_cli_with_int8(cuhk_root, tmp_path):
    photo = read_dataset("cuhk5", "test", cuhk_root).images[0]
    found = {}
    for precision in ("float32", "int8"):
        out = tmp_path / precision
        args = ["predict", str(photo), "--precision", precision, "--out", str(out)]
        assert main([*args, "--no-progress"]) == 0
        faces = json.loads((out / "predictions.json").read_text())["faces"]
        assert len(faces) == 1
        found[precision] = np.array(faces[0]["landmarks"])
    eyes = np.linalg.norm(found["float32"][0] - found["float32"][1])
    assert np.abs(found["int8"] - found["float32"]).max() < 0.05 * eyes
    with pytest.raises(SystemExit):
        main(["predict", str(photo), "--precision", "int4", "--out", str(tmp_path / "x")])


def test_server_in_int8_answers_every_model_in_int8_where_it_can(cuhk_root):
    from fastapi.testclient import TestClient

    from facepoints.serve.app import create_app

    photo = read_dataset("cuhk5", "test", cuhk_root).images[0].read_bytes()
    app = create_app(model="cuhk5-fast", precision="int8")
    with TestClient(app, raise_server_exceptions=False) as client:
        for model, scheme, points in (
            ("cuhk5-fast", None, 5),
            ("dense68", None, 68),
            ("dense98", "ibug68", 68),
            ("cuhk5-nano", None, 5),  # no int8 file: float
        ):
            query = f"?model={model}" + (f"&scheme={scheme}" if scheme else "")
            r = client.post(
                f"/api/landmarks{query}", files={"image": ("f.jpg", photo, "image/jpeg")}
            )
            assert r.status_code == 200, r.text
            assert len(r.json()["faces"][0]["landmarks"]) == points
        used = {k: v.precision for k, v in app.state.models.loaded.items()}
    assert app.state.landmarker.precision == "int8"
    assert used["dense68"] == "int8" and used["cuhk5-nano"] == "float32", used
    assert used[("dense98", "ibug68")] == "int8", used
