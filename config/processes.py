"""Processes never outlive the command that started them.

`config/run.py` owns the signals: its children run in their own session (the terminal's Ctrl-C reaches
run.py only, which then stops each child with exactly one signal), and each child asks the kernel for a
parent-death signal (PR_SET_PDEATHSIG), so a SIGKILLed run.py still takes them down. django-q2's cluster
forks a sentinel, which forks workers, a monitor and a pusher (multiprocessing, fork): the flag is cleared
by fork, so `die_with_parent_after_fork` sets it again in every forked child.

Where prctl is missing (not Linux), a daemon thread polls the parent pid once a second instead.
"""

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
from collections.abc import Callable

PR_SET_PDEATHSIG = 1
PARENT_POLL_SECONDS = 1.0

_libc: ctypes.CDLL | None = None


def _prctl_pdeathsig(sig: int) -> bool:
    global _libc
    if not sys.platform.startswith("linux"):
        return False
    try:
        if _libc is None:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return _libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int, sig: int) -> None:
    def watch() -> None:
        while True:
            threading.Event().wait(PARENT_POLL_SECONDS)
            if os.getppid() != parent:
                os.kill(os.getpid(), sig)
                return

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def die_with_parent(sig: int = signal.SIGTERM, *, parent: int | None = None) -> None:
    """Receive `sig` when the parent process dies (also if it died before this call)."""
    expected = os.getppid() if parent is None else parent
    if not _prctl_pdeathsig(sig):
        _watch_parent(expected, sig)
    if os.getppid() != expected:  # the parent died before the flag was set: the kernel will not tell us
        os.kill(os.getpid(), sig)


def die_with_parent_after_fork(sig: int = signal.SIGTERM) -> None:
    """In this process and every process forked from it (and their forks), `die_with_parent(sig)`."""
    os.register_at_fork(after_in_child=lambda: die_with_parent(sig))


def child_preexec(sig: int = signal.SIGTERM) -> Callable[[], None]:
    """A Popen preexec_fn: the child gets `sig` when the process that started it dies."""
    parent = os.getpid()

    def preexec() -> None:
        die_with_parent(sig, parent=parent)

    return preexec
