"""Where a batch's tasks run: a local process pool (the default) or a Dask cluster. A runner
takes the entries to grade and calls ``done(entry, report)`` as each finishes."""
from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Callable

from grader.batch import Entry, grade_task
from grader.errors import GraderError

Runner = Callable[[list[Entry], Callable[[Entry, dict], None]], None]


def run_local(rubric_path: str, out: str, rubric_sig: str, jobs: int) -> Runner:
    """A runner on a local process pool; a pool broken by a submission is rebuilt, and a
    submission in flight during two breaks is recorded as having killed its grader."""
    def run(entries: list[Entry], done: Callable[[Entry, dict], None]) -> None:
        import multiprocessing

        strikes: dict[str, int] = {}
        pending = list(entries)
        while pending:
            ctx = multiprocessing.get_context("spawn")   # no fork of a threaded process
            with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
                queue, pending = pending, []
                running: dict[Future, Entry] = {}
                while queue or running:
                    while queue and len(running) < 4 * jobs:  # bounded: memory stays flat
                        e = queue.pop(0)
                        running[pool.submit(grade_task, rubric_path, e, out, rubric_sig)] = e
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in finished:
                        entry = running.pop(future)
                        try:
                            done(entry, future.result())
                        except BrokenProcessPool:
                            strikes[entry.id] = strikes.get(entry.id, 0) + 1
                            if strikes[entry.id] >= 2:
                                done(entry, {"_failed": "the grader process running this "
                                                        "submission was killed (by it?)"})
                            else:
                                pending.append(entry)
                    if pending:  # the pool is broken: start a new one for the rest
                        pending += queue + list(running.values())
                        break
    return run


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
