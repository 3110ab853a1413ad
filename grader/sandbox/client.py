"""Parent side of the sandbox: start the fork server, spawn children, talk to them in time."""
from __future__ import annotations

import json
import os
import select
import threading
import time
from grader.records import record, field
from pathlib import Path
from typing import Callable

import numpy as np

from grader.sandbox import protocol, server
from grader.sandbox.protocol import Value

MAX_REPLY_BYTES = 256 << 20
KEEP_BYTES = 160 << 20   # every reply of one submission together: the grader's memory is bounded
SETUP_SECONDS = 5.0
ISOLATION = {
    "full view": "full view: a sandbox user of its own, seeing only the system's folders, the "
                 "interpreter and its scratch folder",
    "permissions only": "permissions only: a sandbox user of its own, with no narrow view of "
                        "the machine, so files are protected by their owners and modes alone",
    "same user": "same user: student code runs as the user running the grader",
}


@record(frozen=True)
class Problem:
    """Why a request produced no value: the student's exception, or the child's fate."""
    kind: str                # exception | timeout | budget | died | corrupt
    type: str = ""
    message: str = ""
    where: str = ""
    traceback: str = ""
    line: str = ""
    name: str | None = None  # for ImportError: the module that was not found
    exit_code: int | None = None

    @property
    def missing_path(self) -> bool:
        """An attribute path the grader reads or sets was not there: its message says so in
        full (no traceback to show)."""
        return self.type in ("PathNotFound", "Unwritten")

    @property
    def unwritten(self) -> bool:
        """The path ran into the skeleton's None: code not written yet, not a crash."""
        return self.type == "Unwritten"


@record(frozen=True)
class Reply:
    """The answer to one request: values, or a problem; plus what the student printed."""
    values: tuple[Value, ...] = ()
    changed: tuple[bool, ...] = ()   # for each input of a call: changed in place by it
    problem: Problem | None = None
    output: str = ""
    output_dropped: int = 0
    got: tuple[Value, ...] = ()   # attributes read right after the call ("get" in the request)
    step: int | None = None       # which step of a script this answers (None: not from the child)
    failed: tuple[tuple[str, "Problem"], ...] = ()   # an import's classes that did not load

    @property
    def ok(self) -> bool:
        return self.problem is None


