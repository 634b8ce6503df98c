"""Landmarks on a video file or a webcam: frames through a FaceTracker, out as an annotated video
and a JSONL file (one line per frame). A stream that breaks or ends stops cleanly, with what was
processed written out. One frame loop serves every video command: `render` turns each frame and
its faces into the frame written and shown (landmarks drawn by default; the filters draw theirs).

Videos are written as H.264 in MP4 (`.mp4`, yuv420p, the index at the front) or VP9 in WebM
(`.webm`) through PyAV, whose wheels carry FFmpeg and its encoders: formats every browser and
chat preview plays inline."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, FacepointsError, ImageError
from .smoothing import DEFAULT_BETA, DEFAULT_MIN_CUTOFF
from .tracking import DEFAULT_DETECT_EVERY, DEFAULT_MIN_LANDMARK_SCORE, FaceTracker, TrackedFace

__all__ = [
    "process_video",
    "open_capture",
    "draw_faces",
    "check_frames",
    "read_frame",
    "VideoWriter",
    "VIDEO_CODECS",
    "Render",
]

_ESC = 27
# the container (by the output's suffix) -> the codec written into it
VIDEO_CODECS = {".mp4": "libx264", ".m4v": "libx264", ".mov": "libx264", ".webm": "libvpx-vp9"}
Render = Callable[[np.ndarray, list], np.ndarray]  # (frame BGR, faces) -> frame BGR to write/show


def process_video(
    landmarker: Any,
    source: str | os.PathLike | int,
    out_path: str | os.PathLike | None = None,
    jsonl_path: str | os.PathLike | None = None,
    detect_every: int = DEFAULT_DETECT_EVERY,
    smoothing: bool = True,
    min_cutoff: float = DEFAULT_MIN_CUTOFF,
    beta: float = DEFAULT_BETA,
    draw: bool = True,
    progress: bool = True,
    max_frames: int | None = None,
    show: bool = False,
    min_confidence: float | None = None,
    min_landmark_score: float | None = DEFAULT_MIN_LANDMARK_SCORE,
    render: Render | None = None,
    on_key: Callable[[int], None] | None = None,
) -> dict:
    """Track faces through `source` (a video file, or an int camera index) with `landmarker`.

    out_path: write the frames (annotated when `draw`) as a video browsers play (H.264 .mp4, or
    VP9 .webm; `VideoWriter`); jsonl_path: one JSON line per frame {"frame", "time", "faces":
    [Face.to_dict() + "id", "detected"]}. Both are written to a temporary file and renamed when
    the stream ends, breaks or is interrupted.
    show: display the frames in a window (ESC or q quits), when a display is available; other
    keys go to `on_key`. render: the frame written and shown, from the frame (BGR) and its
    faces (None: landmarks drawn when `draw`, else the frame as it is).
    min_confidence: points less sure are drawn hollow (None: `draw.DEFAULT_MIN_CONFIDENCE`).
    min_landmark_score: a followed face whose mean point confidence falls below it is lost and
    the detector runs again (`FaceTracker`; None: never for that reason).

    Returns a summary: frames, faces (total over frames), detector_calls, video fps,
    processing fps, seconds, size, stopped ("end", "max_frames", "user", "interrupted"), and
    the paths written."""
    import cv2

    if max_frames is not None and int(max_frames) < 0:
        raise ConfigError(f"max_frames must be >= 0, got {max_frames!r}")
    cap, name = open_capture(source)
    is_camera = isinstance(source, int)
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    if not (0 < fps < 1000):
        fps = 30.0  # cameras and some files report nothing usable
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if not is_camera else 0
    if max_frames is not None:
        total = min(total, int(max_frames)) if total > 0 else int(max_frames)
    tracker = FaceTracker(
        landmarker,
        detect_every=detect_every,
        smoothing=smoothing,
        min_cutoff=min_cutoff,
        beta=beta,
        fps=fps,
        min_landmark_score=min_landmark_score,
    )
    video = _PendingFile(out_path) if out_path is not None else None
    lines = _PendingFile(jsonl_path) if jsonl_path is not None else None
    window = _Window(name) if show else None
    writer = None
    jsonl = open(lines.tmp, "w", encoding="utf-8") if lines else None  # noqa: SIM115
    bar = _progress(total, name, progress)
    frames = faces_total = 0
    stopped = "end"
    size = (0, 0)
    start = time.perf_counter()
    try:
        while max_frames is None or frames < int(max_frames):
            frame = read_frame(cap)
            if frame is None:
                break
            size = (frame.shape[1], frame.shape[0])
            t = frames / fps
            faces = tracker.update(frame, t=t, color="bgr")
            faces_total += len(faces)
            shown = frame
            if video is not None or window is not None:
                if render is not None:
                    shown = render(frame, faces)
                elif draw:
                    shown = draw_faces(frame, faces, bgr=True, min_confidence=min_confidence)
            if video is not None:
                if writer is None:
                    writer = VideoWriter(video.tmp, fps, size, suffix=video.path.suffix)
                writer.write(shown)
            if jsonl is not None:
                from ..analysis import describe

                rgb = frame[..., ::-1]
                described = [{**f.to_dict(), **describe(f, rgb)} for f in faces]
                rec = {"frame": frames, "time": round(t, 4), "faces": described}
                jsonl.write(json.dumps(rec) + "\n")
            frames += 1
            if bar is not None:
                bar.update(1)
            if window is not None:
                key = window.show(shown)
                if key in (_ESC, ord("q")):
                    stopped = "user"
                    break
                if key >= 0 and on_key is not None:
                    on_key(key)
        else:
            stopped = "max_frames"
    except KeyboardInterrupt:
        stopped = "interrupted"  # keep what was processed; the CLI reports it
    finally:
        seconds = time.perf_counter() - start
        cap.release()
        if bar is not None:
            bar.close()
        if window is not None:
            window.close()
        if writer is not None:
            writer.close()
        if jsonl is not None:
            jsonl.close()
        for pending, written in ((video, writer is not None), (lines, jsonl is not None)):
            if pending is not None:
                pending.finish(keep=written and frames > 0)
    check_frames(frames, stopped, is_camera, name, expected=total)
    return {
        "source": name,
        "frames": frames,
        "faces": faces_total,
        "detector_calls": tracker.detector_calls,
        "video_fps": round(fps, 3),
        "processing_fps": round(frames / seconds, 2) if seconds > 0 else 0.0,
        "seconds": round(seconds, 3),
        "size": list(size),
        "stopped": stopped,
        "out_path": str(video.path) if video is not None and frames > 0 else None,
        "jsonl_path": str(lines.path) if lines is not None and frames > 0 else None,
    }


def check_frames(frames: int, stopped: str, is_camera: bool, name: str, expected: int = 0) -> None:
    """One clear error for a source that ran to its end without giving a single frame, and a
    warning for a file that ended well before the frame count its header gives (a cut file)."""
    if frames == 0 and stopped == "end":
        if is_camera:
            raise ConfigError(f"{name} gave no frames (in use by another program?)")
        raise ImageError(name, "no frame of this video could be read")
    if stopped == "end" and not is_camera and expected > 0 and frames < 0.98 * expected - 1:
        import warnings

        from ..errors import FacepointsWarning

        warnings.warn(
            f"{name}: only {frames} of the {expected} frames its header announces could be "
            "read (a cut or damaged file?)",
            FacepointsWarning,
            stacklevel=2,
        )


def open_capture(source: str | os.PathLike | int):
    """(cv2.VideoCapture, display name) for a video file or a camera index; a source that does
    not open raises one clear error (ImageError for a file, ConfigError for a camera)."""
    import cv2

    if isinstance(source, bool) or not isinstance(source, (int, str, os.PathLike)):
        raise ConfigError(f"a video source is a file path or a camera index, not {source!r}")
    if isinstance(source, int):
        if source < 0:
            raise ConfigError(f"camera index must be >= 0, got {source}")
        with _quiet_stderr():
            cap = cv2.VideoCapture(source)
        if not cap.isOpened():
            cap.release()
            raise ConfigError(f"no camera {source}: it could not be opened (is one connected?)")
        return cap, f"camera {source}"
    p = Path(source)
    if not p.is_file():
        raise ImageError(p, "no such video file")
    with _quiet_stderr():
        cap = cv2.VideoCapture(str(p))
    if not cap.isOpened():
        cap.release()
        raise ImageError(p, "not a readable video (unknown format, or a damaged file)")
    return cap, str(p)


def draw_faces(
    frame: np.ndarray,
    faces: list[TrackedFace],
    bgr: bool = False,
    min_confidence: float | None = None,
) -> np.ndarray:
    """A copy of `frame` with each face's landmarks, box and track id drawn (anti-aliased).
    `bgr`: the frame (and so the drawing's channel order) is OpenCV's. Points whose confidence
    is below `min_confidence` (None: `draw.DEFAULT_MIN_CONFIDENCE`) are hollow rings."""
    import cv2

    from ..draw import DEFAULT_MIN_CONFIDENCE, group_colors

    if min_confidence is None:
        min_confidence = DEFAULT_MIN_CONFIDENCE

    out = np.ascontiguousarray(frame).copy()
    h, w = out.shape[:2]
    thick = max(1, round(max(h, w) / 400))
    for f in faces:
        b = np.asarray(f.box, dtype=np.float64)
        if np.isfinite(b).all():
            cv2.rectangle(out, _pt(b[:2]), _pt(b[2:]), (0, 200, 0), thick, cv2.LINE_8)
            label = f"#{getattr(f, 'track_id', -1)}"
            cv2.putText(
                out,
                label,
                _pt((b[0], b[1] - 4 * thick)),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.4 * thick,
                (0, 200, 0),
                thick,
                cv2.LINE_AA,
            )
        colors = group_colors(f.scheme)
        pts = np.asarray(f.landmarks, dtype=np.float64)
        side = b[2] - b[0] if np.isfinite(b).all() else 100.0
        r = max(2, int(round(side / 45)))
        conf = getattr(f, "confidence", None)
        conf = np.ones(len(pts)) if conf is None else np.asarray(conf, dtype=np.float64)
        for (x, y), c, p_conf in zip(pts, colors, conf, strict=True):
            if np.isfinite(x) and np.isfinite(y):
                col = tuple(int(v) for v in (c[::-1] if bgr else c))
                fill = -1 if p_conf >= min_confidence else max(1, r // 2)  # unsure: a ring
                cv2.circle(out, _pt((x, y), 4), r << 4, col, fill, cv2.LINE_AA, 4)
    return out


# --- helpers -------------------------------------------------------------------------------------


class _PendingFile:
    """A temporary file beside `path` (same suffix, so OpenCV picks the container), renamed over
    `path` by finish(keep=True) and removed otherwise."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.stem}.", suffix=f".tmp{self.path.suffix}", dir=self.path.parent
        )
        os.close(fd)
        self.tmp = Path(tmp)

    def finish(self, keep: bool) -> None:
        if keep and self.tmp.is_file() and self.tmp.stat().st_size > 0:
            os.chmod(self.tmp, 0o644)
            os.replace(self.tmp, self.path)
        else:
            with contextlib.suppress(FileNotFoundError):
                self.tmp.unlink()


