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


def kill_group(pid: int) -> None:
    """SIGKILL a sandboxed child's process group (it leads one once set up), then the child
    itself (before that); nothing if it is gone already."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


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
SCRATCH = ("/tmp", "/dev/shm")   # world-writable: covered too, TMPDIR is the scratch folder


def narrow_view(expose: list[str], writable: str) -> bool:
    """Once, in the fork server that serves sandbox users (root only): a mount namespace where
    the system folders are as they are; every other top-level folder (/home, /root, /srv,
    /var, /tmp, /work...) and /dev/shm are covered by empty read-only folders, with only
    ``expose`` (the interpreter's folders) bound back read-only and ``writable`` (the scratch
    folders) bound back read-write; and / itself is read-only. So no copy of a rubric or of
    hidden vectors anywhere on the machine can be read. Children forked from here inherit the
    view. False if the kernel or the container refuses (then only file permissions protect
    those files)."""
    libc = _load()
    if libc is None or libc.unshare(CLONE_NEWNS) != 0:
        return False
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return False
    keep = {p: os.open(p, os.O_PATH | os.O_DIRECTORY) for p in [*expose, writable]
            if os.path.isdir(p)}
    tops = {f"/{d}" for d in os.listdir("/") if d not in SYSTEM_TOP
            and os.path.isdir(f"/{d}") and not os.path.islink(f"/{d}")}
    # /tmp and /dev/shm too: a sandbox user writes only in its own scratch folder (TMPDIR),
    # so nothing one submission leaves behind can reach another
    covers = tops | {p for p in SCRATCH if os.path.isdir(p)}
    covers |= {b for b in (_blocking_ancestor(p) for p in expose) if b}
    mounted, ok = [], True
    for cover in sorted(covers, key=len):   # all covers first...
        if os.path.isdir(cover):             # (not one already under an earlier cover)
            ok &= _tmpfs(libc, cover, b"size=64k,mode=0755")
            mounted.append(cover)
    for path, fd in keep.items():            # ...then what must stay visible, bound back...
        os.makedirs(path, exist_ok=True)
        source = f"/proc/self/fd/{fd}"
        ok &= _bind(libc, source, path) if path == writable else \
            _bind_read_only(libc, source, path)
        os.close(fd)
    for name in os.listdir("/"):             # files right under / too (a key, a token...)
        path = f"/{name}"
        if os.path.isfile(path) and not os.path.islink(path):
            ok &= _bind_read_only(libc, "/dev/null", path)
    for cover in mounted:                    # ...then the covers made read-only
        libc.mount(b"none", cover.encode(), None,
                   MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
    libc.mount(b"none", b"/", None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)
    return ok


def private_tmpfs(path: str, options: str) -> bool:
    """Root only: move this thread into a mount namespace of its own (mounts made private, so
    nothing propagates back to the machine) and mount a tmpfs with ``options`` on ``path``.
    Processes forked afterwards share it; it disappears with the last of them. False if the
    kernel or the container refuses."""
    libc = _load()
    if libc is None or libc.unshare(CLONE_NEWNS) != 0:
        return False
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return False
    return _tmpfs(libc, path, options.encode())


def cover(paths: list[str], expose: list[str]) -> bool:
    """Cover each path of ``paths`` still visible here with an empty read-only folder, binding
    back (read-only) any path of ``expose`` inside it, such as a virtual environment kept in
    the project (in the fork server's narrow view; children forked later inherit it)."""
    libc = _load()
    ok = libc is not None
    for path in paths:
        if not (ok and os.path.isdir(path) and os.listdir(path)):
            continue
        inside = [p for p in expose if (p + "/").startswith(path.rstrip("/") + "/")]
        keep = {p: os.open(p, os.O_PATH | os.O_DIRECTORY) for p in inside if os.path.isdir(p)}
        ok &= _tmpfs(libc, path, b"size=64k,mode=0755")
        for target, fd in keep.items():
            os.makedirs(target, exist_ok=True)
            ok &= _bind_read_only(libc, f"/proc/self/fd/{fd}", target)
            os.close(fd)
        libc.mount(b"none", path.encode(), None,
                   MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
    return ok


def _tmpfs(libc, path: str, data: bytes) -> bool:
    return libc.mount(b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, data) == 0


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


# --- seccomp: what student code may not ask the kernel for ------------------------------------

PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
RET_ALLOW, RET_KILL = 0x7FFF0000, 0x80000000
EPERM, ENOSYS = 1, 38
CLONE_NEW_ANY = 0x7E020080   # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME
# Denied: every socket (no network, no unix socket to anything, loopback included), System V
# and POSIX message IPC, keyrings, new namespaces, io_uring (which can open sockets itself),
# reading or tracing other processes, bpf and perf.
DENIED = ("socket", "msgget", "semget", "shmget", "mq_open", "add_key", "request_key", "keyctl",
          "unshare", "setns", "ptrace", "process_vm_readv", "process_vm_writev", "bpf",
          "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
          "io_uring_register")
ARCHES = {   # audit arch, the syscall numbers above and clone's, x32's bit (x86_64 only)
    "x86_64": (0xC000003E, {"socket": 41, "msgget": 68, "semget": 64, "shmget": 29,
                            "mq_open": 240, "add_key": 248, "request_key": 249, "keyctl": 250,
                            "unshare": 272, "setns": 308, "ptrace": 101,
                            "process_vm_readv": 310, "process_vm_writev": 311, "bpf": 321,
                            "perf_event_open": 298, "userfaultfd": 323, "io_uring_setup": 425,
                            "io_uring_enter": 426, "io_uring_register": 427, "clone": 56,
                            "clone3": 435}, 0x40000000),
    "aarch64": (0xC00000B7, {"socket": 198, "msgget": 186, "semget": 190, "shmget": 194,
                             "mq_open": 180, "add_key": 217, "request_key": 218, "keyctl": 219,
                             "unshare": 97, "setns": 268, "ptrace": 117,
                             "process_vm_readv": 270, "process_vm_writev": 271, "bpf": 280,
                             "perf_event_open": 241, "userfaultfd": 282, "io_uring_setup": 425,
                             "io_uring_enter": 426, "io_uring_register": 427, "clone": 220,
                             "clone3": 435}, None),
}


def seccomp_program() -> list[tuple[int, int, int, int]] | None:
    """The filter for this machine's architecture as (code, jt, jf, k) instructions; None on
    an architecture without a table here."""
    table = ARCHES.get(os.uname().machine)
    if table is None:
        return None
    arch, nr, x32 = table
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    errno = 0x00050000
    prog = [(ld, 0, 0, 4), (jeq, 1, 0, arch), (ret, 0, 0, RET_KILL), (ld, 0, 0, 0)]
    if x32 is not None:   # the x32 ABI's numbers would slip past the table
        prog += [(jge, 0, 1, x32), (ret, 0, 0, errno | ENOSYS)]
    for name in DENIED:
        prog += [(jeq, 0, 1, nr[name]), (ret, 0, 0, errno | EPERM)]
    prog += [(jeq, 0, 1, nr["clone3"]), (ret, 0, 0, errno | ENOSYS)]  # libc falls back to clone
    prog += [(jeq, 0, 4, nr["clone"]), (ld, 0, 0, 16), (jset, 0, 1, CLONE_NEW_ANY),
             (ret, 0, 0, errno | EPERM), (ret, 0, 0, RET_ALLOW)]
    prog += [(ret, 0, 0, RET_ALLOW)]
    return prog


_filter: list = []   # the compiled filter, built once in the fork server: [program, code]


def seccomp_filter():
    """The filter as the kernel takes it (a sock_fprog), built once per process and kept (the
    fork server builds it, so each child only has to install it); None where unsupported."""
    if _filter:
        return _filter[0]
    program = seccomp_program()
    if program is None:
        _filter.append(None)
        return None

    class Instruction(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                    ("k", ctypes.c_uint32)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Instruction))]

    code = (Instruction * len(program))(*[Instruction(*i) for i in program])
    _filter.extend([Program(len(program), code), code])
    return _filter[0]


def restrict_syscalls() -> bool:
    """Install the seccomp filter on this process (and whatever it starts). False where the
    kernel, the architecture or the C library does not allow it."""
    prog, libc = seccomp_filter(), _load()
    if prog is None or libc is None:
        return False
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    return libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) == 0


def forget_environment() -> None:
    """In the fork server, before any child: no variable of the grader's environment may reach
    student code. Empties os.environ, overwrites the strings it held, and zeroes the block the
    kernel shows as /proc/<pid>/environ (the grader's own, when the server was forked from it)."""
    import posix

    size = sys.getsizeof(b"") - 1   # where a bytes object's characters start
    for key, value in list(posix.environ.items()):
        for text in (key, value):
            if isinstance(text, bytes) and len(text) > 1:   # one-byte objects are shared
                ctypes.memset(id(text) + size, 0, len(text))
    os.environ.clear()
    posix.environ.clear()
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        start, end = int(fields[47]), int(fields[48])   # env_start, env_end (fields 50, 51)
    except (OSError, ValueError, IndexError):
        return
    if 0 < start < end:
        ctypes.memset(start, 0, end - start)
