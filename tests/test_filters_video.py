"""Videos users can play: filtered and landmark videos come out as H.264 in MP4 (or VP9 in WebM),
read back with PyAV to check the codec, the frame count and what the frames show; the one frame
loop's render hook. Real parts: the shipped dense model and the default detector on a real face."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av", reason="PyAV not installed (a core dependency)")

from facepoints.inference.video import VideoWriter, process_video  # noqa: E402

FRONTAL = "helen/trainset/1259817140_1.jpg"  # a frontal 300-W training face


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """An 8-frame MJPG clip of a frontal face (BGR frames), as a camera or phone might give."""
    import cv2

    root = Path(__file__).resolve().parents[2] / "shared" / "data" / "300w"
    if not (root / FRONTAL).is_file():
        pytest.skip("../shared/data/300w not here")
    frame = cv2.imread(str(root / FRONTAL))
    frame = frame[: frame.shape[0] // 2 * 2 - 1, : frame.shape[1] // 2 * 2 - 1]  # odd sides
    path = tmp_path_factory.mktemp("clip") / "face.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, frame.shape[1::-1])
    for _ in range(8):
        w.write(frame)
    w.release()
    cap = cv2.VideoCapture(str(path))
    ok, first = cap.read()  # the frame as decoded (MJPG may trim an odd side)
    cap.release()
    assert ok
    return path, first


@pytest.fixture(scope="module")
def dense_landmarker():
    from facepoints.filters.base import FILTER_MODEL
    from facepoints.inference.landmarker import FaceLandmarker

    return FaceLandmarker(model=FILTER_MODEL, threads=1)


def streams(path: Path) -> tuple[str, str, list[np.ndarray]]:
    """(codec name, pixel format, decoded frames as BGR arrays) of a video file."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        name, fmt = s.codec_context.name, s.codec_context.pix_fmt
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(s)]
    return name, fmt, frames


def test_filter_video_is_h264_and_shows_the_filter(face_clip, dense_landmarker, tmp_path):
    from facepoints.filters.video import filter_video

    src, frame = face_clip
    out = tmp_path / "out" / "face.mp4"
    res = filter_video(dense_landmarker, src, ["sunglasses"], out, progress=False)
    assert res["frames"] == 8 and res["faces"] == 8 and res["out_path"] == str(out)
    name, fmt, frames = streams(out)
    assert name == "h264" and fmt == "yuv420p" and len(frames) == 8
    h, w = frame.shape[:2]
    first = frames[0][:h, :w]  # the writer pads an odd side by a pixel
    eyes = dense_landmarker.detect(frame, color="bgr")[0].landmarks[36:48]
    x0, y0 = np.floor(eyes.min(0)).astype(int)
    x1, y1 = np.ceil(eyes.max(0)).astype(int)
    lens = np.abs(first[y0:y1, x0:x1].astype(int) - frame[y0:y1, x0:x1].astype(int)).mean()
    rest = np.abs(first[-20:, :].astype(int) - frame[-20:, :].astype(int)).mean()
    assert lens > 30 and rest < 6  # dark glasses on the eyes; the rest only coding noise
    assert not list(out.parent.glob(".*tmp*"))


def test_landmark_video_is_h264_and_the_render_hook_sees_every_frame(
    face_clip, dense_landmarker, tmp_path
):
    src, _ = face_clip
    seen = []

    def render(frame, faces):
        seen.append(len(faces))
        return np.zeros_like(frame)  # what is written is what render returns

    out = tmp_path / "black.mp4"
    res = process_video(dense_landmarker, src, out, progress=False, render=render, max_frames=5)
    assert res["frames"] == 5 and res["stopped"] == "max_frames" and seen == [1] * 5
    name, _, frames = streams(out)
    assert name == "h264" and len(frames) == 5
    assert max(int(f.max()) for f in frames) < 20


def test_webm_is_vp9_and_unknown_suffix_is_refused(tmp_path):
    from facepoints.errors import ConfigError

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (48, 63, 3), dtype=np.uint8) for _ in range(3)]
    w = VideoWriter(tmp_path / "x.webm", 12.5, (63, 48))
    for f in frames:
        w.write(f)
    w.close()
    w.close()  # twice: nothing
    name, fmt, back = streams(tmp_path / "x.webm")
    assert name == "vp9" and fmt == "yuv420p" and len(back) == 3 and back[0].shape == (48, 64, 3)
    with pytest.raises(ConfigError, match="video"):
        VideoWriter(tmp_path / "x.avi", 10, (64, 48))