class VideoWriter:
    """Frames (H, W, 3) uint8 BGR of one size into a video at `fps`: H.264 (yuv420p, CRF 23,
    the index at the front for streaming) in .mp4/.m4v/.mov, VP9 in .webm, chosen by `suffix`
    (default: the path's). An odd width or height is padded by one black pixel (4:2:0 needs
    even sides). `close()` flushes the encoder and finishes the file."""

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float,
        size: tuple[int, int],
        suffix: str | None = None,
        crf: int = 23,
    ):
        try:
            import av
        except ImportError as e:  # pragma: no cover - a core dependency
            raise FacepointsError(f"writing videos needs PyAV (pip install av): {e}") from None
        suffix = (suffix or Path(path).suffix).lower()
        codec = VIDEO_CODECS.get(suffix)
        if codec is None:
            known = ", ".join(VIDEO_CODECS)
            raise ConfigError(f"cannot write a {suffix or 'suffix-less'} video; use one of {known}")
        self.size = (int(size[0]), int(size[1]))
        w, h = self.size[0] + self.size[0] % 2, self.size[1] + self.size[1] % 2
        fmt = "webm" if suffix == ".webm" else "mp4"
        opts = {"movflags": "+faststart"} if fmt == "mp4" else {}
        try:
            self._container = av.open(str(path), mode="w", format=fmt, options=opts)
            rate = Fraction(float(fps)).limit_denominator(1001)
            stream = self._container.add_stream(codec, rate=rate)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            if codec == "libx264":
                stream.options = {"crf": str(crf), "preset": "veryfast"}
            else:
                stream.options = {"crf": str(crf + 10), "b": "0", "deadline": "realtime"}
            stream.codec_context.thread_count = 1  # videos are written beside a model's work
        except (av.FFmpegError, ValueError) as e:
            raise FacepointsError(f"{path}: cannot write a {codec} video here ({e})") from None
        self._stream = stream
        self._pad = (w, h) != self.size
        self.frames = 0

    def write(self, frame_bgr: np.ndarray) -> None:
        """Encode one frame (the writer's size)."""
        import av

        f = np.asarray(frame_bgr, dtype=np.uint8)
        if (f.shape[1], f.shape[0]) != self.size:
            raise ConfigError(f"frame {f.shape[1]}x{f.shape[0]} in a {self.size} video")
        if self._pad:
            f = np.pad(f, ((0, f.shape[0] % 2), (0, f.shape[1] % 2), (0, 0)))
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="bgr24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and close the file (again: nothing)."""
        if self._container is None:
            return
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None


