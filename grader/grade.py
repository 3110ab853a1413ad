"""Grade one submission folder: run it in the sandbox, judge every check, build the Report."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from grader.rubric import PROBE_KINDS, Check, Rubric
from grader.runner import CaseRun, CaseUnit, InitUnit, Submission, Timeouts, run_units
from grader.sandbox.client import Zygote
from grader.trace import mark
from grader.vectors import VectorSet

if TYPE_CHECKING:
    from grader.report import CheckResult, Report
    from grader.checks import Context
    from grader.vectors import CaseVectors

MAX_OUTPUT = 8000


def grade_path(path: Path, rubric: Rubric, vectors: dict[str, CaseVectors] | VectorSet,
               zygote: Zygote,
               hide: tuple[Path, ...] = (), name: str | None = None) -> Report:
    """Grade a submission folder or archive: stage it (as root: for a sandbox user of its own,
    in a scratch folder removed afterwards), then grade it; a refused one gets a 0 report."""
    from grader import workspace

    with workspace.uid_lease() as uid:
        return _grade_staged(path, rubric, vectors, zygote, uid, hide, name)


def _grade_staged(path: Path, rubric: Rubric, vectors: dict[str, CaseVectors] | VectorSet,
                  zygote: Zygote,
                  uid: int | None, hide: tuple[Path, ...], name: str | None) -> Report:
    import sys
    import tempfile

    from grader import tree, workspace
    from grader.report import rejected

    # always a scratch folder: an archive is extracted there, a lone file put where the
    # handout puts it, and as root every submission is copied there for its sandbox user
    scratch = Path(tempfile.mkdtemp(prefix="grader-", dir=workspace.scratch_dir()))
    try:
        staged = workspace.stage(path, scratch, rubric, uid)
        if staged.root is None:
            return rejected(rubric, name or staged.name, staged.refused)
        return grade(staged.root, rubric, vectors, zygote, name=name or staged.name, uid=uid,
                     hide=workspace.secret_paths(rubric, hide))
    finally:
        # whatever the student's code left there (folders thousands deep, folders chmod 000):
        # removed as far as possible, and never an exception in place of the result
        left = tree.remove_tree(scratch)
        if left:
            print(f"grader: note: {left} entries left in {scratch}", file=sys.stderr)


def grade(root: Path, rubric: Rubric, vectors: dict[str, CaseVectors] | VectorSet, zygote: Zygote,
          name: str | None = None, uid: int | None = None, hide: list[str] = ()) -> Report:
    """Grade the submission in ``root`` (a folder laid out like the handout).

    ``vectors`` may be a VectorSet not yet verified: the cases are then sent with their inputs
    at once, and the files are verified and decoded while the child works."""
    sub = Submission(zygote, root, rubric, uid=uid, hide=tuple(hide))
    sub.start()
    mark("child started")
    if zygote.isolation() == "permissions only":
        from grader import workspace

        workspace.warn_open(list(hide))
    needed = [c for c in rubric.cases if any(c.name in ch.cases for ch in rubric.checks)]
    inputs = {c.name: (vectors.inputs(c.name) if isinstance(vectors, VectorSet)
                       else vectors[c.name].inputs) for c in needed}
    timeouts = Timeouts()
    cases = [CaseUnit(rubric, case, inputs[case.name], timeouts) for case in needed]
    probes: list = []
    if any(c.kind in PROBE_KINDS for c in rubric.checks):
        from grader import probe

        probes = probe.probe_units(rubric, inputs)
    random_init = sorted({t for c in rubric.checks if c.kind == "init" for t in c.targets
                          if rubric.init_rule(t).kind == "normal"})
    inits = [InitUnit(rubric, p, dict(rubric.init_rule(p).dims)) for p in random_init]
    verified: dict = {}

    def meanwhile() -> None:  # the child is running the student's code now
        verified.update(vectors.verify() if isinstance(vectors, VectorSet) else vectors)
        from grader import consistency, report  # noqa: F401  (loaded while the child works)
        mark("vectors verified")

    try:
        results = run_units(sub, [*cases, *probes, *inits], meanwhile)
    finally:
        sub.close()
    mark("cases and probes run")
    from grader.checks import Context

    runs = {run.case.name: run for run in results[:len(cases)]}
    probed = {u.case.name: r for u, r in zip(probes, results[len(cases):])}
    samples = {u.param: r for u, r in zip(inits, results[len(cases) + len(probes):])}
    ctx = Context(rubric, runs, verified, probed, samples)
    with np.errstate(all="ignore"):  # NaN and inf from student code are judged, not warned
        checked = tuple(evaluate(check, ctx) for check in rubric.checks)
    mark("judged")
    return _report(rubric, name or root.name, checked, runs, sub)


def evaluate(check: Check, ctx: "Context") -> CheckResult:
    """Judge one rubric row (the consistency kinds live in their own module)."""
    from grader import checks

    if check.kind in checks.JUDGES:
        return checks.evaluate(check, ctx)
    from grader import consistency

    return consistency.evaluate(check, ctx)


def _report(rubric: Rubric, name: str, results: tuple[CheckResult, ...],
            runs: dict[str, CaseRun], sub: Submission) -> Report:
    from grader import messages
    from grader.report import Report

    score = round(sum(r.score for r in results), 4)
    failures = [r for r in runs.values() if r.failure]
    status, summary, public, details = "graded", "", "", ""
    if failures and all(r.failed_stage == "import" for r in runs.values()):
        status = "not_importable"
        summary = public = "Your module could not be imported: " + messages.problem(
            failures[0].failure, "import", rubric)
        details = _excerpt(failures[0].failure)
    elif failures:
        status = "crashed"
        summary, public, details = _crash_summary(rubric, failures)
    output, staff = "".join(sub.output), "".join(sub.staff_output)
    return Report(rubric.assignment, name, status, score, rubric.max_score, results, summary,
                  details, output[:MAX_OUTPUT],
                  sub.output_dropped + max(0, len(output) - MAX_OUTPUT),
                  any(c.visibility == "hidden" for c in rubric.checks), public_summary=public,
                  staff_output=staff[:MAX_OUTPUT],
                  staff_output_dropped=sub.staff_output_dropped + max(0, len(staff) - MAX_OUTPUT),
                  sandbox=sub.zygote.describe())


def _crash_summary(rubric: Rubric, failures: list[CaseRun]) -> tuple[str, str, str]:
    """Each distinct failure once, with the cases it happened on: the summary, the same
    without hidden cases (what a student may see before grades are published), and the
    traceback of a public case only (an exception message may quote a hidden input)."""
    from grader import messages

    public = [r for r in failures if r.case.visibility == "public"]
    hidden = len(failures) - len(public)
    groups: dict[tuple, list[CaseRun]] = {}
    for run in public:  # the same failure at the same place, whatever numbers its message has
        p = run.failure
        groups.setdefault((run.failed_stage, p.kind, p.type, p.where), []).append(run)
    lines = []
    for g in groups.values():
        text = messages.problem(g[0].failure, g[0].failed_stage, rubric)
        lines.append(f"{text} (case{'s' if len(g) > 1 else ''} "
                     f"{', '.join(r.case.name for r in g)})")
    shown = "Some checks could not run: " + " ".join(lines) if lines else ""
    if hidden:
        lines.append(f"Your code also failed to run on {hidden} hidden case(s).")
    details = _excerpt(public[0].failure) if public else ""
    return "Some checks could not run: " + " ".join(lines), shown, details


def _excerpt(problem) -> str:
    """The student's traceback, or the offending line of a syntax error."""
    if problem.traceback:
        return problem.traceback.rstrip()
    if problem.line:
        return problem.line.rstrip()
    return ""
