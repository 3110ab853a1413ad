"""The fork server: a clean process (numpy imported, nothing secret loaded) that forks one
sandboxed child per submission, and kills and reaps them with everything they started."""
from __future__ import annotations

import gc
import json
import os
import _socket
import signal
import sys
from typing import NoReturn

from grader.sandbox import linux, server, worker


def serve(sock: _socket.socket, narrow: bool = False) -> NoReturn:
    """Answer spawn / reap requests on ``sock`` until it closes. ``narrow``: first enter the
    narrow view sandbox users get (see linux.narrow_view), once for all children."""
    linux.die_with_parent()
    linux.adopt_orphans()
    view = False
    if narrow:
        from grader import workspace

        view = linux.narrow_view(linux.python_paths(), workspace.scratch_base())
    linux.forget_environment()
    linux.seccomp_filter()   # built once here; each child only installs it
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the grader decides when we stop
    worker.warm()
    worker.rehearse()   # children inherit the worker's code specialised and its caches filled
    # every object so far moves out of the collector's reach: a child's collections never walk
    # (and so never copy) the pages it shares with this process (no collection first: that
    # would cost a single grading run's child ten milliseconds)
    gc.freeze()
    workers: dict[int, int | None] = {}   # pid -> sandbox uid
    finished: dict[int, int] = {}         # pid -> exit status, reaped early
    spare = _fork(sock)   # forked ahead, while the grader loads the rubric and stages
    while True:
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            os._exit(0)
        msg = json.loads(data)
        if msg["op"] == "spawn" and view and msg.get("uid") is not None:
            # once: every child sees it, the spare forked before it too (one mount namespace)
            linux.cover(msg.get("limits", {}).get("hide", []), linux.python_paths())
        if msg["op"] == "spawn":
            if spare is None:
                spare = _fork(sock)
            (pid, fds), spare = _hand_over(spare, msg), None
            workers[pid] = msg.get("uid")
            server.send_fds(sock, json.dumps({"pid": pid, "view": view}).encode(), fds)
            for fd in fds:
                os.close(fd)
            if msg.get("more"):   # the grader will ask again: fork the next one now
                spare = _fork(sock)
        elif msg["op"] == "reap":
            status = _reap(msg["pid"], workers, finished, spare)
            try:
                sock.send(json.dumps({"status": status}).encode())
            except OSError:   # a grader that did not wait for the answer, and has exited
                os._exit(0)


PIPE_BYTES = 1 << 20   # a whole script's requests and replies fit: neither side waits on the other


def _widen(*fds: int) -> None:
    """Pipes of PIPE_BYTES (the default 64 KiB makes a child with many replies wait until the
    grader, busy verifying vectors, reads them); the system's limit where it is lower."""
    import fcntl

    for fd in fds:
        try:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        except (OSError, AttributeError):
            pass   # a lower pipe-max-size, or an older kernel: the default size still works


def _fork(sock: _socket.socket) -> tuple[int, int, int]:
    """A child forked ahead of need, waiting for its limits and sandbox uid: (pid, the write
    end of its request pipe, the read end of its reply pipe)."""
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    _widen(req_w, resp_w)
    pid = os.fork()
    if pid == 0:
        try:
            sock.close()
            os.close(req_w)
            os.close(resp_r)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            worker.run(req_r, resp_w)
        finally:
            os._exit(70)
    os.close(req_r)
    os.close(resp_w)
    return pid, req_w, resp_r


def _hand_over(spare: tuple[int, int, int], msg: dict) -> tuple[int, list[int]]:
    """Tell a forked child its limits and sandbox uid; its pid and the pipe ends for the
    grader."""
    from grader.sandbox import protocol

    pid, req_w, resp_r = spare
    try:
        protocol.write_frame(req_w, {"limits": msg.get("limits", {}), "uid": msg.get("uid")})
    except OSError:   # it died waiting: the grader sees a child that does not greet
        pass
    return pid, [req_w, resp_r]


def _reap(pid: int, workers: dict[int, int | None], finished: dict[int, int],
          spare: tuple[int, int, int] | None = None) -> int | None:
    """Kill a worker's process group, collect its exit status, clean up what it left behind."""
    if pid not in workers:
        return None
    workers.pop(pid)
    linux.kill_group(pid)
    status = finished.pop(pid, None)
    if status is None:
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            status = None
    # Nothing else of a sandbox user can be alive here: with RLIMIT_NPROC=1 it can neither fork
    # nor start a thread, so the killed group was all of it.
    _sweep(workers, finished, spare[0] if spare else None)
    return None if status is None else os.waitstatus_to_exitcode(status)


def _sweep(workers: dict[int, int | None], finished: dict[int, int],
           spare: int | None = None) -> None:
    """Kill orphans re-parented to us (not our workers, nor the spare child) and reap every
    dead child."""
    for child in linux.children(os.getpid()):
        if child not in workers and child != spare:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid in workers:
            finished[pid] = status


if __name__ == "__main__":
    serve(_socket.socket(fileno=int(sys.argv[1])), narrow=sys.argv[2:] == ["narrow"])
