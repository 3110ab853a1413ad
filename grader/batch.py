"""Grade a folder of submissions: in parallel, isolated, resumable.

Each submission is graded by a task (`grade_task`) that runs in a worker process: local worker
processes, or a Dask cluster. A task writes the submission's results.json and report.html and
returns its report; then the batch, and only the batch, appends a line for it to OUT's journal
(`graded.jsonl`): that line is the commit point. A batch started again skips submissions whose
line matches the rubric and the submission and whose files are there; the gradebook and the
class summary are always rebuilt from the journal, so a batch killed at any moment loses
nothing and never duplicates a row.
"""
from __future__ import annotations

from collections.abc import Sequence

import csv
import hashlib
import io
import json
import os
from grader.records import record
from pathlib import Path
from typing import Iterable

from grader.errors import GraderError
from grader.roster import Skipped, notes, skip_counts, skip_reason, unique_ids

JOURNAL = "graded.jsonl"
MARKER_VERSION = 2
FILES = ("results.json", "report.html")
STAFF_OUTPUT = "staff-output.txt"
# A cell starting with one of these is a formula to a spreadsheet (OWASP: CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@record(frozen=True)
class Entry:
    """One submission of the batch: its id, where it is, and a signature of its content."""
    id: str
    path: Path
    signature: str
    name: str = ""       # the folder's or archive's own name, as the gradebook shows it


@record(frozen=True)
class Summary:
    """What a batch run did."""
    total: int
    graded_now: int
    skipped: int
    errored: int
    notes: tuple[str, ...]


def discover(folder: Path) -> tuple[list[Entry], list[Skipped], list[str]]:
    """Every folder or archive in ``folder``, each with an id of its own; what was skipped (only
    what is not a submission at all); and notes for the TA."""
    if not folder.is_dir():
        raise GraderError(f"{folder}: not a folder of submissions")
    paths, skipped = [], []
    for path in sorted(folder.iterdir()):
        reason = skip_reason(path)
        if reason:
            skipped.append(Skipped(path.name, reason))
        else:
            paths.append(path)
    ids = unique_ids(paths)
    entries = [Entry(sid, path.absolute(), signature(path), path.name)
               for sid, path in zip(ids, paths)]
    return entries, skipped, notes([p.name for p in paths], ids, skipped)