class Zygote:
    """Handle on the fork server. Start it before anything secret is loaded in this process."""

    name = "linux"

    def __init__(self, narrow: bool | None = None) -> None:
        """``narrow``: children will run as sandbox users, so the server first narrows what
        they can see (default: when running as root). The vector generator, which runs the
        trusted reference as this user, passes False."""
        self._lock = threading.Lock()
        self._owed = 0   # answers to reaps not waited for, still to be read (see reap)
        self._ordered: dict | None = None   # a spawn request sent ahead, not yet answered
        self._adopt(server.start(narrow))

    def _adopt(self, started: "server.Started") -> None:
        self.narrow, self.pid, self.sock = started.narrow, started.pid, started.sock
        self.process = started.process

    def _start(self, fork: bool) -> None:
        self._adopt(server.launch(self.narrow, fork))

    def _ask(self, msg: dict, want_fds: int = 0) -> tuple[dict, list[int]]:
        with self._lock:
            for attempt in (0, 1):
                try:
                    self.sock.send(json.dumps(msg).encode())
                    data, fds = server.recv_fds(self.sock, 65536, want_fds)
                    if data:
                        return json.loads(data), fds
                except OSError:
                    pass
                if attempt == 0:  # the fork server died (a student killed it): start a clean one
                    self._reap_self()
                    self._start(fork=False)
            raise OSError("the sandbox fork server does not answer")

    def _reap_self(self) -> None:
        self.sock.close()
        try:
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass

    view: bool | None = None   # did the server get its narrow view (known after a spawn)
    more = False   # many children will be asked for (a batch): the server forks each ahead
    exiting = False   # this process exits after one submission: its child is not waited for

    def isolation(self) -> str:
        """What student code is kept from: "full view", "permissions only" or "same user"."""
        if not self.narrow:
            return "same user"
        return "full view" if self.view else "permissions only"

    def describe(self) -> str:
        """The report's log line."""
        return f"Linux fork server; {ISOLATION[self.isolation()]}"

    def order(self, limits: dict, uid: int | None = None) -> None:
        """Ask for a child now, and take it later (``spawn`` with the same limits and uid):
        the server forks it while this process does other work."""
        self._settle()
        msg = self._spawn_request(limits, uid)
        with self._lock:
            try:
                self.sock.send(json.dumps(msg).encode())
            except OSError:
                return   # spawn asks again (and starts a new server if this one died)
            self._ordered = msg

    def _spawn_request(self, limits: dict, uid: int | None) -> dict:
        """The request for a child: one for ``order`` and ``spawn`` alike, so that a child
        ordered is taken exactly when it was ordered with the same limits and uid."""
        return {"op": "spawn", "limits": limits, "uid": uid, "more": self.more}

    def answered(self, wait: float = 0.0) -> bool:
        """True when the child ordered is there to take (``spawn`` would not wait), waiting
        for it at most ``wait`` seconds."""
        if self._ordered is None:
            return True
        import select

        return bool(select.select([self.sock], [], [], wait)[0])

    def _take_order(self, want: dict | None) -> tuple[dict, list[int]] | None:
        """The server's answer to the order sent ahead, if it was ``want``; a child ordered
        and no longer wanted is given back."""
        ordered, self._ordered = self._ordered, None
        if ordered is None:
            return None
        with self._lock:
            try:
                data, fds = server.recv_fds(self.sock, 65536, 2)
                reply = json.loads(data) if data else None
            except (OSError, ValueError):
                return None
        if reply is not None and ordered == want:
            return reply, fds
        for fd in fds:
            os.close(fd)
        if reply is not None and "pid" in reply:
            self._ask({"op": "reap", "pid": reply["pid"]})
        return None

    def spawn(self, root: Path, limits: dict, uid: int | None = None) -> "Child":
        """Fork a sandboxed child, then tell it (not the server, which forks every child and
        so must never hold a submission's path) where the student code is."""
        msg = self._spawn_request(limits, uid)
        ordered = self._take_order(msg)
        self._settle()
        reply, fds = ordered or self._ask(msg, want_fds=2)
        self.view = bool(reply.get("view"))
        child = Child(self, reply["pid"], fds[0], fds[1])
        child.send({"op": "setup", "root": str(root)}, [], SETUP_SECONDS)
        return child

    def reap(self, pid: int, wait: bool = True) -> int | None:
        """Kill a child with its process group and return its exit code (-N: signal N).
        ``wait=False``: the caller has killed it already and needs no exit code: the server is
        asked to collect it, and its answer is read before the next request (not waited for)."""
        self._settle()
        if not wait:
            with self._lock:
                try:
                    self.sock.send(json.dumps({"op": "reap", "pid": pid}).encode())
                    self._owed += 1
                except OSError:
                    pass   # the server is gone, and its children with it
            return None
        reply, _ = self._ask({"op": "reap", "pid": pid})
        return reply.get("status")

    def _settle(self) -> None:
        """Read what the server still owes (an order's answer, reaps not waited for), so that
        each request gets its own answer."""
        self._take_order(None)
        with self._lock:
            while self._owed:
                self._owed -= 1
                try:
                    server.recv_fds(self.sock, 65536, 0)
                except OSError:
                    self._owed = 0

    def close(self, wait: bool = True) -> None:
        """Stop the fork server (it exits when its socket closes)."""
        self.sock.close()
        if wait:
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass


