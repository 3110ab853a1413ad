"""Starting the portable sandbox's interpreters, kept free of numpy so that the first one can
start before the grader itself imports numpy: both load it at once, on two cores."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from grader.errors import GraderError

HOME = str(Path(__file__).resolve().parents[2])
# What the child's environment keeps from ours: what Python, numpy and Windows need to start.
KEEP_ENV = ("PATH", "SYSTEMROOT", "WINDIR", "LANG", "LC_ALL", "LC_CTYPE", "OPENBLAS_NUM_THREADS",
            "OMP_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def boot() -> subprocess.Popen:
    """A fresh interpreter importing numpy and the worker, then waiting for its set-up frame."""
    kwargs: dict = {}
    if sys.platform == "win32":
        kwargs["creationflags"] = subprocess.CREATE_NO_WINDOW | \
            subprocess.CREATE_NEW_PROCESS_GROUP
    else:
        kwargs["start_new_session"] = True  # its own process group, killed as one
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "grader.sandbox.portable_child"], cwd=HOME,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            bufsize=0, env=child_env(), **kwargs)
    except OSError as exc:
        raise GraderError(f"cannot start the sandbox's Python ({sys.executable}): "
                          f"{exc}") from None


def child_env() -> dict[str, str]:
    """The child's whole environment: what the interpreter needs, nothing of the grader's."""
    env = {k: os.environ[k] for k in KEEP_ENV if k in os.environ}
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")   # no BLAS thread pool to start: the interpreter boots faster
    paths = [HOME] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def reachable_by_others(folder: str) -> bool:
    """True when users other than its owner may enter ``folder`` and every folder above it."""
    import stat

    path = Path(folder).resolve()
    for part in [path, *path.parents]:
        try:
            if not part.stat().st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def interpreter_open() -> bool:
    """Can a sandbox user read this interpreter's files (not when it lives under /root)?"""
    return reachable_by_others(sys.base_prefix) and reachable_by_others(sys.prefix)
