"""Parent side of the portable sandbox: a fresh Python interpreter per submission.

For macOS and Windows, and Linux hosts where the fork server cannot start. It uses only what
every OS has: ``subprocess`` (no fork), the child's standard pipes as the channel, and threads
to read and write them (``select`` waits on sockets only, on Windows). The wall-time limit and
the kill are enforced from here; memory and CPU limits are set by the child where its OS
offers them. Student code still never runs in this process and never receives expected
values: the channel and the worker are the fork server's."""
from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from grader.records import record
from pathlib import Path

import numpy as np

from grader.errors import GraderError
from grader.sandbox import portable_boot, protocol
from grader.sandbox.client import ISOLATION, MAX_REPLY_BYTES, Child, Problem, Reply

# a cold laptop, an antivirus scanning numpy: the sandbox's time, not the student's
BOOT_SECONDS = 120.0


class PortableSandbox:
    """Starts one interpreter per submission. With ``prestart``, the next one is always booting
    (importing numpy) while the current submission is graded; it has held nothing until its
    set-up frame names its submission."""

    name = "portable"
    exiting = False   # as the fork server's; here every child is waited for

    def __init__(self, narrow: bool | None = None, prestart: bool = True,
                 spare: subprocess.Popen | None = None) -> None:
        """``narrow`` is accepted for the Linux backend's sake: there is no narrow view here.
        ``spare``: an interpreter already booting (see portable_boot)."""
        self.prestart = prestart
        self._open = portable_boot.interpreter_open()
        self._procs: dict[int, subprocess.Popen] = {}
        if spare is not None:
            self._procs[spare.pid] = spare
        self._spare: subprocess.Popen | None = spare or self._boot()

    def describe(self) -> str:
        """The report's log line."""
        from grader import workspace
        from grader.sandbox import worker

        limits = worker.limits_available()
        held = f"time, {', '.join(limits)} limits" if limits else \
            "a time limit only (this OS offers no memory or CPU limit)"
        user = f"; {ISOLATION[self.isolation()]}"
        if workspace.is_root() and not self._open:
            user += (f"; {sys.base_prefix} is closed to other users, so student code imports "
                     f"only numpy and the common modules loaded before it starts")
        return f"portable (a fresh Python per submission; {held}{user})"

    def isolation(self) -> str:
        """"permissions only" as root (a sandbox user of its own), else "same user"."""
        from grader import workspace

        return "permissions only" if workspace.is_root() else "same user"

    def _boot(self) -> subprocess.Popen:
        proc = portable_boot.boot()
        self._procs[proc.pid] = proc
        return proc

    def spawn(self, root: Path, limits: dict, uid: int | None = None) -> "PortableChild":
        """A child for the submission in ``root``: the interpreter booted ahead, told its
        folder, its limits and its user."""
        proc = self._spare
        if proc is None or proc.poll() is not None:   # none, or killed while it waited
            proc = self._boot()
        self._spare = self._boot() if self.prestart else None
        child = PortableChild(self, proc.pid, -1, -1, proc=proc)
        setup = {"op": "setup", "root": str(root), "limits": limits, "uid": uid}
        child.setup_problem = child.send(setup, [], BOOT_SECONDS)
        return child

    def order(self, limits: dict, uid: int | None = None) -> None:
        """Nothing to ask ahead: the next interpreter is always booting already."""

    def answered(self, wait: float = 0.0) -> bool:
        """``spawn`` takes the interpreter booted ahead (see order)."""
        return True

    def reap(self, pid: int) -> int | None:
        """Kill a child (with its process group where the OS has them); its exit code."""
        proc = self._procs.pop(pid, None)
        if proc is None:
            return None
        if proc.poll() is None:
            _kill(proc)
        try:
            return proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            return None

    def close(self, wait: bool = True) -> None:
        """Stop every interpreter still running (the spare among them)."""
        for pid in list(self._procs):
            proc = self._procs[pid]
            for pipe in (proc.stdin, proc.stdout):
                try:
                    pipe.close()
                except OSError:
                    pass
            if wait:
                self.reap(pid)
            elif proc.poll() is None:
                _kill(proc)
        self._spare = None


def _kill(proc: subprocess.Popen) -> None:
    if sys.platform == "win32":
        proc.kill()
        return
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


