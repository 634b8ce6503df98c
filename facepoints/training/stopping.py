"""When the training loop stops early: Ctrl-C, the time limit or the step limit, agreed by all
ranks of a distributed run."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any

from .config import TrainConfig
from .distributed import DistInfo, any_rank

__all__ = ["Stopper"]


class Stopper:
    """Why the loop should stop at this step boundary, if it should: Ctrl-C (a second one aborts
    at once), the time limit, or the step limit."""

    def __init__(
        self, cfg: TrainConfig, t_start: float, global_step: int, dist: DistInfo | None = None
    ):
        self.dist = dist
        self.t_start = t_start
        self.limit_s = 60 * cfg.limit_time_minutes if cfg.limit_time_minutes else None
        self.max_steps = cfg.stop_after_steps
        self.steps_at_start = global_step
        self.interrupted = False
        self._old_handler: Any = None
        self._pid = os.getpid()

    def __enter__(self) -> Stopper:
        if threading.current_thread() is threading.main_thread():
            self._old_handler = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._old_handler is not None:
            signal.signal(signal.SIGINT, self._old_handler)

    def _on_sigint(self, signum: int, frame: Any) -> None:
        if os.getpid() != self._pid:
            return  # a forked DataLoader worker: the main process decides
        if self.interrupted:
            raise KeyboardInterrupt
        self.interrupted = True
        print(
            "\nCtrl-C: stopping after this step and saving last.pt (Ctrl-C again to abort)",
            file=sys.stderr,
        )

    def reason(self, global_step: int) -> str | None:
        interrupted = self.interrupted
        late = self.limit_s is not None and time.monotonic() - self.t_start >= self.limit_s
        if self.dist is not None and self.dist.distributed:  # all ranks stop at the same step
            interrupted, late = any_rank([interrupted, late], self.dist)
        if interrupted:
            return "interrupted"
        if late:
            return "time limit"
        if self.max_steps is not None and global_step - self.steps_at_start >= self.max_steps:
            return "step limit"
        return None
