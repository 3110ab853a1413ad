"""Grade one submission folder: run it in the sandbox, judge every check, build the Report."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from grader.rubric import PROBE_KINDS, Check, Component, Rubric
from grader.runner import (CaseRun, CaseUnit, ChainUnit, InitUnit, Submission, Timeouts,
                           run_units)
from grader.sandbox.client import Zygote
from grader.trace import mark
from grader.vectors import VectorSet, case_key

if TYPE_CHECKING:
    from grader.report import CheckResult, Report
    from grader.checks import Context
    from grader.vectors import CaseVectors

MAX_OUTPUT = 8000
ORDER_WAIT = 0.004   # seconds the first component waits for the child ordered (a round trip)


def grade_path(path: Path, rubric: Rubric, vectors: dict[str, CaseVectors] | VectorSet,
               zygote: Zygote,
               hide: tuple[Path, ...] = (), name: str | None = None) -> Report:
    """Grade a submission folder or archive: stage it (as root: for a sandbox user of its own,
    in a scratch folder removed afterwards), then grade it; a refused one gets a 0 report."""
    from grader import workspace

    with workspace.staging(path, rubric) as lease:
        return grade_lease(lease, rubric, vectors, zygote, hide, name)


def grade_lease(lease, rubric: Rubric, vectors: dict[str, CaseVectors] | VectorSet,
                zygote: Zygote, hide: tuple[Path, ...] = (), name: str | None = None) -> Report:
    """Grade a submission staged by ``workspace.staging``."""
    from grader import workspace
    from grader.report import rejected

    staged = lease.staged
    if staged.root is None:
        return rejected(rubric, name or staged.name, staged.refused)
    return grade(staged.root, rubric, vectors, zygote, name=name or staged.name, uid=lease.uid,
                 hide=workspace.secret_paths(rubric, hide))


def grade(root: Path, rubric: Rubric, vectors: dict[str, CaseVectors] | VectorSet, zygote: Zygote,
          name: str | None = None, uid: int | None = None, hide: list[str] = ()) -> Report:
    """Grade the submission in ``root`` (a folder laid out like the handout).

    ``vectors`` may be a VectorSet not yet verified: the cases are then sent with their inputs
    at once, and the files are verified and decoded while the child works."""
    sub = Submission(zygote, root, rubric, uid=uid, hide=tuple(hide))
    sub.order()   # the fork server makes the child ready while the units are made
    key = _script_key(rubric, vectors)
    kept = _SCRIPTS.get(key)
    if kept is None and isinstance(key, str):
        from grader import cache

        kept = cache.read_bytes(key)

    def start() -> None:
        sub.start()
        if kept is not None:
            sub.presend(kept)
        mark("child started")

    plans = []
    for k, comp in enumerate(rubric.components):
        # the child waits for nothing of this: it starts importing the student's code as
        # soon as it is there (worth a short wait before the first component, whose inputs
        # take milliseconds to decode)
        if sub.child is None and sub.ordered(ORDER_WAIT if k == 0 else 0.0):
            start()
        plans.append(_Plan(comp, vectors))
    if sub.child is None:
        start()
    if zygote.isolation() == "permissions only":
        from grader import workspace

        workspace.warn_open(list(hide))
    verified: dict = {}
    ready: list = []

    def meanwhile() -> None:  # the child is running the student's code now
        if ready:
            return
        verified.update(vectors.verify() if isinstance(vectors, VectorSet) else vectors)
        from grader import checks, consistency, report  # noqa: F401  (loaded meanwhile)
        ready.append(True)
        mark("vectors verified")

    units = [u for plan in plans for u in plan.units]
    owner = [(i, k) for i, plan in enumerate(plans) for k in range(len(plan.units))]
    results = [[None] * len(plan.units) for plan in plans]   # each plan's, in its order
    left = [len(plan.units) for plan in plans]
    judged: list = [None] * len(plans)

    def judge(i: int) -> None:   # a component whose units are all in: judged at once
        meanwhile()
        from grader.checks import Context

        comp, plan = rubric.components[i], plans[i]
        comp_runs, probes, samples, forbidden, chains = plan.split(results[i])
        ctx = Context(comp, comp_runs, {c.name: verified[case_key(comp.id, c.name)]
                                        for c in comp.cases
                                        if case_key(comp.id, c.name) in verified},
                      probes, samples, forbidden, chains)
        with np.errstate(all="ignore"):  # NaN and inf from student code are judged, not warned
            found = [evaluate(check, ctx) for check in comp.checks]
            judged[i] = (_named_gradcheck(comp, ctx, found),
                         [(comp, run) for run in comp_runs.values()])

    def done(j: int, result: object) -> None:
        i, k = owner[j]
        results[i][k] = result
        left[i] -= 1
        if not left[i]:
            judge(i)

    try:
        run_units(sub, units, meanwhile, done)
        mark("replies read")
    finally:
        # a grader that exits next does not wait for the child to be gone: it is killed at
        # once, and the fork server collects it while the report is written
        sub.close(wait=not zygote.exiting)
    if sub.first_script is not None and sub.first_script != kept:
        _keep_script(key, sub.first_script)
    for i in range(len(plans)):
        if judged[i] is None:   # a component with no units at all
            judge(i)
    checked = _built_on(rubric, _named_composition(rubric, [c for found, _ in judged
                                                            for c in found]))
    runs = [r for _, found in judged for r in found]
    mark("judged")
    return _report(rubric, name or root.name, tuple(checked), runs, sub)


# The first script of a grading run depends only on the rubric, the vectors and the grader's
# code: kept (in this process, and on disk for vector files), it goes to the child right
# behind the import, so the child starts on it while the units are still being made. The
# units' own script is compared with it before any answer is read (a stale one costs a child).
_SCRIPTS: dict = {}
_SCRIPT_CODE = ("grade.py", "runner.py", "probe.py", "assignment.py", "component_reader.py",
                "rubric.py", "vectors.py", "sandbox/client.py", "sandbox/protocol.py")


def _script_key(rubric: Rubric, vectors) -> object:
    """Where the first script is kept: an in-process key for vectors already loaded (a batch
    worker's), a cache file name for vector files."""
    if not isinstance(vectors, VectorSet):
        return ("loaded", id(rubric), id(vectors))
    import zlib

    from grader import cache

    crc = zlib.crc32(cache.source_version(_SCRIPT_CODE).encode())
    try:
        parts = [rubric.path.read_bytes(), repr(sorted(vectors.manifest.items())).encode(),
                 *(data for _, data in vectors.files.values()),
                 ",".join(c.id for c in rubric.components).encode()]
    except OSError:
        return None
    for part in parts:
        crc = zlib.crc32(part, crc)
    return f"script-{crc:08x}.frame"


def _keep_script(key: object, data: bytes) -> None:
    if key is None:
        return
    if isinstance(key, str):
        from grader import cache

        cache.write_bytes(key, data)
    else:
        _SCRIPTS.clear()   # one batch's at a time: bounded memory
        _SCRIPTS[key] = data


class _Plan:
    """The units that grade one component: its cases, probes, init samples and the runs with
    forbidden functions refusing."""

    def __init__(self, comp: Component, vectors: dict[str, CaseVectors] | VectorSet) -> None:
        needed = [c for c in comp.cases if any(c.name in ch.cases for ch in comp.checks)]
        inputs = {c.name: (vectors.inputs(comp.id, c.name) if isinstance(vectors, VectorSet)
                           else vectors[case_key(comp.id, c.name)].inputs) for c in needed}
        timeouts = Timeouts()
        watched = {c for ch in comp.checks if ch.kind == "mutation" for c in ch.cases}
        self.cases = [CaseUnit(comp, case, inputs[case.name], timeouts,
                               watch=case.name in watched) for case in needed]
        self.probes: list = []   # the probes that run on their own
        self.probe_cases: list[str] = []
        if any(c.kind in PROBE_KINDS for c in comp.checks):
            from grader import probe

            by_case = {u.case.name: u for u in self.cases}
            for unit in probe.probe_units(comp, inputs):
                self.probe_cases.append(unit.case.name)
                # its calls continue the case's, in the same object, when the case ends with
                # the backward call (not when later calls change the object's state)
                host = by_case.get(unit.case.name) if comp.calls[-1] is comp.backward else None
                if host is not None:
                    unit.continued, host.probe = True, unit
                else:
                    self.probes.append(unit)
        random_init = sorted({t for c in comp.checks if c.kind == "init" for t in c.targets
                              if comp.init_rule(t).kind == "normal"})
        self.inits = [InitUnit(comp, p, dict(comp.init_rule(p).dims)) for p in random_init]
        self.forbidden = {(ch.id, case): CaseUnit(comp, comp.case(case), inputs[case],
                                                  Timeouts(), forbid=ch.forbid, watch=False)
                          for ch in comp.checks if ch.kind == "forbidden" for case in ch.cases}
        self.chains = {case: ChainUnit(comp, comp.case(case), inputs[case])
                       for ch in comp.checks if ch.kind == "composition" for case in ch.cases}
        self.units = [*self.cases, *self.probes, *self.inits, *self.forbidden.values(),
                      *self.chains.values()]

    def split(self, results: list) -> tuple[dict, dict, dict, dict, dict]:
        """The results of ``units``, in their order, as the judges take them: runs and probes
        by case, init samples by parameter, forbidden runs by (check, case), chains of the
        student's own layers by case."""
        it = iter(results)
        runs = {u.case.name: next(it) for u in self.cases}
        alone = {u.case.name: next(it) for u in self.probes}
        hosted = {u.case.name: u.probed for u in self.cases if u.probe is not None}
        probes = {name: alone[name] if name in alone else hosted[name]
                  for name in self.probe_cases}
        samples = {u.param: next(it) for u in self.inits}
        forbidden = {key: next(it) for key in self.forbidden}
        chains = {key: next(it) for key in self.chains}
        return runs, probes, samples, forbidden, chains


def _named_gradcheck(comp: Component, ctx, results: list[CheckResult]) -> list[CheckResult]:
    """A finite-difference check that fails only on gradients whose own public values check
    fails under one named mistake takes that mistake: the cause is said once, over both rows
    (dLdW divided by N; MLP4's list dLdA kept in backward order, so that dLdA[0], where the
    check reads the input's gradient, is not it), and the gradient check is not left looking
    like a second, unexplained fault."""
    from grader import consistency
    from grader.records import replace

    named: dict[str, tuple[str, str]] = {}   # a quantity -> the named mistake its check found
    for check, r in zip(comp.checks, results):
        if check.kind == "values" and check.visibility == "public" and r.status == "failed" \
                and r.mistakes:
            for target in check.targets:
                named.setdefault(target, (r.mistakes[0], r.hints[0]))
    if not named:
        return results
    out = []
    for check, r in zip(comp.checks, results):
        if check.kind == "gradcheck" and r.status == "failed" and not r.mistakes:
            bad = {grad for case in check.cases for grad in consistency.disagreeing(ctx, case)}
            causes = {named.get(grad) for grad in bad}
            if bad and len(causes) == 1 and None not in causes:
                (mistake, hint), = causes
                r = replace(r, mistakes=(mistake,), hints=(hint,))
        out.append(r)
    return out


def _named_composition(rubric: Rubric, results: list[CheckResult]) -> list[CheckResult]:
    """A composite whose composition check fails for no named reason, while its other checks
    name one of the component's own mistakes (layers in the wrong order): the composition
    check takes that mistake, so the cause is said once, over every check it explains."""
    from grader.records import replace

    by_id = {c.id: c for c in rubric.components}
    named: dict[str, tuple[str, str]] = {}
    for r in results:
        comp = by_id.get(r.component)
        for mistake, text in zip(r.mistakes, r.hints):
            if comp is not None and mistake in comp.mistakes:
                named.setdefault(r.component, (mistake, text))
    return [replace(r, mistakes=(named[r.component][0],), hints=(named[r.component][1],))
            if r.kind == "composition" and r.mistakes == ("not_composed",)
            and r.component in named else r for r in results]


def _built_on(rubric: Rubric, results: list[CheckResult]) -> list[CheckResult]:
    """A component built from others (an MLP from the student's Linear and ReLU) whose own
    public checks fail: its failed checks say so first, since fixing those comes first."""
    from grader.records import replace

    by_id = {c.id: c for c in rubric.components}
    failing = {r.component for r in results
               if r.status != "passed" and r.max_score > 0 and r.visibility == "public"}
    composed = {r.component for r in results if r.kind == "composition"
                and r.status == "passed"}
    out = []
    for r in results:
        comp = by_id.get(r.component)
        weak = [by_id[u].title for u in (comp.uses if comp else ()) if u in failing]
        if weak and r.status != "passed":
            one = len(weak) == 1
            it, its = ("it", "its") if one else ("them", "their")
            fails = "fails" if one else "fail"
            if comp.id in composed:   # checked: the model is those very layers, in order
                text = (f"your {' and '.join(weak)} {fails} {its} own checks, and "
                        f"{comp.title} is built from {it}. {comp.title} itself is composed "
                        f"right (it gives what your own layers give applied in order), so "
                        f"fixing {' and '.join(weak)} (see {its} section{'' if one else 's'}) "
                        f"should fix this too.")
            else:
                text = (f"your {' and '.join(weak)} {fails} {its} own checks, and {comp.title} "
                        f"is built from {it}: fix {it} first (see {its} "
                        f"section{'' if one else 's'}), then come back to {comp.title}.")
            r = replace(r, mistakes=("built_on_failing", *r.mistakes), hints=(text, *r.hints))
        out.append(r)
    return out


def evaluate(check: Check, ctx: "Context") -> CheckResult:
    """Judge one rubric row (the consistency kinds live in their own module)."""
    from grader import checks

    if check.kind in checks.JUDGES:
        return checks.evaluate(check, ctx)
    from grader import consistency

    return consistency.evaluate(check, ctx)


def _report(rubric: Rubric, name: str, results: tuple[CheckResult, ...],
            runs: list[tuple[Component, CaseRun]], sub: Submission) -> Report:
    from grader import messages
    from grader.report import Report

    score = round(sum(r.score for r in results), 4)
    failures = [(comp, r) for comp, r in runs if r.failure and not r.failure.unwritten]
    status, summary, public, details = "graded", "", "", ""
    if failures and all(r.failed_stage == "import" for _, r in runs):
        comp, first = failures[0]
        status = "not_importable"
        texts = dict.fromkeys(messages.problem(r.failure, "import", c) for c, r in failures)
        summary = public = ("Your module could not be imported: " if len(texts) == 1 else
                            "Your modules could not be imported: ") + " ".join(texts)
        details = _excerpt(first.failure)
    elif failures:
        status = "crashed"
        summary, public, details = _crash_summary(failures)
    output, staff = "".join(sub.output), "".join(sub.staff_output)
    return Report(rubric.assignment, name, status, score, rubric.max_score, results, summary,
                  details, output[:MAX_OUTPUT],
                  sub.output_dropped + max(0, len(output) - MAX_OUTPUT),
                  any(c.visibility == "hidden" for c in rubric.checks), public_summary=public,
                  staff_output=staff[:MAX_OUTPUT],
                  staff_output_dropped=sub.staff_output_dropped + max(0, len(staff) - MAX_OUTPUT),
                  sandbox=sub.zygote.describe(),
                  components=tuple((c.id, c.title) for c in rubric.components))


def _crash_summary(failures: list[tuple[Component, CaseRun]]) -> tuple[str, str, str]:
    """Each distinct failure once, with the cases it happened on: the summary, the same
    without hidden cases (what a student may see before grades are published), and the
    traceback of a public case only (an exception message may quote a hidden input)."""
    from grader import messages

    public = [(c, r) for c, r in failures if r.case.visibility == "public"]
    hidden = sum(r.failed_stage != "import" for c, r in failures
                 if r.case.visibility == "hidden")   # a file that does not import: said once
    groups: dict[tuple, list[tuple[Component, CaseRun]]] = {}
    for comp, run in public:  # the same failure at the same place, whatever numbers it says
        p = run.failure
        groups.setdefault((comp.file, run.failed_stage, p.kind, p.type, p.where), []).append(
            (comp, run))
    lines, several = [], len({c.id for c, _ in failures}) > 1
    for g in groups.values():
        comp, run = g[0]
        text = messages.problem(run.failure, run.failed_stage, comp)
        if several:   # say which classes it is about
            text = f"{', '.join(sorted({c.title for c, _ in g}))}: {text}"
        cases = sorted({r.case.name for _, r in g})
        if run.failed_stage == "import":
            lines.append(text)
        else:
            lines.append(f"{text} (case{'s' if len(cases) > 1 else ''} {', '.join(cases)})")
    shown = "Some checks could not run: " + " ".join(lines) if lines else ""
    if hidden:
        lines.append(f"Your code also failed to run on {hidden} hidden case(s).")
    details = _excerpt(public[0][1].failure) if public else ""
    return "Some checks could not run: " + " ".join(lines), shown, details


def _excerpt(problem) -> str:
    """The student's traceback, or the offending line of a syntax error."""
    if problem.traceback:
        return problem.traceback.rstrip()
    if problem.line:
        return problem.line.rstrip()
    return ""