def signature(path: Path) -> str:
    """Changes whenever the submission does (names, sizes and times of its files)."""
    digest = hashlib.sha256()
    if path.is_file():
        st = path.stat()
        digest.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
        return digest.hexdigest()
    for here, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            try:
                st = os.lstat(os.path.join(here, name))
            except OSError:
                continue
            rel = os.path.relpath(os.path.join(here, name), path)
            digest.update(f"{rel}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def rubric_signature(rubric_path: Path) -> str:
    """The rubric text and the vector manifest: regrade when either changes."""
    from grader import rubric as rubric_mod

    rub = rubric_mod.load(rubric_path)
    digest = hashlib.sha256(rubric_path.read_bytes())
    try:
        digest.update((rub.vectors_dir / "manifest.json").read_bytes())
    except OSError:
        pass
    return digest.hexdigest()


def read_journal(out: Path) -> dict[str, dict]:
    """The last line of the journal for each submission id (a damaged line is skipped: that
    submission is graded again)."""
    lines: dict[str, dict] = {}
    try:
        text = (out / JOURNAL).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return lines
    for line in text.splitlines():
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("version") == MARKER_VERSION \
                and isinstance(data.get("id"), str):
            lines[data["id"]] = data
    return lines


def saved_report(line: dict | None, out: Path, entry: Entry, rubric_sig: str) -> dict | None:
    """The report a journal line holds if it is current (same submission, same rubric and
    vectors) and the submission's files are still there; else None: grade it again."""
    if line is None or line.get("signature") != entry.signature or \
            line.get("rubric") != rubric_sig:
        return None
    report = line.get("report")
    if not isinstance(report, dict) or not isinstance(report.get("checks"), list):
        return None
    if not all((out / entry.id / name).is_file() for name in FILES):
        return None
    return report


class Journal:
    """OUT's journal, appended to by the batch process alone: one line per submission graded,
    each written whole with one system call (a batch killed mid-line leaves a line that is
    skipped, and the next batch starts on a fresh line)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if os.fstat(self.fd).st_size:
            with open(path, "rb") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    os.write(self.fd, b"\n")

    def add(self, entry: Entry, rubric_sig: str, report: dict) -> None:
        line = json.dumps({"version": MARKER_VERSION, "id": entry.id,
                           "signature": entry.signature, "rubric": rubric_sig,
                           "report": report}, default=_as_json) + "\n"
        os.write(self.fd, line.encode())

    def close(self, keep: list[dict] | None = None) -> None:
        """Stop appending; with ``keep``, rewrite the journal with exactly those lines (none
        superseded, none of submissions no longer in the folder)."""
        os.close(self.fd)
        if keep is not None:
            _write(self.path, "".join(json.dumps(line, default=_as_json) + "\n"
                                      for line in keep))


# --- the task, run in a worker process --------------------------------------------------------

class _Worker:
    """Per-process state: a fork server started before anything secret is loaded, then the
    rubric and the verified vectors, kept for every task this process runs."""
    current: "_Worker | None" = None

    def __init__(self, rubric_path: str) -> None:
        from grader import collect_rarely
        from grader.sandbox.backend import open_sandbox

        collect_rarely()
        self.zygote = open_sandbox(prestart=True)
        from grader import rubric as rubric_mod
        from grader import vectors as vectors_mod

        self.rubric_path = rubric_path
        self.rubric = rubric_mod.load(rubric_path)
        self.vectors = vectors_mod.load(self.rubric)

    @classmethod
    def get(cls, rubric_path: str) -> "_Worker":
        if cls.current is None or cls.current.rubric_path != rubric_path:
            cls.current = cls(rubric_path)
        return cls.current


def grade_task(rubric_path: str, entry: Entry, out: str, rubric_sig: str) -> dict:
    """Grade one submission and write its files; returns the compact form of its report."""
    from grader.grade import grade_path

    worker = _Worker.get(rubric_path)
    report = grade_path(entry.path, worker.rubric, worker.vectors, worker.zygote,
                        hide=(Path(out).resolve(),), name=entry.id)
    write_files(Path(out) / entry.id, report, worker.rubric)
    return compact(report.to_dict())


def write_files(folder: Path, report, rubric) -> None:
    """A submission's results.json (Gradescope) and report.html, for the student; and, when
    its code printed anything once a hidden case ran, that output for staff alone."""
    from grader import render

    folder.mkdir(parents=True, exist_ok=True)
    results = render.gradescope(report, rubric.gradescope_hidden_visibility)
    _write(folder / FILES[0], render.results_json(results))
    _write(folder / FILES[1], render.html(report))
    if report.staff_output or report.staff_output_dropped:
        _write(folder / STAFF_OUTPUT, staff_text(report))
    else:   # a regraded submission that no longer prints keeps no stale file
        (folder / STAFF_OUTPUT).unlink(missing_ok=True)


def staff_text(report) -> str:
    """What the code printed once hidden cases had run: never shown to the student (it may
    quote hidden inputs), escaped so that it is safe to read in a terminal."""
    from grader.render import printable

    more = (f", {report.staff_output_dropped} more characters not kept"
            if report.staff_output_dropped else "")
    return (f"# {printable(report.submission)}: what the code printed once hidden cases had "
            f"run (for course staff only{more})\n{printable(report.staff_output)}")


def _write(path: Path, text: str) -> None:
    """Write atomically: a reader (or a batch restarted after a kill) sees the old file or the
    new one, never half of one. (No fsync: a killed process loses nothing already written.)"""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _task_failed(rubric, entry: Entry, out: Path, reason: str) -> dict:
    """The row of a submission no worker could grade, with its files written here."""
    from grader.report import rejected

    report = rejected(rubric, entry.id, reason)
    write_files(out / entry.id, report, rubric)
    return compact(report.to_dict())


def run_batch(submissions: Path, out: Path, rubric_path: Path, jobs: int | None = None,
              force: bool = False, dask: str | None = None, progress: bool = True) -> Summary:
    """Grade every submission in ``submissions`` into ``out``; then write the gradebook and the
    class summary from the journal's reports."""
    from grader import rubric as rubric_mod

    rubric_path = rubric_path.resolve()
    rub = rubric_mod.load(rubric_path)   # a bad rubric stops here, before any work
    out.mkdir(parents=True, exist_ok=True)
    entries, skipped, notes = discover(submissions)
    rubric_sig = rubric_signature(rubric_path)
    journal = {} if force else read_journal(out)
    reports: dict[str, dict] = {}
    for entry in entries:
        saved = saved_report(journal.get(entry.id), out, entry, rubric_sig)
        if saved is not None:
            reports[entry.id] = compact(saved)
    todo = [e for e in entries if e.id not in reports]
    bar = _progress(len(todo), progress)
    log = Journal(out / JOURNAL)

    def done(entry: Entry, report: dict) -> None:
        if "_failed" in report:
            report = _task_failed(rub, entry, out, report["_failed"])
        reports[entry.id] = report
        log.add(entry, rubric_sig, report)   # the commit point: after its files are written
        bar.update(1)

    from grader import executors

    runner = executors.run_dask(dask, str(rubric_path), str(out), rubric_sig) if dask else \
        executors.run_local(str(rubric_path), str(out), rubric_sig, jobs or os.cpu_count() or 1)
    finished = False
    try:
        runner(todo, done)
        finished = True
    finally:
        bar.close()
        log.close([{"version": MARKER_VERSION, "id": e.id, "signature": e.signature,
                    "rubric": rubric_sig, "report": reports[e.id]}
                   for e in entries if e.id in reports] if finished else None)
    ordered = Expanded([{**reports[e.id], "name": e.name} for e in entries if e.id in reports],
                       rub)
    write_gradebook(out / "gradebook.csv", rub, ordered)
    from grader.summary import summary_html

    _write(out / "summary.html", summary_html(ordered, rub, skipped=skip_counts(skipped)))
    errored = sum(1 for r in ordered if r.get("status") != "graded")
    return Summary(len(entries), len(todo), len(entries) - len(todo), errored, tuple(notes))


CHECK_ROW = ("id", "score", "status", "mistakes")   # a check as a batch keeps it


def compact(report: dict) -> dict:
    """What the gradebook and the summary need of a report: no messages or output, and its
    checks as columns (see Checks), so the memory of a batch grows little with its size or
    what its submissions print."""
    keep = {k: report.get(k) for k in ("submission", "status", "score", "max_score", "summary",
                                       "mistakes")}
    keep["checks"] = Checks.of(report.get("checks", []))
    return keep


_SHARED: dict = {}


def _shared(value):
    """One object for equal values across the batch's reports (ids, statuses, scores)."""
    return _SHARED.setdefault(value, value)


class Checks:
    """A report's checks as columns: ids, scores, statuses (each tuple shared with every
    report that has the same one) and the named mistakes by position; a check's title, points
    and component come from the rubric. In the journal, a list of [id, score, status,
    mistakes] rows."""
    __slots__ = ("ids", "scores", "statuses", "mistakes")

    def __init__(self, ids: tuple, scores: tuple, statuses: tuple, mistakes: dict) -> None:
        self.ids, self.scores, self.statuses, self.mistakes = ids, scores, statuses, mistakes

    @classmethod
    def of(cls, checks) -> "Checks":
        """From a report's check dicts, from journal rows, or as it is."""
        if isinstance(checks, Checks):
            return checks
        rows = [c if isinstance(c, list) else [c.get(k) for k in CHECK_ROW] for c in checks]
        rows = [(r + [None] * 4)[:4] for r in rows]
        return cls(_shared(tuple(str(r[0]) for r in rows)),
                   _shared(tuple(_shared(r[1]) for r in rows)),
                   _shared(tuple(str(r[2]) for r in rows)),
                   {i: list(r[3]) for i, r in enumerate(rows) if r[3]})

    def rows(self) -> list[list]:
        return [[cid, score, status, self.mistakes.get(i) or []] for i, (cid, score, status)
                in enumerate(zip(self.ids, self.scores, self.statuses))]

    def __iter__(self):
        return iter(self.rows())


def _as_json(value):
    """json.dumps' fallback: a Checks object as its rows."""
    if isinstance(value, Checks):
        return value.rows()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class Expanded(Sequence):
    """Compact reports seen as whole ones (each check a dict with its title, visibility,
    points and component from the rubric), each made when it is read: the summary and the
    gradebook read reports one at a time."""

    def __init__(self, reports: list[dict], rubric) -> None:
        self.reports = reports
        self.meta = {c.id: {"title": c.title, "visibility": c.visibility,
                            "max_score": c.points, "component": c.component}
                     for c in rubric.checks}

    def __len__(self) -> int:
        return len(self.reports)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        report = self.reports[index]
        return {**report, "checks": [self._check(row) for row in report.get("checks", [])]}

    def _check(self, row: list) -> dict:
        cid, score, status, mistakes = row
        meta = self.meta.get(cid) or {"title": cid, "visibility": "public", "max_score": 0,
                                      "component": cid.split(".", 1)[0] if "." in cid else ""}
        return {"id": cid, "score": score, "status": status, "mistakes": mistakes or [], **meta}


SUBTOTAL = "{} total"      # the header of a component's subtotal column


def write_gradebook(path: Path, rubric, reports: Iterable[dict]) -> None:
    """One row per submission: id, the folder's or archive's name, total, max, status, each
    component's subtotal (``<component> total``), each check's points, named mistakes. A
    check worth no points (a consistency check) says ``pass`` or ``fail`` (``fail`` when it
    did not run) rather than a 0 that reads like a lost point. Numbers stay numbers; no text
    cell is a formula."""
    from grader.render import printable

    checks = rubric.checks
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([_cell(h) for h in ("id", "name", "total", "max", "status",
                                        *(SUBTOTAL.format(c.id) for c in rubric.components),
                                        *(c.id for c in checks), "mistakes")])
    for r in reports:
        by_id = {c["id"]: c for c in r["checks"]}
        name = printable(str(r.get("name") or r["submission"]))
        subtotals = [round(sum(float(by_id.get(c.id, {}).get("score") or 0) for c in comp.checks),
                           4) for comp in rubric.components]
        writer.writerow([_cell(r["submission"]), _cell(name), _num(r["score"]),
                         _num(r["max_score"]), _cell(r["status"]), *map(_num, subtotals),
                         *(_check_cell(c, by_id.get(c.id)) for c in checks),
                         _cell(";".join(r.get("mistakes", [])))])
    _write(path, buf.getvalue())


def _check_cell(check, result: dict | None) -> str:
    """A check's cell: its points, or pass/fail for a check worth none."""
    if check.points == 0:
        return "pass" if result is not None and result.get("status") == "passed" else "fail"
    return _num(float((result or {}).get("score") or 0))


def _cell(text: str) -> str:
    """A text cell a spreadsheet shows as text: one that would start a formula gets a quote."""
    return f"'{text}" if text.startswith(FORMULA_START) else text


def _num(value: float) -> str:
    return f"{value:g}"


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool):
    """A progress bar on a terminal (tqdm), nothing elsewhere."""
    if not enabled:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, unit="submission", desc="grading", disable=None, dynamic_ncols=True)
