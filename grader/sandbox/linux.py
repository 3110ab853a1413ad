"""Linux process controls that Python's standard library does not wrap."""
from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

_libc = None


def prctl(option: int, value: int) -> bool:
    """Call prctl(2); False where it is unavailable (best effort: a safety net, not a must)."""
    libc = _load()
    return libc is not None and libc.prctl(option, value, 0, 0, 0) == 0


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


CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND = 1, 2, 4, 32, 4096
MS_REC, MS_PRIVATE = 1 << 14, 1 << 18


def python_paths() -> list[str]:
    """Folders the sandboxed interpreter must still read: its installation and packages."""
    import site

    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages()}
    return sorted(p for p in paths if p and os.path.isdir(p))


SYSTEM_TOP = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "dev", "proc",
              "sys"}
SCRATCH = ("/tmp", "/dev/shm")   # replaced by empty, writable, private folders


def private_mounts(hide: list[str], expose: list[str], writable: str) -> bool:
    """In a new mount namespace (root only), give the sandbox user a narrow view:
    the system folders as they are (read-only); every other top-level folder (/home, /root,
    /srv, /var, /work...) and every path in ``hide`` covered by an empty read-only folder, with
    only ``expose`` (the interpreter's folders) bound back read-only and ``writable`` (the
    submission's scratch folder) read-write; empty private /tmp and /dev/shm. So no copy of a
    rubric or of hidden vectors anywhere on the machine can be read. False if the kernel or
    the container refuses (then only file permissions protect them)."""
    libc = _load()
    if libc is None or libc.unshare(CLONE_NEWNS) != 0:
        return False
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return False
    flags = MS_NOSUID | MS_NODEV
    keep = {p: os.open(p, os.O_PATH | os.O_DIRECTORY) for p in [*expose, writable]
            if os.path.isdir(p)}
    tops = {f"/{d}" for d in os.listdir("/") if d not in SYSTEM_TOP
            and os.path.isdir(f"/{d}") and not os.path.islink(f"/{d}")}
    covers = tops | set(hide) | {b for b in (_blocking_ancestor(p) for p in expose) if b}
    covers |= {p for p in SCRATCH if os.path.isdir(p)}
    mounted, ok = [], True
    for cover in sorted(covers, key=len):   # all covers first...
        if os.path.isdir(cover):             # (not one already under an earlier cover)
            data = b"size=16m,mode=1777" if cover in SCRATCH else b"size=64k,mode=0755"
            ok &= libc.mount(b"tmpfs", cover.encode(), b"tmpfs", flags, data) == 0
            mounted.append(cover)
    for path, fd in keep.items():            # ...then what must stay visible, bound back...
        os.makedirs(path, exist_ok=True)
        source = f"/proc/self/fd/{fd}"
        ok &= _bind(libc, source, path) if path == writable else \
            _bind_read_only(libc, source, path)
        os.close(fd)
    for cover in mounted:                    # ...then the covers made read-only
        if cover not in SCRATCH:
            libc.mount(b"none", cover.encode(), None, MS_REMOUNT | MS_RDONLY | flags, None)
    libc.mount(b"none", b"/", None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)
    return ok


def _bind(libc, source: str, target: str) -> bool:
    return libc.mount(source.encode(), target.encode(), None, MS_BIND | MS_REC, None) == 0


def _bind_read_only(libc, source: str, target: str) -> bool:
    if libc.mount(source.encode(), target.encode(), None, MS_BIND | MS_REC, None) != 0:
        return False
    libc.mount(b"none", target.encode(), None, MS_BIND | MS_REMOUNT | MS_RDONLY, None)
    return True


def _blocking_ancestor(path: str) -> str | None:
    """The first folder on the way to ``path`` that other users may not pass through."""
    current = "/"
    for part in os.path.realpath(path).strip("/").split("/"):
        current = os.path.join(current, part)
        try:
            if not os.stat(current).st_mode & 0o001:
                return current
        except OSError:
            return None
    return None


def _load():
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    return _libc
