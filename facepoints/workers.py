"""Worker processes that end with the process that started them.

A DataLoader worker that is handing a batch to its parent when the parent is killed outright
(SIGKILL, the out-of-memory killer) waits forever: its sibling workers hold the same pipe open,
so its write never fails, and it stays behind holding its memory. `init_worker` (every
DataLoader's `worker_init_fn` here) asks Linux to kill the worker when its parent ends.

    loader = DataLoader(..., worker_init_fn=functools.partial(init_worker, os.getpid()))
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

__all__ = ["init_worker", "die_with_parent"]

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent: int) -> bool:
    """Linux: this process gets SIGKILL when its parent ends (`prctl(PR_SET_PDEATHSIG)`), and
    ends at once where `parent` has already gone. False where the platform has no such request
    (the worker then ends only by the DataLoader's own checks)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent:  # the parent ended before the request was made
        os._exit(0)
    return True


def init_worker(parent: int, worker_id: int = 0) -> None:
    """A DataLoader worker's start: one torch thread (the workers share the CPU with each other
    and the model) and an end with its parent, `parent` being the pid that made the loader."""
    import torch

    # not cv2.setNumThreads: after the parent used OpenCV's pool (the training crop cache), that
    # call deadlocks in a forked worker
    torch.set_num_threads(1)
    die_with_parent(parent)
