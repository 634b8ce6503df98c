"""Blinks over video: a blink is the eyes' openness (both eyes' mean, `openness.eye_openness`)
dipping below a fraction of the face's own open-eye baseline for 1 to 10 frames, then rising
again. Longer closures are not blinks (eyes shut, a look down) and are not reported.

The baseline is the median openness of the recent frames, so one person's narrow eyes or a
model's bias do not count as closed. Feed it points the tracker smoothed (`FaceTracker`'s One-Euro
filter): the openness is then as smooth as the points, and no further filter delays a blink.

    detector = BlinkDetector()
    for frame, face in enumerate(track):              # one tracked face per frame
        blink = detector.update(eye_openness(face.landmarks, face.scheme).mean(), frame)
        if blink: print(blink)
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

__all__ = ["Blink", "BlinkDetector", "find_blinks", "DEFAULT_THRESHOLD", "POINTS_THRESHOLD"]

# closed: openness below this fraction of the baseline, chosen by benchmarks/analysis_blinks.py on
# synthetic blinks of 300-W training faces with dense68: for eye openness read from the points and
# the eye patches (`face_eyes(face, image)`), and from the points alone, whose eyelids close only
# 10-25% on a painted-shut eye (a model with sharper eyelids should choose again)
DEFAULT_THRESHOLD = 0.88
POINTS_THRESHOLD = 0.97
_REOPEN = 0.25  # hysteresis: open again above threshold + this share of the gap up to the baseline


@dataclass(frozen=True)
class Blink:
    """One blink: its first and last closed frame (inclusive), its length in frames and its
    depth (the lowest openness over the baseline)."""

    start: int
    end: int
    frames: int
    depth: float

    def to_dict(self) -> dict:
        return {
            "start": self.start,
            "end": self.end,
            "frames": self.frames,
            "depth": round(self.depth, 3),
        }


class BlinkDetector:
    """Blinks of one face over frames, online: `update(openness, frame)` returns a `Blink` once the
    eyes are open again (`reopen_frames` frames) after 1..`max_frames` closed frames, else None.

    threshold: closed below this fraction of the baseline (`DEFAULT_THRESHOLD` suits openness
    read with the eye patches; `POINTS_THRESHOLD` openness from the points alone). min_frames, max_frames: a closure's
    length to count as a blink. baseline_frames: how many recent frames the baseline (their
    median) is taken over; the first `warmup` frames only start the baseline. reopen_frames: a
    closure ends after this many open frames in a row (a blink is reported then)."""

    def __init__(
        self,
        threshold: float = DEFAULT_THRESHOLD,
        min_frames: int = 1,
        max_frames: int = 10,
        baseline_frames: int = 60,
        warmup: int = 5,
        reopen_frames: int = 2,
    ):
        if not (0.0 < float(threshold) < 1.0):
            raise ConfigError(f"threshold must be between 0 and 1, got {threshold!r}")
        if not (1 <= int(min_frames) <= int(max_frames)):
            raise ConfigError(f"need 1 <= min_frames <= max_frames, got {min_frames}, {max_frames}")
        self.threshold = float(threshold)
        self.min_frames, self.max_frames = int(min_frames), int(max_frames)
        self.warmup = int(warmup)
        self.reopen_frames = max(1, int(reopen_frames))
        self._recent: deque[float] = deque(maxlen=max(int(baseline_frames), 1))
        self.reset()

    def reset(self) -> None:
        """Forget the face (a new track)."""
        self._recent.clear()
        self._run: list[tuple[int, float]] = []  # (frame, openness over baseline) while closed
        self._open: list[tuple[int, float]] = []  # open frames since, until `reopen_frames`
        self._seen_open = False  # a blink starts from open eyes

    @property
    def baseline(self) -> float:
        """The open-eye openness the threshold is a fraction of."""
        if not self._recent:
            return 1.0
        return float(np.median(self._recent))

    def update(self, openness: float, frame: int) -> Blink | None:
        """Feed one frame's eye openness (NaN: no face this frame, which ends a closure without
        a blink); returns the blink that ended on this frame, if any."""
        v = float(openness)
        if not math.isfinite(v):
            self._run, self._open, self._seen_open = [], [], False
            return None
        if len(self._recent) < self.warmup:
            self._recent.append(v)  # no baseline yet: nothing counts as closed
            return None
        base = self.baseline
        # every frame joins the baseline: its median over many frames ignores a blink's few
        self._recent.append(v)
        closed_now = v < self.threshold * base
        reopen = self.threshold + _REOPEN * (1.0 - self.threshold)
        still_closed = bool(self._run) and v < reopen * base
        if (closed_now or still_closed) and not self._seen_open:
            return None  # a closure whose start was not seen (a new or a lost face)
        if closed_now or still_closed:
            self._run.extend(self._open)  # a one-frame reopening inside a closure is noise
            self._open = []
            self._run.append((int(frame), v / base))
            return None
        self._seen_open = True
        if not self._run:
            return None
        self._open.append((int(frame), v / base))
        if len(self._open) < self.reopen_frames:
            return None
        run, self._run, self._open = self._run, [], []
        if self.min_frames <= len(run) <= self.max_frames:
            return Blink(run[0][0], run[-1][0], len(run), float(min(r for _, r in run)))
        return None


def find_blinks(openness: Iterable[float], **options) -> list[Blink]:
    """The blinks in a sequence of per-frame eye openness (frame i is the i-th value; NaN for a
    frame without the face); `options` as `BlinkDetector`'s. A closure still open at the end is
    not counted."""
    det = BlinkDetector(**options)
    out = []
    for i, v in enumerate(openness):
        b = det.update(v, i)
        if b is not None:
            out.append(b)
    return out