@record
class Child:
    """One sandboxed process and its channel."""
    zygote: Zygote
    pid: int
    req_fd: int
    resp_fd: int
    dead: Problem | None = None
    budget: "Budget | None" = None   # the submission's, shared by every child it needs
    _rest: memoryview | None = None  # what send_early could not write yet
    _queued: list = field(default_factory=list)   # answers read but not yet asked for (last first)
    reader: protocol.FrameReader = field(init=False)

    def __post_init__(self) -> None:
        import fcntl  # POSIX only, like this class: the portable child has its own

        self.reader = protocol.FrameReader(self.resp_fd, MAX_REPLY_BYTES)
        fcntl.fcntl(self.req_fd, fcntl.F_SETFL, fcntl.fcntl(self.req_fd, fcntl.F_GETFL)
                    | os.O_NONBLOCK)

    def ready(self, timeout: float) -> Reply:
        """Wait for the child's greeting."""
        return self._receive(time.monotonic() + timeout, timeout)

    def request(self, header: dict, arrays: list[np.ndarray] = (), timeout: float = 3.0) -> Reply:
        """Send one request and wait at most ``timeout`` seconds for its reply."""
        problem = self.send(header, arrays, timeout)
        return Reply(problem=problem) if problem else self.receive(timeout)

    def send(self, header: dict, arrays: list[np.ndarray], timeout: float) -> Problem | None:
        """Write one request frame; a Problem if the child is gone or does not read it."""
        if self.dead:
            return self.dead
        return self._write(memoryview(protocol.encode_frame(header, list(arrays))), timeout)

    def _write(self, data: memoryview, timeout: float) -> Problem | None:
        deadline = time.monotonic() + timeout
        while data:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [self.req_fd], [], left)[1]:
                return self._too_slow(timeout)
            try:
                data = data[os.write(self.req_fd, data[:65536]):]
            except BrokenPipeError:
                return self._died().problem
        return None

    def send_early(self, header: dict, arrays: list[np.ndarray]) -> Problem | None:
        """Write what the channel takes now, without waiting: the child may still be busy (an
        import). ``flush`` writes the rest."""
        return self.send_frame_early(protocol.encode_frame(header, list(arrays)))

    def send_frame(self, data: bytes, timeout: float) -> Problem | None:
        """Write one frame already encoded."""
        if self.dead:
            return self.dead
        return self._write(memoryview(data), timeout)

    def send_frame_early(self, data: bytes) -> Problem | None:
        """``send_early`` for a frame already encoded."""
        if self.dead:
            return self.dead
        data = memoryview(data)
        try:
            while data:
                data = data[os.write(self.req_fd, data[:65536]):]
        except BlockingIOError:
            self._rest = data
        except BrokenPipeError:
            return self._died().problem
        return None

    def flush(self, timeout: float) -> Problem | None:
        """Finish what ``send_early`` left, waiting at most ``timeout`` seconds."""
        data, self._rest = self._rest, None
        if data is None or self.dead:
            return self.dead
        return self._write(data, timeout)

    def read_script(self, headers: list[dict], timeout: float,
                    budget: "Budget | None" = None,
                    progress: Callable[[list[Reply]], None] | None = None) -> list[Reply]:
        """The replies to a script (``script_frame``) sent: one per step up to the first that
        failed; each answer may take ``timeout`` seconds from the one before. A quiet step
        that succeeded gets an empty reply. When the child times out or dies after quiet
        steps, the failure goes to the next step that had to answer (sets are quiet, and the
        call they prepare is what runs long). ``budget``: the submission's total time, which
        no answer may overrun. ``progress``: called with the replies so far as they come."""
        replies: list[Reply] = []
        quiet = [bool(h.get("quiet")) for h in headers[:-1]] + [False]
        # each call of the student's code has ``timeout`` seconds: an answer that follows quiet
        # calls (a warm-up forward) may take that long for each of them
        calls = [h.get("op") in ("call", "construct") for h in headers]
        allowed, spent = [], 0
        for is_call, is_quiet in zip(calls, quiet):
            spent += is_call
            allowed.append(timeout * max(1, spent))
            spent = spent if is_quiet else 0
        while len(replies) < len(headers):
            wait = allowed[quiet.index(False, len(replies))]
            reply = self.receive(wait) if budget is None else budget.receive(self, wait)
            done, k = len(replies), reply.step
            if k is None and not reply.ok:    # timed out, died or corrupt: no step of its own
                k = quiet.index(False, done)
            elif k is None or not done <= k < len(headers) or not all(quiet[done:k]):
                reply = self.fail(Problem(
                    "corrupt", message=f"an answer for step {k} where step {done} was due"))
                k = done
            replies += [Reply()] * (k - done)
            replies.append(reply)
            if not reply.ok:
                break
            if progress is not None:
                progress(replies)
        return replies

    def receive(self, timeout: float) -> Reply:
        """Read the next reply, waiting at most ``timeout`` seconds."""
        if self.dead:
            return Reply(problem=self.dead)
        return self._receive(time.monotonic() + timeout, timeout)

    def _receive(self, deadline: float, timeout: float) -> Reply:
        if self._queued:   # the rest of a frame that brought several answers
            return self._queued.pop()
        budget = self.budget
        if budget is not None:   # what the grader keeps of one submission is bounded in all
            self.reader.max_bytes = max(0, min(MAX_REPLY_BYTES, budget.bytes_left))
        try:
            header, arrays = self.reader.read(deadline)
        except protocol.ChannelTimeout:
            return self.fail(Problem("timeout", message=f"no answer within {timeout:g} s"))
        except protocol.ChannelClosed:
            return self._died()
        except protocol.ChannelCorrupt as exc:
            if budget is not None and self.reader.max_bytes < MAX_REPLY_BYTES:
                return self.fail(Problem("corrupt", message=(
                    f"it sent more than the {KEEP_BYTES >> 20} MiB of data the grader accepts "
                    f"from one submission")))
            return self.fail(Problem("corrupt", message=str(exc)))
        if budget is not None:
            budget.bytes_left -= sum(a.nbytes for a in arrays) + len(str(header))
        try:
            answers = header.get("answers")
            if answers is None:
                return _reply(header, arrays)[0]
            if not isinstance(answers, list) or not answers:
                raise protocol.ChannelCorrupt("answers are not a list")
            replies, index = [], 0
            for answer in answers:
                if not isinstance(answer, dict):
                    raise protocol.ChannelCorrupt("an answer is not a mapping")
                reply, index = _reply(answer, arrays, index)
                replies.append(reply)
            if index != len(arrays):
                raise protocol.ChannelCorrupt("arrays left over")
        except (protocol.ChannelCorrupt, TypeError, ValueError, AttributeError) as exc:
            return self.fail(Problem("corrupt", message=f"malformed reply: {exc}"))
        self._queued.extend(reversed(replies[1:]))
        return replies[0]

    def _too_slow(self, timeout: float) -> Problem:
        """Give the child up for not taking a request within ``timeout`` seconds."""
        return self.fail(Problem("timeout", message=f"no answer within {timeout:g} s")).problem

    def _died(self) -> Reply:
        code = self.close()
        return self.fail(Problem("died", exit_code=code))

    def fail(self, problem: Problem) -> Reply:
        """Give the child up (killed, and every later request answered by ``problem``)."""
        self.close()
        self.dead = problem
        return Reply(problem=problem)

    def close(self, wait: bool = True) -> int | None:
        """Kill the child (and its group) if still alive; return its exit code. ``wait=False``
        (nobody needs the code): killed from here, at once; the fork server collects it while
        the grader goes on, without waiting for it to be gone."""
        if self.req_fd < 0:
            return None
        for fd in (self.req_fd, self.resp_fd):
            os.close(fd)
        self.req_fd = self.resp_fd = -1
        if not wait:
            from grader.sandbox import linux

            linux.kill_group(self.pid)
        return self.zygote.reap(self.pid, wait)


