"""Filters on a video file or a live camera: the landmark video loop (`process_video`: faces
followed by a FaceTracker) with the filters as its render hook, written as a video browsers play
and, for a camera, shown in a window whose number keys switch the filter."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..inference.tracking import DEFAULT_DETECT_EVERY
from .base import apply_filters, list_filters, parse_filter_names
from .face_score import DEFAULT_MIN_FACE_SCORE, detector_name

__all__ = ["filter_video", "check_preview"]


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
    min_face_score: float | str | None = DEFAULT_MIN_FACE_SCORE,
    detector: str | None = None,
) -> dict:
    """Apply `filters` to every face of every frame of `source` (a video file or a camera index),
    through `process_video`'s frame loop with the filters as its render hook.

    out_path: write the filtered frames as a video browsers play (H.264 .mp4 or VP9 .webm; to a
    temporary file, renamed when the stream ends, breaks or is interrupted). show: a live window
    (`check_preview` says whether one can open); keys 1-9 switch to the n-th filter of
    `list_filters()` alone, 0 to none, the space bar back to `filters`, ESC or q quit.
    min_confidence, unsure, min_face_score, detector: as `apply_filters` takes them (detector
    None: the landmarker's own detector).

    Returns a summary: source, frames, faces (total over frames), processing_fps, seconds, size,
    stopped ("end", "max_frames", "user", "interrupted"), out_path."""
    from ..inference.video import process_video

    chosen = parse_filter_names(filters)
    detector = detector or detector_name(landmarker)
    if show:
        check_preview()
    menu = list_filters()
    current = list(chosen)

    def render(frame_bgr: np.ndarray, faces: list) -> np.ndarray:
        rgb = np.ascontiguousarray(frame_bgr[..., ::-1])
        drawn = apply_filters(rgb, faces, current, min_confidence, unsure, min_face_score, detector)
        out = np.ascontiguousarray(_fit(drawn, (frame_bgr.shape[1], frame_bgr.shape[0]))[..., ::-1])
        return _caption(out, current, menu) if show else out

    def on_key(key: int) -> None:
        current[:] = _switch(key, current, chosen, menu)

    res = process_video(
        landmarker,
        source,
        out_path,
        detect_every=detect_every,
        smoothing=smoothing,
        progress=progress,
        max_frames=max_frames,
        show=show,
        render=render,
        on_key=on_key,
    )
    keys = ("source", "frames", "faces", "processing_fps", "seconds", "size", "stopped")
    return {**{k: res[k] for k in keys}, "out_path": res["out_path"]}


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


def _caption(frame_bgr: np.ndarray, current: list[str], menu: list[str]) -> np.ndarray:
    """The frame with a one-line caption: the filters on, and the keys."""
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
    return view


def _switch(key: int, current: list[str], chosen: list[str], menu: list[str]) -> list[str]:
    if ord("1") <= key <= ord("9") and key - ord("1") < len(menu):
        return [menu[key - ord("1")]]
    if key == ord("0"):
        return []
    if key == ord(" "):
        return list(chosen)
    return current
