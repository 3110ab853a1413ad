"""Where a batch's tasks run: local worker processes (the default) or a Dask cluster. A runner
takes the entries to grade and calls ``done(entry, report)`` as each finishes."""
from __future__ import annotations

import collections
from typing import Callable

from grader.batch import Entry, grade_task
from grader.errors import GraderError

Runner = Callable[[list[Entry], Callable[[Entry, dict], None]], None]
Task = Callable[[str, Entry, str, str], dict]

AHEAD = 2   # entries sent to a worker before it asks: it never waits, memory stays flat
STRIKES = 2  # a submission that was running when its worker died this often is recorded so


def run_local(rubric_path: str, out: str, rubric_sig: str, jobs: int,
              task: Task = grade_task) -> Runner:
    """A runner on ``jobs`` local worker processes, each fed entries over a pipe of its own.
    A worker that dies (killed by a submission, say) costs only the entry it was running:
    that one is tried again on a fresh worker, and after STRIKES deaths recorded as having
    killed its grader; the entries queued behind it go to the others. An exception in the
    grader itself is that submission's failed row, not the end of the batch."""
    def run(entries: list[Entry], done: Callable[[Entry, dict], None]) -> None:
        import multiprocessing
        from multiprocessing.connection import wait

        if not entries:
            return
        ctx = multiprocessing.get_context("spawn")   # no fork of a threaded process
        pending = collections.deque(entries)
        strikes: dict[str, int] = collections.Counter()
        workers = [_WorkerProcess(ctx, task, (rubric_path, out, rubric_sig))
                   for _ in range(max(1, min(jobs, len(entries))))]
        finished = False
        try:
            for w in workers:
                w.feed(pending)
            while any(w.queue for w in workers):
                busy = {h: w for w in workers if w.queue for h in (w.conn, w.process.sentinel)}
                for worker in {busy[h] for h in wait(list(busy))}:
                    alive, report = worker.receive()
                    if alive and report is None:
                        continue
                    if not alive:
                        entry = worker.queue.popleft()
                        strikes[entry.id] += 1
                        pending.extendleft(reversed(worker.queue))   # not started: no strike
                        worker.restart()
                        if strikes[entry.id] >= STRIKES:
                            done(entry, {"_failed": "the grader process running this "
                                                    "submission was killed (by it?)"})
                        else:
                            pending.appendleft(entry)
                    else:
                        done(worker.queue.popleft(), report)
                    for w in workers:
                        w.feed(pending)
            finished = True
        finally:   # interrupted: stop at once; what is graded is in the journal already
            for w in workers:
                w.stop(wait=finished)
    return run


class _WorkerProcess:
    """One worker process and the entries sent to it, oldest (the one running) first."""

    def __init__(self, ctx, task: Task, args: tuple[str, str, str]) -> None:
        self.ctx, self.task, self.args = ctx, task, args
        self.queue: collections.deque[Entry] = collections.deque()
        self._start()

    def _start(self) -> None:
        ours, theirs = self.ctx.Pipe()
        self.process = self.ctx.Process(target=_serve, args=(theirs, self.task, *self.args),
                                        daemon=True)
        self.process.start()
        theirs.close()
        self.conn = ours

    def feed(self, pending: collections.deque) -> None:
        while pending and len(self.queue) < AHEAD:
            entry = pending.popleft()
            self.queue.append(entry)
            try:
                self.conn.send(entry)
            except OSError:   # dead already: receive() will say so
                return

    def receive(self) -> tuple[bool, dict | None]:
        """(True, report of the oldest entry), (False, None) if the worker died, or
        (True, None) if there is nothing yet."""
        try:
            if self.conn.poll():
                return True, self.conn.recv()
        except (EOFError, OSError):
            return False, None
        return self.process.is_alive(), None

    def restart(self) -> None:
        self.stop(wait=False)
        self.queue.clear()
        self._start()

    def stop(self, wait: bool = True) -> None:
        """Ask the worker to finish (``wait``: give it a few seconds), then kill it."""
        if wait:
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.process.join(timeout=5)
        self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join()


def _serve(conn, task: Task, rubric_path: str, out: str, rubric_sig: str) -> None:
    """A worker process: grade each entry received, answer with its report, until None."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)   # the batch decides when its workers stop
    while True:
        try:
            entry = conn.recv()
        except (EOFError, OSError):
            return
        if entry is None:
            return
        try:
            report = task(rubric_path, entry, out, rubric_sig)
        except Exception as exc:  # a grader bug costs this row, not the batch
            report = {"_failed": f"the grader failed on this submission: "
                                 f"{type(exc).__name__}: {exc}"}
        conn.send(report)


def run_dask(address: str, rubric_path: str, out: str, rubric_sig: str) -> Runner:
    """A runner on an existing Dask distributed cluster: one task per submission."""
    def run(entries: list[Entry], done: Callable[[Entry, dict], None]) -> None:
        try:
            from distributed import Client, as_completed as dask_completed
        except ImportError:
            raise GraderError("--dask needs the 'distributed' package "
                              "(pip install 'nn-grader[dask]')") from None
        with Client(address) as client:
            futures = {client.submit(grade_task, rubric_path, e, out, rubric_sig, pure=False,
                                     key=f"grade-{e.id}-{e.signature[:12]}"): e
                       for e in entries}
            for future in dask_completed(list(futures)):
                entry = futures[future]
                try:
                    done(entry, future.result())
                except Exception as exc:  # a worker lost, or the task failed on it
                    done(entry, {"_failed": f"the cluster could not grade it: {exc}"})
    return run