@record
class Budget:
    """A submission's total wall time, shared by every request and child it needs: code that
    sleeps just under each call's limit is stopped here and keeps what it earned so far. It
    runs from the first child's greeting: starting the sandbox is not the student's time."""
    seconds: float
    deadline: float | None = field(default=None, init=False)
    bytes_left: int = KEEP_BYTES

    def begin(self) -> None:
        """Start the clock (once)."""
        if self.deadline is None:
            self.deadline = time.monotonic() + self.seconds

    def left(self) -> float:
        return self.seconds if self.deadline is None else self.deadline - time.monotonic()

    def problem(self) -> Problem:
        return Problem("budget", message=f"its total time of {self.seconds:g} s ran out")

    def limit(self, timeout: float) -> float:
        """``timeout``, cut to what is left of the budget."""
        return max(0.0, min(timeout, self.left()))

    def receive(self, child: "Child", timeout: float) -> Reply:
        """The child's next reply within ``timeout`` and the budget; a budget problem when
        the budget is what ran out (the child is then given up)."""
        if self.left() < timeout:
            reply = child.receive(self.limit(timeout))
            if reply.problem is not None and reply.problem.kind == "timeout":
                child.dead = self.problem()
                return Reply(problem=child.dead)
            return reply
        return child.receive(timeout)


