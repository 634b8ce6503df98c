"""The fast path of FaceLandmarker on real CUHK photos: ONNX Runtime by default, crops and points
the same as the training crop function and the PyTorch path give, every face of a call in one
batch, refine="auto" by box source, and `bench --speed` on a few faces."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from facepoints.data import read_dataset
from facepoints.data.dataset import crop_to_image, make_crop, to_tensor
from facepoints.errors import ConfigError
from facepoints.geometry import crop_matrices, crop_matrix, invert, invert_many, warp_many
from facepoints.inference import landmarker as lmmod
from facepoints.inference.landmarker import REFINE_AUTO, FaceLandmarker
from facepoints.io import load_image
from facepoints.models.pretrained import resolve_model

MODEL = "cuhk5-fast"


@pytest.fixture(scope="module")
def faces(cuhk_root):
    recs = read_dataset("cuhk5", "test", data_root=cuhk_root)
    idx = np.arange(12)
    return recs.subset(idx), [load_image(recs.images[i]) for i in idx]


@pytest.fixture(scope="module")
def onnx_lm():
    return FaceLandmarker(MODEL, threads=1)


def test_default_backend_is_onnx_runtime_for_names_and_torch_for_models_in_memory():
    assert FaceLandmarker(MODEL).backend == "onnx"
    assert FaceLandmarker(resolve_model(MODEL)).backend == "torch"
    assert FaceLandmarker(MODEL, backend="torch").backend == "torch"
    with pytest.raises(ConfigError):
        FaceLandmarker(MODEL, backend="tensorrt")
    with pytest.raises(ConfigError):
        FaceLandmarker(MODEL, refine="sometimes")


def test_batched_crops_and_maps_match_the_training_crop_function(faces):
    recs, images = faces
    mats = crop_matrices(recs.boxes, 64, 0.2)
    crops = np.empty((len(recs), 64, 64, 3), np.uint8)
    warp_many(images, np.arange(len(recs)), mats, crops)
    for i in range(len(recs)):
        ref, m = make_crop(images[i], recs.boxes[i], 64, 0.2)
        np.testing.assert_array_equal(crops[i], ref)
        np.testing.assert_allclose(mats[i], crop_matrix(recs.boxes[i], 64, margin=0.2))
        np.testing.assert_allclose(invert_many(mats)[i], invert(m), atol=1e-12)
    x = np.empty((len(recs), 3, 64, 64), np.float32)
    lmmod._normalise(crops, x)
    np.testing.assert_allclose(x, to_tensor(crops).numpy(), atol=1e-6)
    grey = np.empty((len(recs), 1, 64, 64), np.float32)
    lmmod._normalise(crops, grey)
    np.testing.assert_allclose(grey, to_tensor(crops, 1).numpy(), atol=1e-5)
    one = np.empty((1, 1, 64, 64), np.float32)  # one face takes OpenCV's path
    lmmod._normalise(crops[3:4], one)
    np.testing.assert_allclose(one, to_tensor(crops[3:4], 1).numpy(), atol=1e-5)


def test_onnx_path_gives_the_points_and_confidence_of_the_torch_path(faces, onnx_lm):
    recs, images = faces
    torch_lm = FaceLandmarker(MODEL, backend="torch", threads=1)
    loaded = resolve_model(MODEL)
    for i in range(4):
        p1, c1 = onnx_lm.landmarks_with_confidence(images[i], recs.boxes[i], refine=False)
        p2, c2 = torch_lm.landmarks_with_confidence(images[i], recs.boxes[i], refine=False)
        np.testing.assert_allclose(p1, p2, atol=1e-3)
        np.testing.assert_allclose(c1, c2, atol=1e-4)
        # and the slow reference: the training crop, to_tensor, the model, crop_to_image
        crop, m = make_crop(images[i], recs.boxes[i], loaded.model.input_size, loaded.margin)
        y = loaded.model(to_tensor(crop[None])).detach().numpy()
        ref = crop_to_image(y, m[None], loaded.model.input_size)
        np.testing.assert_allclose(p1, ref, atol=1e-3)
    assert (c1 > 0).all() and (c1 <= 1).all()


def test_a_list_or_a_stacked_array_of_images_is_one_batch(faces, onnx_lm):
    recs, images = faces
    boxes = [recs.boxes[i : i + 1] for i in range(8)]
    many = onnx_lm.detect(images[:8], boxes=boxes)
    assert len(many) == 8 and all(len(f) == 1 for f in many)
    for i in (0, 5):
        np.testing.assert_allclose(
            many[i][0].landmarks, onnx_lm.detect(images[i], boxes=boxes[i])[0].landmarks, atol=1e-4
        )
    stacked = np.stack([images[0], images[0]])
    two = onnx_lm.detect(stacked, boxes=[boxes[0], boxes[0]])
    np.testing.assert_allclose(two[1][0].landmarks, many[0][0].landmarks, atol=1e-4)
    # one model call for the 8 faces: the batch reaches the runner whole
    sizes = []
    run = onnx_lm._run
    onnx_lm._run = lambda x: (sizes.append(len(x)), run(x))[1]
    try:
        onnx_lm.detect(images[:8], boxes=boxes)
    finally:
        onnx_lm._run = run
    assert sizes == [8]


def test_refine_auto_follows_the_box_source(faces, onnx_lm):
    recs, images = faces
    img, box = images[3], recs.boxes[3]
    given = onnx_lm.landmarks(img, box)
    want = onnx_lm.landmarks(img, box, refine=REFINE_AUTO["given"])
    np.testing.assert_array_equal(given, want)
    assert not np.allclose(
        onnx_lm.landmarks(img, box, refine=True), onnx_lm.landmarks(img, box, refine=False)
    )
    boxed = FaceLandmarker(MODEL, threads=1, seed_crops=False)  # crops from the detector's box
    found = boxed.detect(img)
    assert len(found) >= 1
    box0 = found[0].box
    want = boxed.landmarks(img, box0, refine=REFINE_AUTO["detector"])[0]
    np.testing.assert_allclose(found[0].landmarks, want, atol=1e-4)


@pytest.mark.parametrize("model,scheme", [(MODEL, None), ("cuhk5-nano", None), ("dense68", 5)])
def test_one_face_through_the_bound_run_is_the_face_in_a_batch(faces, model, scheme):
    # one face a call runs the session bound to its input buffer; two faces run it plainly
    recs, images = faces
    lm = FaceLandmarker(model, threads=1, scheme=scheme)
    assert lm._single_run() is not None
    first = lm.landmarks_with_confidence(images[0], recs.boxes[0])
    for i in (0, 1, 2):
        one = lm.landmarks_with_confidence(images[i], recs.boxes[i])
        two = lm.landmarks_with_confidence(images[i], np.stack([recs.boxes[i], recs.boxes[i]]))
        np.testing.assert_allclose(one[0][0], two[0][1], atol=1e-4)
        np.testing.assert_allclose(one[1][0], two[1][1], atol=1e-5)
    # what a call returned is its own: later calls do not write into it
    again = lm.landmarks_with_confidence(images[0], recs.boxes[0])
    assert not np.shares_memory(first[0], again[0]) and not np.shares_memory(first[1], again[1])
    np.testing.assert_array_equal(first[0], again[0])
    assert FaceLandmarker(model, backend="torch", threads=1)._single_run() is None


def test_one_landmarker_serves_several_threads_alike(faces, onnx_lm):
    recs, images = faces
    want = [onnx_lm.landmarks(images[i], recs.boxes[i]) for i in range(len(recs))]
    got: dict[int, list] = {}

    def work(t: int) -> None:
        got[t] = [onnx_lm.landmarks(images[i], recs.boxes[i]) for i in range(len(recs))] * 1

    threads = [threading.Thread(target=work, args=(t,)) for t in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for t in range(3):
        for a, b in zip(got[t], want, strict=True):
            np.testing.assert_array_equal(a, b)


def test_bench_speed_times_models_and_peers_on_the_same_faces(cuhk_root, tmp_path, capsys):
    from facepoints.cli import main

    code = main(
        [
            "bench",
            "--speed",
            MODEL,
            "--peers",
            "mtcnn-onet",
            "--data-root",
            str(cuhk_root),
            "--timing-faces",
            "32",
            "--frames",
            "8",
            "--out",
            str(tmp_path),
            "--no-progress",
        ]
    )
    assert code == 0
    rows = json.loads((tmp_path / "speed.json").read_text())["rows"]
    # a model with a shipped int8 file is timed in int8 as well, beside its float row
    assert [r["source"] for r in rows] == [f"{MODEL} (onnx)", f"{MODEL} (onnx, int8)", "mtcnn-onet"]
    for r in rows:
        for key in ("ms_b1", "ms_b32", "ms_photo1", "ms_photo10", "video_fps"):
            assert np.isfinite(r[key]) and r[key] > 0, (r["source"], key)
        # a photo of ten faces costs more than one face on its own
        assert r["ms_photo10"] > r["ms_b1"]
    assert "| cuhk5-fast (onnx) |" in (tmp_path / "speed.md").read_text()
    assert "ms/face, batch 1" in capsys.readouterr().out


def test_speed_photo_holds_the_faces_the_detector_finds(faces):
    from facepoints.evaluation.speed import speed_photo

    recs, images = faces
    lm = FaceLandmarker(MODEL)
    for n in (1, 10):
        photo = speed_photo(images, recs.boxes, n)
        assert photo.shape == (480, 640, 3)
        centres = np.array([(f.box[:2] + f.box[2:]) / 2 for f in lm.detect(photo)])
        # each face's cell holds a detected face (a photo may show a bystander as well)
        cells = (
            [(320, 240)] if n == 1 else [(j % 5 * 128 + 64, j // 5 * 240 + 120) for j in range(n)]
        )
        for cx, cy in cells:
            assert (np.abs(centres - [cx, cy]).max(axis=1) < 60).any(), (n, cx, cy)
    with pytest.raises(ConfigError):
        speed_photo(images, recs.boxes, 11)
