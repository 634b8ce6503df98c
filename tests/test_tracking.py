"""Video: the One-Euro filter, FaceTracker's detector schedule and track ids, and process_video's
outputs on written, truncated and missing sources."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from facepoints.errors import ConfigError, ImageError
from facepoints.inference.detectors import Detection
from facepoints.inference.smoothing import NoSmoothing, OneEuroFilter
from facepoints.inference.tracking import FaceTracker
from facepoints.inference.video import process_video

FACE = np.array([[100, 100], [150, 100], [125, 130], [105, 160], [145, 160]], np.float64)

# --- One-Euro filter -----------------------------------------------------------------------------


def _motion(points: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(points, axis=0), axis=-1).mean())


def test_one_euro_reduces_jitter_on_a_still_face():
    rng = np.random.default_rng(0)
    raw = FACE + rng.normal(0, 0.5, (90, 5, 2))  # 1% of the 50 px inter-ocular distance
    f = OneEuroFilter()
    out = np.stack([f(p, i / 30, scale=50.0) for i, p in enumerate(raw)])
    assert _motion(out) < 0.4 * _motion(raw)
    assert np.abs(out[30:] - FACE).mean() < np.abs(raw[30:] - FACE).mean()
    same = np.stack([NoSmoothing()(p, i / 30) for i, p in enumerate(raw)])
    np.testing.assert_allclose(same, raw, atol=1e-4)


def test_one_euro_follows_a_step_within_a_few_frames():
    f = OneEuroFilter()
    for i in range(10):
        f(FACE, i / 30, scale=50.0)
    errors = [np.abs(f(FACE + 50, (10 + i) / 30, scale=50.0) - (FACE + 50)).max() for i in range(8)]
    assert errors[0] < 25  # already past half way on the first frame
    assert errors[5] < 1.0  # within a pixel of a 50 px jump after six frames (0.2 s)
    assert all(a >= b for a, b in zip(errors, errors[1:], strict=False))  # no overshoot


def test_one_euro_reset_and_restart():
    f = OneEuroFilter()
    f(FACE, 0.0)
    f(FACE + 10, 1 / 30)
    f.reset()
    np.testing.assert_array_equal(f(FACE + 40, 2 / 30), (FACE + 40).astype(np.float32))
    # a repeated timestamp returns the last estimate; a new point count starts over
    np.testing.assert_array_equal(f(FACE, 2 / 30), (FACE + 40).astype(np.float32))
    np.testing.assert_array_equal(f(FACE[:3], 3 / 30), FACE[:3].astype(np.float32))
    with pytest.raises(ConfigError):
        OneEuroFilter(min_cutoff=0)


# --- a short video from a real CUHK test face ----------------------------------------------------


@pytest.fixture(scope="module")
def clip(cuhk_root):
    """40 RGB frames of a CUHK test face moving along a small path, with its true boxes."""
    from facepoints.data import read_dataset
    from facepoints.io import load_image

    recs = read_dataset("cuhk5", "test", data_root=cuhk_root)
    image, box = load_image(recs.images[0]), recs.boxes[0]
    h, w = image.shape[:2]
    frames, boxes = [], []
    for k in range(40):
        dx, dy = 6 * np.sin(k / 8), 3 * np.cos(k / 6)
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        frames.append(cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REPLICATE))
        boxes.append((box + np.array([dx, dy, dx, dy])).astype(np.float32))
    return frames, boxes, recs


class CountingDetector:
    """Returns the frame's true box and counts its calls (which frames it ran on)."""

    def __init__(self, boxes):
        self.boxes, self.frame, self.calls = boxes, 0, []

    def detect(self, rgb):
        self.calls.append(self.frame)
        b = self.boxes[self.frame]
        return [Detection(box=b, raw_box=b, score=0.9)]


@pytest.fixture(scope="module")
def landmarker(clip, tmp_path_factory):
    """A FaceLandmarker whose tiny model always answers the mean CUHK shape of its crop (a
    stand-in for a trained model that keeps the track steady; no trained model ships yet)."""
    from facepoints.geometry import apply, crop_matrix
    from facepoints.inference.landmarker import FaceLandmarker
    from facepoints.models import create_model, save_model

    _, _, recs = clip
    mean = np.mean(
        [
            apply(crop_matrix(b, 64, margin=0.2), p) / 64
            for b, p in zip(recs.boxes[:100], recs.points[:100], strict=True)
        ],
        axis=0,
    )
    model = create_model("resnet", input_size=64, width=16, depth=[1, 1, 1, 1])
    with torch.no_grad():
        model.head.fc.weight.zero_()
        model.head.fc.bias.copy_(torch.from_numpy(mean.reshape(-1)))
    path = tmp_path_factory.mktemp("track") / "mean.safetensors"
    save_model(model, path, {"margin": 0.2})
    return FaceLandmarker(path, threads=1)


