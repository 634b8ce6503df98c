"""Analysis over a video: every frame's faces followed by `FaceTracker` (smoothed points), each
face's pose, openness and smile, and blinks per tracked face.

    from facepoints.analysis.video import analyse_video
    for record in analyse_video(FaceLandmarker(model="dense68"), "clip.mp4"):
        print(record["frame"], record["blinks"])
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from .blinks import Blink, BlinkDetector

__all__ = ["TrackBlinks", "analyse_video"]


class TrackBlinks:
    """A `BlinkDetector` per track id: `update(faces, frame, image)` returns the (track id, Blink)
    pairs that ended on this frame. Faces need `landmarks`, `scheme` and `track_id`
    (`TrackedFace`); `options` go to each `BlinkDetector` (the threshold by default suits how
    openness is read: with the frame's eye patches, or from the points alone)."""

    def __init__(self, **options: Any):
        self.options = options
        self.detectors: dict[int, BlinkDetector] = {}
        self.counts: dict[int, int] = {}

    def update(self, faces: list[Any], frame: int, image: Any = None) -> list[tuple[int, Blink]]:
        """The blinks that ended on this frame; `image` (the frame, RGB) lets openness use the
        eyes' patches (`face_eyes`)."""
        from . import face_eyes

        out = []
        from .blinks import DEFAULT_THRESHOLD, POINTS_THRESHOLD

        options = {"threshold": DEFAULT_THRESHOLD if image is not None else POINTS_THRESHOLD}
        options.update(self.options)
        for face in faces:
            tid = int(getattr(face, "track_id", -1))
            eyes = face_eyes(face, image)
            if eyes is None:
                continue  # a scheme without eye outlines: no blinks
            value = float(np.mean(eyes))
            det = self.detectors.setdefault(tid, BlinkDetector(**options))
            blink = det.update(value, frame)
            if blink is not None:
                self.counts[tid] = self.counts.get(tid, 0) + 1
                out.append((tid, blink))
        return out


def analyse_video(
    landmarker: Any,
    source: str | os.PathLike | int,
    max_frames: int | None = None,
    **tracker_options: Any,
) -> Iterator[dict]:
    """One JSON-ready record per frame of a video file (or camera index): {"frame", "t",
    "faces": [{"id", "box", "landmark_score", "pose", "openness", "smile"}], "blinks": [{"id",
    "start", "end", "frames", "depth"}]} (blinks that ended on that frame). `tracker_options` go
    to `FaceTracker`."""
    from ..inference.tracking import FaceTracker
    from ..inference.video import open_capture, read_frame
    from . import describe

    cap, _ = open_capture(source)
    try:
        fps = float(cap.get(5)) or 30.0  # cv2.CAP_PROP_FPS
        if not np.isfinite(fps) or fps <= 0:
            fps = 30.0
        tracker = FaceTracker(landmarker, fps=fps, **tracker_options)
        blinks = TrackBlinks()
        frame = 0
        while max_frames is None or frame < max_frames:
            bgr = read_frame(cap)
            if bgr is None:
                break
            faces = tracker.update(bgr, color="bgr")
            rgb = np.ascontiguousarray(bgr[..., ::-1])
            ended = blinks.update(faces, frame, rgb)
            yield {
                "frame": frame,
                "t": round(frame / fps, 4),
                "faces": [
                    {
                        "id": int(f.track_id),
                        "box": [round(float(v), 2) for v in np.asarray(f.box).reshape(4)],
                        **describe(f, rgb),
                    }
                    for f in faces
                ],
                "blinks": [{"id": tid, **b.to_dict()} for tid, b in ended],
            }
            frame += 1
    finally:
        cap.release()
