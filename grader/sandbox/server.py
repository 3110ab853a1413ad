"""Starting the Linux fork server, and its socket: a SOCK_SEQPACKET pair that carries file
descriptors, used through the C module (socket.py's enum classes cost milliseconds at import,
on every grading run, for nothing needed here)."""
from __future__ import annotations

import _socket
import os
import sys
import threading
from pathlib import Path

from grader.records import record


@record
class Started:
    """A fork server running, and the grader's end of its socket."""
    pid: int
    sock: _socket.socket
    narrow: bool
    process: object = None   # the Popen of a server started as a fresh interpreter


def start(narrow: bool | None = None) -> Started:
    """Start the fork server. ``narrow``: children will run as sandbox users, so the server
    first narrows what they can see (default: when running as root)."""
    narrow = os.geteuid() == 0 if narrow is None else narrow
    if narrow:  # scratch folders in memory, shared with the server forked next
        from grader import workspace

        workspace.private_scratch()
    return launch(narrow, fork=threading.active_count() == 1)


def launch(narrow: bool, fork: bool) -> Started:
    """Fork the server from this process (only when it has no other thread), or start it as a
    fresh interpreter: clean by construction, whatever this process holds."""
    ours, theirs = pair()
    process = None
    if fork:
        # the server's code imported here, not after the fork: there, every page the import
        # touches is a copy-on-write fault, and the import takes three times as long
        from grader.sandbox import zygote
        pid = os.fork()
        if pid == 0:  # keep only the socket: no pipe of this process may leak to children
            try:   # never back into the grader's own code below: the server ends here
                keep = theirs.fileno()
                os.closerange(3, keep)
                os.closerange(keep + 1, 1 << 16)
                zygote.serve(theirs, narrow)
            finally:
                os._exit(70)
    else:
        import subprocess

        home = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [home] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
        process = subprocess.Popen(
            [sys.executable, "-m", "grader.sandbox.zygote", str(theirs.fileno()),
             *(["narrow"] if narrow else [])],
            pass_fds=[theirs.fileno()], env=env, cwd=home)
        pid = process.pid
    theirs.close()
    return Started(pid, ours, narrow, process)


def supported() -> bool:
    """True where the fork server's socket works: a unix SOCK_SEQPACKET pair that carries file
    descriptors (Linux; macOS lacks SOCK_SEQPACKET, Windows all of it)."""
    return (hasattr(_socket, "SOCK_SEQPACKET") and hasattr(_socket, "SCM_RIGHTS")
            and hasattr(_socket, "socketpair") and hasattr(_socket.socket, "sendmsg")
            and hasattr(_socket, "CMSG_LEN"))


def pair() -> tuple[_socket.socket, _socket.socket]:
    """A connected pair of unix sockets that keep message boundaries."""
    return _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)


def send_fds(sock: _socket.socket, data: bytes, fds: list[int]) -> None:
    """Send ``data`` with the file descriptors ``fds`` (one message)."""
    import array

    sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", fds))])


def recv_fds(sock: _socket.socket, size: int, most: int) -> tuple[bytes, list[int]]:
    """One message and the file descriptors that came with it (at most ``most``)."""
    import array

    data, ancillary, _, _ = sock.recvmsg(size, _socket.CMSG_LEN(most * 4))
    fds = array.array("i")
    for level, kind, payload in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    return data, list(fds)