def test_tracker_detects_on_schedule_and_keeps_one_id(clip, landmarker):
    frames, boxes, _ = clip
    det = CountingDetector(boxes)
    landmarker._detector = det
    tracker = FaceTracker(landmarker, detect_every=15)
    ids = set()
    for k, frame in enumerate(frames):
        det.frame = k
        faces = tracker.update(frame)
        assert len(faces) == 1 and faces[0].landmarks.shape == (5, 2)
        assert faces[0].detected == (k % 15 == 0)
        ids.add(faces[0].track_id)
    assert det.calls == [0, 15, 30] and tracker.detector_calls == 3
    assert ids == {0}
    # the track stays on the face: its box centre near the true one
    c = (faces[0].box[:2] + faces[0].box[2:]) / 2
    t = (boxes[-1][:2] + boxes[-1][2:]) / 2
    assert np.abs(c - t).max() < 0.25 * (boxes[-1][2] - boxes[-1][0])


def test_a_lost_track_calls_the_detector_and_keeps_its_id(clip, landmarker, monkeypatch):
    frames, boxes, _ = clip
    det = CountingDetector(boxes)
    landmarker._detector = det
    tracker = FaceTracker(landmarker, detect_every=100)
    real = landmarker.landmarks_with_confidence

    def broken_on_frame_5(rgb, b, refine=None):
        out, conf = real(rgb, b, refine=refine)
        if det.frame == 5 and refine is False:
            out[:] = np.nan  # the model "loses" the face in this frame
        return out, conf

    monkeypatch.setattr(landmarker, "landmarks_with_confidence", broken_on_frame_5)
    for k in range(8):
        det.frame = k
        faces = tracker.update(frames[k])
        assert [f.track_id for f in faces] == [0]
    assert det.calls == [0, 5]


def test_process_video_writes_video_and_jsonl(clip, landmarker, tmp_path):
    frames, boxes, _ = clip
    src = tmp_path / "in.mp4"
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"mp4v"), 25, (w, h))
    for f in frames[:20]:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    landmarker._detector = CountingDetector([boxes[0]] * 20)
    out, jl = tmp_path / "out" / "annotated.mp4", tmp_path / "out" / "faces.jsonl"
    s = process_video(landmarker, src, out, jl, detect_every=10, progress=False)
    assert s["frames"] == 20 and s["stopped"] == "end" and s["detector_calls"] == 2
    assert s["video_fps"] == 25 and s["faces"] == 20
    lines = [json.loads(x) for x in jl.read_text().splitlines()]
    assert [x["frame"] for x in lines] == list(range(20))
    assert all(len(x["faces"]) == 1 and x["faces"][0]["id"] == 0 for x in lines)
    cap = cv2.VideoCapture(str(out))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 20
    cap.release()
    assert sorted(p.name for p in out.parent.iterdir()) == ["annotated.mp4", "faces.jsonl"]
    # max_frames stops early and says so
    s = process_video(landmarker, src, jsonl_path=jl, max_frames=5, progress=False, draw=False)
    assert s["frames"] == 5 and s["stopped"] == "max_frames"
    assert len(jl.read_text().splitlines()) == 5


def test_a_truncated_video_ends_cleanly(clip, landmarker, tmp_path):
    frames, boxes, _ = clip
    src = tmp_path / "cut.avi"  # MJPG in AVI: frames stay readable when the file is cut short
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"MJPG"), 30, (w, h))
    for f in frames[:20]:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    data = src.read_bytes()
    src.write_bytes(data[: len(data) // 2])
    landmarker._detector = CountingDetector([boxes[0]] * 20)
    jl = tmp_path / "cut.jsonl"
    s = process_video(landmarker, src, tmp_path / "cut.mp4", jl, progress=False)
    assert 0 < s["frames"] < 20 and s["stopped"] == "end"
    assert len(jl.read_text().splitlines()) == s["frames"]
    assert (tmp_path / "cut.mp4").is_file()


def test_unreadable_sources_raise_one_clear_error(landmarker, tmp_path):
    with pytest.raises(ImageError, match="no such video"):
        process_video(landmarker, tmp_path / "none.mp4", progress=False)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 4096)  # e.g. an mp4 cut before its index: OpenCV cannot open it
    with pytest.raises(ImageError, match="not a readable video"):
        process_video(landmarker, bad, progress=False)
    with pytest.raises(ConfigError, match="no camera 97"):
        process_video(landmarker, 97, progress=False)
