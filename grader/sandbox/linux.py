"""Linux process controls that Python's standard library does not wrap."""
from __future__ import annotations

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

_libc = None


def prctl(option: int, value: int) -> bool:
    """Call prctl(2); False where it is unavailable (best effort: a safety net, not a must)."""
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
        return _libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies."""
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def adopt_orphans() -> None:
    """Become the subreaper: descendants that escape their process group are re-parented here."""
    prctl(PR_SET_CHILD_SUBREAPER, 1)


def children(pid: int) -> list[int]:
    """The live children of ``pid`` (empty where /proc does not list them)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def kill_user_processes(uid: int) -> None:
    """Kill every process owned by ``uid`` (root only): a sandbox user's leftovers."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)  # as that user, -1 reaches exactly its processes
        except OSError:
            pass
        os._exit(0)
    os.waitpid(pid, 0)
