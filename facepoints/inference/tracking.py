"""Landmarks through video: each face is cropped where its previous frame's landmarks put it, so
the detector runs only on the first frame, every `detect_every` frames, and when a track is lost:
its points are implausible (not finite, jumping in size or place, leaving the image) or its
landmark score (the mean point confidence) falls below `min_landmark_score`.

    tracker = FaceTracker(FaceLandmarker(...))
    for frame in frames:                        # RGB, or color="bgr" for OpenCV frames
        faces = tracker.update(frame)           # list of TrackedFace, with stable track ids
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from .boxes import box_from_points
from .landmarker import Face, as_rgb_image
from .smoothing import (
    DEFAULT_BETA,
    DEFAULT_D_CUTOFF,
    DEFAULT_MIN_CUTOFF,
    make_smoother,
)

__all__ = ["FaceTracker", "TrackedFace", "DEFAULT_DETECT_EVERY", "DEFAULT_MIN_LANDMARK_SCORE"]

DEFAULT_DETECT_EVERY = 30  # one detector run a second at 30 fps catches new faces soon enough
# a followed face whose mean point confidence falls below this is lost: the detector runs again
DEFAULT_MIN_LANDMARK_SCORE = 0.5
_MATCH_IOU = 0.3  # a detection and a track (or a lost track) with this overlap are one face
_SAME_IOU = 0.5  # two tracks overlapping this much have converged on one face: keep the older
_MAX_SCALE_STEP = 1.5  # a face's size never changes by more than this between two frames
_MAX_SHIFT = 0.5  # ...nor its box centre by more than this fraction of the box side
_MIN_INSIDE = 0.4  # a box with less of its area inside the image has left it
_MAX_MISSES = 2  # detector rounds in a row that may miss a track before it is dropped


@dataclass
class TrackedFace(Face):
    """A Face with its track id (stable while the tracker follows the face) and whether the
    detector found it in this frame (`detected`). `box` is the box of the (smoothed) landmarks,
    in the training convention; `score` is the last detector score of the track."""

    track_id: int = -1
    detected: bool = False

    def to_dict(self, decimals: int = 2) -> dict:
        return {"id": self.track_id, "detected": self.detected, **super().to_dict(decimals)}


class FaceTracker:
    """Follows faces through the frames of one video with a FaceLandmarker.

    detect_every: run the detector every this many frames (1: every frame) to pick up new faces
        and re-check tracked ones; it also runs whenever a track is lost and while no face is
        tracked. smoothing: One-Euro filter per track (min_cutoff, beta, d_cutoff: see
        `smoothing.OneEuroFilter`; speeds are in inter-ocular distances per second).
    max_faces: follow at most this many faces (None: the landmarker's max_faces, else all).
    fps: frame rate for timestamps when `update` gets none. min_landmark_score: a followed face
        whose landmark score (mean point confidence) is below this is lost and the detector runs
        again (None: never for that reason; models without a calibrated confidence never)."""

    def __init__(
        self,
        landmarker: Any,
        detect_every: int = DEFAULT_DETECT_EVERY,
        smoothing: bool = True,
        min_cutoff: float = DEFAULT_MIN_CUTOFF,
        beta: float = DEFAULT_BETA,
        d_cutoff: float = DEFAULT_D_CUTOFF,
        max_faces: int | None = None,
        fps: float = 30.0,
        min_landmark_score: float | None = DEFAULT_MIN_LANDMARK_SCORE,
    ):
        if int(detect_every) < 1:
            raise ConfigError(f"detect_every must be >= 1, got {detect_every!r}")
        if max_faces is not None and int(max_faces) < 1:
            raise ConfigError(f"max_faces must be >= 1 or None, got {max_faces!r}")
        if not (math.isfinite(fps) and fps > 0):
            raise ConfigError(f"fps must be positive, got {fps!r}")
        if min_landmark_score is not None and not (0 <= float(min_landmark_score) <= 1):
            raise ConfigError(f"min_landmark_score must be in [0, 1], got {min_landmark_score!r}")
        self.min_landmark_score = None if min_landmark_score is None else float(min_landmark_score)
        self.landmarker = landmarker
        self.detect_every = int(detect_every)
        self.max_faces = max_faces if max_faces is not None else landmarker.max_faces
        self.fps = float(fps)
        self._smoother_args = (bool(smoothing), min_cutoff, beta, d_cutoff)
        make_smoother(*self._smoother_args)  # check the parameters now, not at the first face
        self.reset()

    def reset(self) -> None:
        """Forget every track (a new video, or a cut)."""
        self.tracks: list[_Track] = []
        self.frame = 0
        self.detector_calls = 0
        self.unsure_losses = 0  # tracks lost because their landmark score fell too low
        self._last_detect: int | None = None
        self._next_id = 0
        self._lost: list[_Track] = []  # tracks lost in this frame, whose ids a detection can take

    def update(self, image: Any, t: float | None = None, color: str = "rgb") -> list[TrackedFace]:
        """The faces of the next frame (an image as FaceLandmarker.detect takes it; "bgr" for
        OpenCV frames), at time `t` seconds (default: frame index / fps), oldest track first."""
        rgb = as_rgb_image(image, color)
        t = self.frame / self.fps if t is None else float(t)
        self._lost = []
        if self.tracks:
            self._follow(rgb)
        due = (
            not self.tracks
            or self._lost
            or self._last_detect is None
            or self.frame - self._last_detect >= self.detect_every
        )
        if due:
            self._detect(rgb)
        self._drop_duplicates()
        out = [tr.emit(t, self.landmarker.scheme) for tr in self.tracks]
        self.frame += 1
        return out

    __call__ = update

    # --- steps ---------------------------------------------------------------------------------

    def _follow(self, rgb: np.ndarray) -> None:
        """Landmarks of every track in a crop from its previous landmarks; implausible results
        end their track."""
        scheme = self.landmarker.scheme
        boxes = np.stack([tr.box for tr in self.tracks])
        pts, conf = self._landmarks(rgb, boxes, refine=False)
        new_boxes = box_from_points(pts, scheme)
        kept = []
        for tr, p, c, nb in zip(self.tracks, pts, conf, new_boxes, strict=True):
            iod = self._iod(p)
            if not _plausible(p, iod, nb, tr, rgb.shape):
                self._lost.append(tr)
            elif self._unsure(c):
                self.unsure_losses += 1
                self._lost.append(tr)
            else:
                tr.raw, tr.raw_box, tr.iod, tr.detected, tr.conf = p, nb, iod, False, c
                kept.append(tr)
        self.tracks = kept

    def _detect(self, rgb: np.ndarray) -> None:
        """Run the detector: confirm tracks, start tracks for new faces, drop tracks it has
        missed too often."""
        self.detector_calls += 1
        self._last_detect = self.frame
        dets = [
            d
            for d in self.landmarker.detector.detect(rgb)
            if min(d.box[2] - d.box[0], d.box[3] - d.box[1]) >= self.landmarker.min_face
        ]
        dets.sort(key=lambda d: -float(d.score))
        boxes = np.array([d.box for d in dets], dtype=np.float32).reshape(-1, 4)
        used = np.zeros(len(dets), dtype=bool)
        # tracks keep their own crop (it follows the face more steadily than the detector's box)
        for tr in self.tracks:
            j = _best_match(tr.raw_box, boxes, used)
            if j is None:
                tr.misses += 1
            else:
                used[j], tr.misses, tr.score, tr.detected = True, 0, float(dets[j].score), True
        self.tracks = [tr for tr in self.tracks if tr.misses <= _MAX_MISSES]
        room = math.inf if self.max_faces is None else self.max_faces - len(self.tracks)
        new = [j for j in range(len(dets)) if not used[j]][: max(0, int(min(room, len(dets))))]
        if not new:
            return
        pts, conf = self._landmarks(rgb, boxes[new])
        for j, p, c in zip(new, pts, conf, strict=True):
            if not np.isfinite(p).all():
                continue
            self.tracks.append(
                _Track(
                    id=self._take_id(boxes[j]),
                    raw=p,
                    raw_box=box_from_points(p, self.landmarker.scheme),
                    iod=self._iod(p),
                    score=float(dets[j].score),
                    smoother=make_smoother(*self._smoother_args),
                    detected=True,
                    conf=c,
                )
            )
        self.tracks.sort(key=lambda tr: tr.id)

    def _drop_duplicates(self) -> None:
        if len(self.tracks) < 2:
            return
        keep: list[_Track] = []
        for tr in sorted(self.tracks, key=lambda tr: tr.id):
            if all(_iou(tr.raw_box, k.raw_box) < _SAME_IOU for k in keep):
                keep.append(tr)
        self.tracks = keep

    # --- helpers -------------------------------------------------------------------------------

    def _take_id(self, box: np.ndarray) -> int:
        """A track lost in this frame and found again by the detector keeps its id."""
        for i, lost in enumerate(self._lost):
            if _iou(box, lost.box) >= _MATCH_IOU:
                return self._lost.pop(i).id
        self._next_id += 1
        return self._next_id - 1

    def _iod(self, points: np.ndarray) -> float:
        return float(self.landmarker.scheme.norm_distance(points))

    def _landmarks(self, rgb: np.ndarray, boxes: np.ndarray, **kw) -> tuple[np.ndarray, list]:
        """Points (N, K, 2) and confidences (N of (K,) or None) from the landmarker, also from
        one that only has `landmarks`."""
        if hasattr(self.landmarker, "landmarks_with_confidence"):
            pts, conf = self.landmarker.landmarks_with_confidence(rgb, boxes, **kw)
            return pts, list(conf)
        pts = self.landmarker.landmarks(rgb, boxes, **kw)
        return pts, [None] * len(pts)

    def _unsure(self, confidence: np.ndarray | None) -> bool:
        """Whether a followed face's landmark score says the track is lost (calibrated models
        only: an uncalibrated score has no scale to compare with)."""
        if self.min_landmark_score is None or confidence is None:
            return False
        if getattr(self.landmarker, "confidence_kind", "constant") != "calibrated":
            return False
        from ..models.confidence import face_score

        return not (float(face_score(confidence)) >= self.min_landmark_score)

    def __repr__(self) -> str:
        return (
            f"FaceTracker(detect_every={self.detect_every}, tracks={len(self.tracks)}, "
            f"frame={self.frame}, detector_calls={self.detector_calls})"
        )


@dataclass
class _Track:
    """One followed face: its latest raw points, smoothed points and the crop box they give."""

    id: int
    raw: np.ndarray  # (K, 2) this frame's model output, image pixels
    raw_box: np.ndarray  # (4,) the box of `raw`
    iod: float
    score: float
    smoother: Any
    detected: bool = False
    misses: int = 0
    conf: np.ndarray | None = None  # (K,) this frame's point confidences
    points: np.ndarray | None = None  # (K, 2) smoothed, set by emit
    box: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))

    def emit(self, t: float, scheme) -> TrackedFace:
        """Smooth this frame's points; the smoothed points also place the next frame's crop."""
        self.points = self.smoother(self.raw, t, scale=self.iod if self.iod > 0 else None)
        self.box = box_from_points(self.points, scheme)
        return TrackedFace(
            box=self.box.copy(),
            score=self.score,
            landmarks=self.points.copy(),
            scheme=scheme,
            confidence=None if self.conf is None else self.conf.copy(),
            track_id=self.id,
            detected=self.detected,
        )


def _plausible(p: np.ndarray, iod: float, new: np.ndarray, tr: _Track, shape: tuple) -> bool:
    """Whether new points `p` (box `new`) continue track `tr`: finite, about the same size, near
    the crop's centre, and still inside the image."""
    if not np.isfinite(p).all() or not (iod > 0) or not (tr.iod > 0):
        return False
    step = iod / tr.iod
    if not (1 / _MAX_SCALE_STEP <= step <= _MAX_SCALE_STEP):
        return False
    side = max(tr.box[2] - tr.box[0], tr.box[3] - tr.box[1])
    shift = np.abs((new[:2] + new[2:]) / 2 - (tr.box[:2] + tr.box[2:]) / 2).max()
    if shift > _MAX_SHIFT * side:
        return False
    h, w = shape[:2]
    iw = max(0.0, min(new[2], w) - max(new[0], 0))
    ih = max(0.0, min(new[3], h) - max(new[1], 0))
    area = (new[2] - new[0]) * (new[3] - new[1])
    return bool(area > 0 and iw * ih / area >= _MIN_INSIDE)


def _best_match(box: np.ndarray, boxes: np.ndarray, used: np.ndarray) -> int | None:
    best, best_iou = None, _MATCH_IOU
    for j in range(len(boxes)):
        if not used[j]:
            v = _iou(box, boxes[j])
            if v >= best_iou:
                best, best_iou = j, v
    return best


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0
