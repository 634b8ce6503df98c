"""Worker processes end with the process that started them, even one killed outright."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the kernel request is Linux's"
)

# a parent that forks a DataLoader-like worker (init_worker, as every loader here starts its
# workers), prints the worker's pid and waits to be killed
PARENT = textwrap.dedent(
    """
    import os, sys, time
    from facepoints.workers import init_worker
    parent = os.getpid()
    child = os.fork()
    if child == 0:
        init_worker(parent, 0)
        time.sleep(120)
        os._exit(0)
    print(child, flush=True)
    time.sleep(120)
    """
)


def _alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_worker_ends_when_its_parent_is_killed():
    proc = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        child = int(proc.stdout.readline())
        time.sleep(0.5)  # the worker has made its request
        assert _alive(child)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), "the worker outlived its killed parent"
    finally:
        proc.kill()
        proc.wait(30)


def test_a_worker_whose_parent_is_already_gone_ends_at_once():
    """The parent died between the fork and the request: the worker ends there and then."""
    code = textwrap.dedent(
        """
        import os
        from facepoints.workers import die_with_parent
        die_with_parent(os.getppid() + 1_000_000)  # not its parent: as if that one had gone
        print("still here", flush=True)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "still here" not in done.stdout
