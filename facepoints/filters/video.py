"""Filters on a video file or a live camera: faces followed by a FaceTracker, the filters drawn on
every frame, written as a video and, for a camera, shown in a window whose number keys switch
the filter."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..inference.tracking import DEFAULT_DETECT_EVERY, FaceTracker
from .base import apply_filters, list_filters, parse_filter_names

__all__ = ["filter_video", "check_preview"]

_ESC = 27


def filter_video(
    landmarker: Any,
    source: str | os.PathLike | int,
    filters: str | Sequence[str],
    out_path: str | os.PathLike | None = None,
    show: bool = False,
    progress: bool = True,
    max_frames: int | None = None,
    detect_every: int = DEFAULT_DETECT_EVERY,
    smoothing: bool = True,
    min_confidence: float | None = None,
    unsure: str = "skip",
) -> dict:
    """Apply `filters` to every face of every frame of `source` (a video file or a camera index).

    out_path: write the filtered frames as an mp4v video (to a temporary file, renamed when the
    stream ends, breaks or is interrupted). show: a live window (`check_preview` says whether
    one can open); keys 1-9 switch to the n-th filter of `list_filters()` alone, 0 to none, the
    space bar back to `filters`, ESC or q quit. min_confidence, unsure: as `apply_filters`
    takes them (a filter left off, or faded, on faces whose anchor points are unsure).

    Returns a summary: source, frames, faces (total over frames), processing_fps, seconds, size,
    stopped ("end", "max_frames", "user", "interrupted"), out_path."""
    import cv2

    from ..inference.video import (
        _open_writer,
        _PendingFile,
        _progress,
        check_frames,
        open_capture,
        read_frame,
    )

    chosen = parse_filter_names(filters)
    if max_frames is not None and int(max_frames) < 0:
        raise ConfigError(f"max_frames must be >= 0, got {max_frames!r}")
    if show:
        check_preview()
    cap, name = open_capture(source)
    is_camera = isinstance(source, int)
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    if not (0 < fps < 1000):
        fps = 30.0
    total = 0 if is_camera else int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    if max_frames is not None:
        total = min(total, int(max_frames)) if total > 0 else int(max_frames)
    tracker = FaceTracker(landmarker, detect_every=detect_every, smoothing=smoothing, fps=fps)
    pending = _PendingFile(out_path) if out_path is not None else None
    window = f"facepoints filter: {name}" if show else None
    menu = list_filters()
    current = list(chosen)
    writer, bar = None, _progress(total, name, progress)
    frames = faces_total = 0
    size = (0, 0)
    stopped = "end"
    start = time.perf_counter()
    try:
        while max_frames is None or frames < int(max_frames):
            frame = read_frame(cap)
            if frame is None:
                break
            size = (frame.shape[1], frame.shape[0])
            faces = tracker.update(frame, t=frames / fps, color="bgr")
            faces_total += len(faces)
            rgb = np.ascontiguousarray(frame[..., ::-1])
            drawn = apply_filters(rgb, faces, current, min_confidence, unsure)
            out = _fit(drawn, size)[..., ::-1]
            out = np.ascontiguousarray(out)
            if pending is not None:
                if writer is None:
                    writer = _open_writer(pending.tmp, fps, size)
                writer.write(out)
            frames += 1
            if bar is not None:
                bar.update(1)
            if window is not None:
                key = _show(window, out, current, menu)
                if key in (_ESC, ord("q")):
                    stopped = "user"
                    break
                current = _switch(key, current, chosen, menu)
        else:
            stopped = "max_frames"
    except KeyboardInterrupt:
        stopped = "interrupted"
    finally:
        seconds = time.perf_counter() - start
        cap.release()
        if bar is not None:
            bar.close()
        if window is not None:
            _close(window)
        if writer is not None:
            writer.release()
        if pending is not None:
            pending.finish(keep=writer is not None and frames > 0)
    check_frames(frames, stopped, is_camera, name, expected=total)
    return {
        "source": name,
        "frames": frames,
        "faces": faces_total,
        "processing_fps": round(frames / seconds, 2) if seconds > 0 else 0.0,
        "seconds": round(seconds, 3),
        "size": list(size),
        "stopped": stopped,
        "out_path": str(pending.path) if pending is not None and frames > 0 else None,
    }


def check_preview() -> None:
    """Raise ConfigError (one line) unless a live window can open here: a display, and an
    OpenCV built with a GUI (the opencv-python-headless wheel has none)."""
    import cv2

    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        raise ConfigError("a live preview needs a display, and there is none here (no $DISPLAY)")
    gui = [ln for ln in cv2.getBuildInformation().splitlines() if ln.strip().startswith("GUI:")]
    if gui and gui[0].split(":", 1)[1].strip().upper() == "NONE":
        raise ConfigError(
            "this OpenCV has no window support (opencv-python-headless); for a live preview "
            "install opencv-python"
        )


# --- helpers -------------------------------------------------------------------------------------


def _fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The image as is when it has `size` (w, h); else scaled to fit inside it, centred on
    black (a reframing filter such as align makes pictures of another shape)."""
    import cv2

    w, h = size
    if image.shape[1] == w and image.shape[0] == h:
        return image
    s = min(w / image.shape[1], h / image.shape[0])
    nw, nh = max(1, round(image.shape[1] * s)), max(1, round(image.shape[0] * s))
    small = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    out = np.zeros((h, w, 3), np.uint8)
    x0, y0 = (w - nw) // 2, (h - nh) // 2
    out[y0 : y0 + nh, x0 : x0 + nw] = small
    return out


def _show(window: str, frame_bgr: np.ndarray, current: list[str], menu: list[str]) -> int:
    """Show a frame with a one-line caption; the key pressed (-1 for none)."""
    import cv2

    view = frame_bgr.copy()
    keys = "  ".join(f"{i + 1}:{n}" for i, n in enumerate(menu[:9]))
    caption = f"{'+'.join(current) or 'none'}   [{keys}  0:none  space:start  q:quit]"
    scale = max(0.4, view.shape[1] / 1600)
    y = view.shape[0] - 10
    for color, thick in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(
            view, caption, (8, y), cv2.FONT_HERSHEY_SIMPLEX, scale, color, thick, cv2.LINE_AA
        )
    try:
        cv2.imshow(window, view)
        key = cv2.waitKey(1) & 0xFF
        if cv2.getWindowProperty(window, cv2.WND_PROP_VISIBLE) < 1:
            return _ESC  # the window was closed
    except cv2.error:
        raise ConfigError("this OpenCV cannot open windows (a headless build)") from None
    return -1 if key == 0xFF else key


def _switch(key: int, current: list[str], chosen: list[str], menu: list[str]) -> list[str]:
    if ord("1") <= key <= ord("9") and key - ord("1") < len(menu):
        return [menu[key - ord("1")]]
    if key == ord("0"):
        return []
    if key == ord(" "):
        return list(chosen)
    return current


def _close(window: str) -> None:
    import cv2

    try:
        cv2.destroyWindow(window)
    except cv2.error:
        pass