@record
class PortableChild(Child):
    """A child over its standard pipes; reads and writes go through threads, with deadlines."""
    proc: subprocess.Popen | None = None
    setup_problem: Problem | None = None
    _writing: tuple | None = None    # a frame a thread is writing: (done, failed)

    def __post_init__(self) -> None:
        self.reader = ThreadedReader(self.proc.stdout, MAX_REPLY_BYTES)

    def ready(self, timeout: float) -> Reply:
        """Wait for the greeting. The interpreter's start-up is the sandbox's time, so it gets
        BOOT_SECONDS; and since no student code has run before the greeting, a child that
        cannot start is the grader's fault (numpy missing, say), not the student's."""
        if self.setup_problem is not None:
            self._boot_failed(self.setup_problem.message or self.setup_problem.kind)
        reply = self._receive(time.monotonic() + max(timeout, BOOT_SECONDS), BOOT_SECONDS)
        if reply.problem is not None:
            p = reply.problem
            self._boot_failed(p.message if p.kind == "exception" else
                              f"it {p.kind} before it was ready (exit code {p.exit_code})"
                              if p.kind == "died" else p.message or p.kind)
        return reply

    def _boot_failed(self, why: str) -> None:
        self.fail(Problem("died"))
        raise GraderError(f"the sandbox's Python ({sys.executable}) could not start: {why}")

    def send(self, header: dict, arrays: list[np.ndarray], timeout: float) -> Problem | None:
        """Write one frame from a thread, waiting at most ``timeout`` seconds for the child to
        take it."""
        return self.send_frame(protocol.encode_frame(header, list(arrays)), timeout)

    def send_frame(self, data: bytes, timeout: float) -> Problem | None:
        problem = self.send_frame_early(data)
        return problem if problem is not None else self.flush(timeout)

    def send_frame_early(self, data: bytes) -> Problem | None:
        """Start writing one frame from a thread and return at once; ``flush`` waits for it."""
        if self.dead:
            return self.dead
        if self.proc is None:   # closed already
            return Problem("died")
        done = threading.Event()
        failed: list[BaseException] = []
        pipe = self.proc.stdin   # the thread may outlive this child's handle (a timeout)

        def write() -> None:
            try:
                view = memoryview(data)
                while view:
                    view = view[pipe.write(view[:65536]) or 0:]
            except (OSError, ValueError) as exc:  # the child is gone, or we closed the pipe
                failed.append(exc)
            done.set()

        threading.Thread(target=write, daemon=True).start()
        self._writing = (done, failed)
        return None

    def flush(self, timeout: float) -> Problem | None:
        """Wait at most ``timeout`` seconds for the frame being written to be taken."""
        writing, self._writing = self._writing, None
        if writing is None or self.dead:
            return self.dead
        done, failed = writing
        if not done.wait(timeout):
            return self._too_slow(timeout)
        if failed:
            return self._died().problem
        return None

    def close(self, wait: bool = True) -> int | None:
        """Kill the child if still alive; return its exit code (here always waited for)."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        for pipe in (proc.stdin, proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        return self.zygote.reap(proc.pid)


class ThreadedReader(protocol.FrameReader):
    """Frames from a pipe read by a thread of its own, so that waits have deadlines on every
    OS. Only the thread reads the pipe; only the caller touches the buffer."""

    def __init__(self, pipe, max_bytes: int) -> None:
        super().__init__(-1, max_bytes)
        self.chunks: queue.Queue[bytes] = queue.Queue()
        self.pending = b""
        self.closed = False
        threading.Thread(target=self._pump, args=(pipe,), daemon=True).start()

    def _pump(self, pipe) -> None:
        try:
            while True:
                chunk = pipe.read(1 << 16)
                if not chunk:
                    break
                self.chunks.put(chunk)
        except (OSError, ValueError):  # closed under us
            pass
        self.chunks.put(b"")

    def _recv(self, n: int, deadline: float | None) -> bytes:
        if not self.pending:
            if self.closed:
                return b""
            try:
                self.pending = self.chunks.get(
                    timeout=None if deadline is None else max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise protocol.ChannelTimeout() from None
            if not self.pending:
                self.closed = True
                return b""
        data, self.pending = self.pending[:n], self.pending[n:]
        return data

    def _recv_into(self, view: memoryview, deadline: float | None) -> int:
        data = self._recv(len(view), deadline)
        view[:len(data)] = data
        return len(data)