def script_frame(steps: list[tuple[dict, list[np.ndarray]]], each: bool = False) -> bytes:
    """Many requests as one frame: the child runs them in turn and answers each, up to the
    first that fails. A step marked "quiet" is answered only if it fails (the last step always
    answers). ``each``: the child sends each answer as soon as it has it (by default answers
    may wait a few milliseconds to go together, and are lost if the child dies meanwhile)."""
    headers = [dict(h, n=len(a)) for h, a in steps]
    if headers:
        headers[-1].pop("quiet", None)
    script = {"op": "script", "steps": headers, **({"each": True} if each else {})}
    return protocol.encode_frame(script, [a for _, arrs in steps for a in arrs])


def _reply(header: dict, arrays: list[np.ndarray], index: int = 0) -> tuple[Reply, int]:
    """The Reply an answer describes, its values taken from ``arrays`` from ``index`` on, and
    the index of the next answer's first array."""
    out = str(header.get("out", ""))
    dropped = int(header.get("out_dropped", 0) or 0)
    step = header.get("step")
    if step is not None and type(step) is not int:
        raise protocol.ChannelCorrupt("step is not an integer")
    if not header.get("ok"):
        err = header.get("error") or {}
        if not isinstance(err, dict):
            raise protocol.ChannelCorrupt("error is not a mapping")
        return Reply(problem=_problem(err), output=out, output_dropped=dropped, step=step), index
    failed = header.get("failed", {})
    if not isinstance(failed, dict) or len(failed) > 1000 or not all(
            isinstance(k, str) and isinstance(v, dict) for k, v in failed.items()):
        raise protocol.ChannelCorrupt("failed is not a mapping of errors")
    values, got = header.get("values", []), header.get("got", [])
    changed = header.get("changed", [])
    if not (isinstance(values, list) and isinstance(got, list) and isinstance(changed, list)):
        raise protocol.ChannelCorrupt("values are not a list")
    if len(changed) > 100 or not all(type(c) is bool for c in changed):
        raise protocol.ChannelCorrupt("changed is not a list of booleans")
    decoded = []
    for entry in values + got:
        value, index = protocol.decode_value(entry, arrays, index)
        decoded.append(value)
    return Reply(tuple(decoded[:len(values)]), tuple(changed), None, out, dropped,
                 tuple(decoded[len(values):]), step,
                 tuple((k[:100], _problem(v)) for k, v in failed.items())), index


def _problem(err: dict) -> Problem:
    """A Problem from the child's description of an exception (bounded: it is hostile)."""
    return Problem(
        "exception", str(err.get("type", "Exception"))[:80], str(err.get("message", ""))[:1000],
        str(err.get("where", ""))[:200], str(err.get("traceback", ""))[:4000],
        str(err.get("line", ""))[:200], err.get("name") if isinstance(err.get("name"), str)
        else None)
