"""Grade one submission folder: run it in the sandbox, judge every check, build the Report."""
from __future__ import annotations

from pathlib import Path

from grader import checks as checks_mod
from grader import messages
from grader.checks import CheckResult, Context
from grader.report import Report
from grader.rubric import Check, Rubric
from grader.runner import CaseRun, Submission, run_case
from grader.sandbox.client import Zygote
from grader.vectors import CaseVectors

MAX_OUTPUT = 8000


def grade(root: Path, rubric: Rubric, vectors: dict[str, CaseVectors], zygote: Zygote,
          name: str | None = None, uid: int | None = None) -> Report:
    """Grade the submission in ``root`` (a folder laid out like the handout)."""
    sub = Submission(zygote, root, rubric, uid=uid)
    needed = [c for c in rubric.cases if any(c.name in ch.cases for ch in rubric.checks)]
    runs: dict[str, CaseRun] = {}
    try:
        for case in needed:
            runs[case.name] = run_case(sub, case, vectors[case.name].inputs)
        ctx = Context(rubric, runs, vectors)
        results = tuple(evaluate(check, ctx) for check in rubric.checks)
    finally:
        sub.close()
    return _report(rubric, name or root.name, results, runs, sub)


def evaluate(check: Check, ctx: Context) -> CheckResult:
    """Judge one rubric row (the consistency kinds live in their own module)."""
    if check.kind in checks_mod.JUDGES:
        return checks_mod.evaluate(check, ctx)
    from grader import consistency

    return consistency.evaluate(check, ctx)


def _report(rubric: Rubric, name: str, results: tuple[CheckResult, ...],
            runs: dict[str, CaseRun], sub: Submission) -> Report:
    score = round(sum(r.score for r in results), 4)
    failures = [r for r in runs.values() if r.failure]
    import_failed = [r for r in failures if r.failed_stage == "import"]
    status, summary, details = "graded", "", ""
    if import_failed and len(import_failed) == len(runs):
        status = "not_importable"
        summary = messages.problem(import_failed[0].failure, "import", rubric)
        details = import_failed[0].failure.traceback
    elif failures:
        status = "crashed"
        first = failures[0]
        summary = (f"Some checks could not run: on case {first.case.name}, "
                   f"{messages.problem(first.failure, first.failed_stage, rubric)}")
    output = "".join(sub.output)
    dropped = sub.output_dropped + max(0, len(output) - MAX_OUTPUT)
    return Report(rubric.assignment, name, status, score, rubric.max_score, results, summary,
                  details, output[:MAX_OUTPUT], dropped,
                  any(c.visibility == "hidden" for c in rubric.checks))
