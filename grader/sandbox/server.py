"""Starting the Linux fork server, kept free of numpy: the server is forked before the grader
imports numpy, so both import it at once, on two cores, while the grader also loads the
rubric and stages the submission (neither needs numpy)."""
from __future__ import annotations

import os
import socket
import sys
import threading
from pathlib import Path

from grader.records import record


@record
class Started:
    """A fork server running, and the grader's end of its socket."""
    pid: int
    sock: socket.socket
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
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    process = None
    if fork:
        pid = os.fork()
        if pid == 0:  # keep only the socket: no pipe of this process may leak to children
            keep = theirs.fileno()
            os.closerange(3, keep)
            os.closerange(keep + 1, 1 << 16)
            from grader.sandbox import zygote
            zygote.serve(theirs, narrow)
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