def read_frame(cap) -> np.ndarray | None:
    """The next frame as (H, W, 3) BGR, or None at the end; a decoding error ends the stream
    like its end does."""
    import cv2

    try:
        ok, frame = cap.read()
    except cv2.error:
        return None
    if not ok or frame is None or frame.size == 0:
        return None
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    return frame


class _Window:
    """A cv2 window, when this OpenCV build and this session can show one; else a note, once."""

    def __init__(self, name: str):
        self.name = f"facepoints: {name}"
        self.ok = _has_display()
        if not self.ok:
            print("facepoints: no display here; not showing the frames", file=sys.stderr)

    def show(self, frame: np.ndarray) -> int:
        """Show a frame; the key pressed (-1: none; ESC when the window was closed)."""
        if not self.ok:
            return -1
        import cv2

        try:
            cv2.imshow(self.name, frame)
            key = cv2.waitKey(1) & 0xFF
            closed = cv2.getWindowProperty(self.name, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error:
            print("facepoints: this OpenCV cannot open windows (headless build)", file=sys.stderr)
            self.ok = False
            return -1
        return _ESC if closed else (-1 if key == 0xFF else key)

    def close(self) -> None:
        if self.ok:
            import cv2

            with contextlib.suppress(cv2.error):
                cv2.destroyWindow(self.name)


def _has_display() -> bool:
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def _progress(total: int, name: str, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total or None, desc=Path(name).name, unit="frame", leave=False)


@contextlib.contextmanager
def _quiet_stderr():
    """OpenCV's backends print their own warnings to fd 2 when a source fails to open; the error
    we raise says it in one line instead."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def _pt(xy, shift: int = 0) -> tuple[int, int]:
    f = 1 << shift
    return int(round(float(xy[0]) * f)), int(round(float(xy[1]) * f))
