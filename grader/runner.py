"""Drive one submission through the rubric's protocol in a sandboxed child and record what it did.

The same driver runs the reference (to make test vectors) and every student submission, so the
expected values and the observed values come from the very same sequence of calls.
"""
from __future__ import annotations

import itertools
import os
from grader.records import record, field
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from grader.rubric import Case, Component, Rubric, resolve_shape
from grader.sandbox.client import Budget, Child, Problem, Reply, Zygote
from grader.sandbox.protocol import Value

INIT = "init."     # observation keys for parameters right after __init__: "init.W"
WARMUP = "warmup."  # a first forward input, so that a layer keeping a stale input shows it


@record(frozen=True)
class Observed:
    """One quantity as the submission produced it, or why it could not be obtained."""
    value: Value | None = None
    problem: Problem | None = None
    stage: str = ""


@record
class CaseRun:
    """Everything observed while running one case."""
    case: Case
    inputs: dict[str, np.ndarray]
    observed: dict[str, Observed] = field(default_factory=dict)
    failed_stage: str | None = None
    failure: Problem | None = None
    changed: dict[tuple[str, str], bool] = field(default_factory=dict)  # (call, input): edited?


@record
class Submission:
    """A handle that keeps one child per submission and replaces it when it dies."""
    zygote: Zygote
    root: Path
    rubric: Rubric
    uid: int | None = None
    classes: dict[str, tuple[str, str]] | None = None   # key -> (module, class) to import
    hide: tuple[str, ...] = ()         # folders covered from the child (root mode)
    child: Child | None = None
    setup_problem: Problem | None = None
    output: list[str] = field(default_factory=list)        # for the student: see _keep_output
    output_dropped: int = 0
    staff_output: list[str] = field(default_factory=list)  # printed once hidden data was in
    staff_output_dropped: int = 0
    hidden_sent: bool = False          # a step touching a hidden case has run in some child
    _pending: bool = field(default=False, repr=False)          # import sent, answer not read
    _send_problem: Problem | None = field(default=None, repr=False)
    budget: Budget | None = field(default=None, repr=False)    # set when the first child starts
    import_problems: dict[str, Problem] = field(default_factory=dict)  # by component id
    each: bool = False   # a child died with answers unsent: from then on, each is sent at once
    presented: bytes | None = field(default=None, repr=False)   # a script sent ahead (presend)
    first_script: bytes | None = field(default=None, repr=False)  # the first script sent

    def limits(self) -> dict:
        lim = self.rubric.limits
        return {"memory_mb": lim.memory_mb, "output_kb": lim.output_kb, "hide": list(self.hide)}

    def order(self) -> None:
        """Ask the fork server for this submission's child ahead (where the sandbox can): it
        is forked while this process does other work, and ``start`` takes it."""
        if self.child is None:
            self.zygote.order(self.limits(), self.uid)

    def ordered(self, wait: float = 0.0) -> bool:
        """True when ``start`` would not wait for the sandbox (waiting at most ``wait``
        seconds for it)."""
        return self.zygote.answered(wait)

    def start(self) -> None:
        """Spawn a child and send it the import request without waiting: the student's module
        loads while the parent does other work. ``ready`` collects the answer."""
        if self.child is not None:
            self.child.close()
        if self.budget is None:
            self.budget = Budget(self.rubric.limits.total_seconds)
        classes = self.classes or _classes(self.rubric)
        self.child = self.zygote.spawn(self.root, self.limits(), self.uid)
        self.child.budget = self.budget
        self._pending = True
        self._send_problem = self.child.send(
            {"op": "import", "classes": [{"key": k, "module": m, "cls": c}
                                         for k, (m, c) in classes.items()]},
            [], self.budget.limit(self.rubric.limits.import_seconds))

    def ready(self) -> Problem | None:
        """Wait for a started child to greet and import; a Problem if either fails."""
        seconds = self.rubric.limits.import_seconds
        reply = self.child.ready(seconds)
        if reply.ok:
            self.budget.begin()
            reply = Reply(problem=self._send_problem) if self._send_problem else \
                self.budget.receive(self.child, seconds)
        self._keep_output(reply)
        self.setup_problem = reply.problem
        self.import_problems = dict(reply.failed)
        self._pending, self._send_problem = False, None
        return reply.problem

    def fresh_child(self) -> Problem | None:
        """Spawn a child and import the student's class in it; a Problem if that fails."""
        self.start()
        return self.ready()

    def usable(self) -> bool:
        """True when a child is up with the module imported (starting one if needed), and
        the submission's time budget is not spent."""
        if self.budget is not None and self.budget.left() <= 0 and self.setup_problem is None:
            self.setup_problem = self.budget.problem()
        if self.setup_problem is None and (self.child is None or self.child.dead):
            self.fresh_child()
        elif self._pending:
            self.ready()
        return self.setup_problem is None

    def importing(self) -> bool:
        """True while the import request is sent and its answer not yet read."""
        return self._pending and self.child is not None and not self.child.dead

    def presend(self, script: bytes) -> None:
        """Send, right behind the import, the script the units are expected to make (a frame
        kept from an earlier run): the child starts on it while this process is still making
        the units. ``send_script`` then checks that they made exactly this one."""
        if self.importing() and self._send_problem is None:
            problem = self.child.send_frame_early(script)
            if problem is None:
                self.presented = script

    def send_script(self, steps: list[tuple[dict, list[np.ndarray]]],
                    after_import: bool = False) -> Problem | None:
        """Send many requests as one; the child answers each in turn, stopping at a failure.
        ``after_import``: behind an import not yet answered, written as far as the channel
        takes it now (the rest before the replies are read). A script sent ahead
        (``presend``) that is this one is not sent again; one that is not (a stale copy) costs
        its child: a fresh one gets this script."""
        data = REMEMBERED.encoded(steps, self.each)
        if self.first_script is None:
            self.first_script = data
        presented, self.presented = self.presented, None
        if presented is not None:
            if presented == data:
                return None
            self.start()
        timeout = self.budget.limit(self.rubric.limits.call_seconds)
        if after_import and self.importing():
            return self.child.send_frame_early(data)
        return self.child.send_frame(data, timeout)

    def read_replies(self, headers: list[dict], sent: Problem | None = None,
                     progress: Callable[[list[Reply]], None] | None = None) -> list[Reply]:
        """A reply for each step of the script sent, up to the first that failed (see
        Child.read_script)."""
        sent = sent or self.child.flush(self.budget.limit(self.rubric.limits.call_seconds))
        if sent is not None:
            return [Reply(problem=sent)]
        return self.child.read_script(headers, self.rubric.limits.call_seconds, self.budget,
                                      progress)

    def keep_script_output(self, headers: list[dict], replies: list[Reply],
                           hidden: list[bool]) -> None:
        """Keep what each reply of a script says the student's code printed, as public or
        staff-only output; ``hidden`` tells, for each step, whether it touches a hidden case."""
        for reply, secret in zip(replies, answer_spans(headers, hidden)):
            self.hidden_sent = self.hidden_sent or secret
            self._keep_output(reply)

    def _keep_output(self, reply: Reply) -> None:
        """Public output only until a hidden case has run: from then on the student's code may
        hold hidden data (in memory, or in a file a later child reads), so everything it prints,
        in this child or the next, is for course staff only."""
        text = self._relative(reply.output)
        if self.hidden_sent:
            if text:
                self.staff_output.append(text)
            self.staff_output_dropped += reply.output_dropped
            return
        if text:
            self.output.append(text)
        self.output_dropped += reply.output_dropped

    def _relative(self, text: str) -> str:
        """What the code printed, with the grader's scratch folder taken out of its paths (a
        warning names mytorch/nn/activation.py:7, as in the student's own folder)."""
        if not text:
            return text
        for root in {str(self.root), os.path.realpath(self.root)}:
            text = text.replace(root + os.sep, "")
        return text

    def close(self, wait: bool = True) -> None:
        if self.child is not None:
            self.child.close(wait)


class _Remembered:
    """Requests already made in this process, by the objects they are made from. A batch
    worker grades every submission with the same rubric and the same inputs: each case's
    requests (and a probe's random directions) are made once, and the first script of every
    submission, made of those very requests, is encoded once. An entry keeps its objects, so
    their ids stay theirs. Requests are never changed once made (a script copies its
    headers), so the same objects always encode to the same bytes."""
    LIMIT = 1024   # entries kept before starting afresh (a process grading rubric after rubric)

    def __init__(self) -> None:
        self.plans: dict = {}
        self.frames: dict = {}

    def plan(self, make: Callable, *objects: object, **flags: object):
        key = (make, *map(id, objects), *flags.items())
        hit = self.plans.get(key)
        if hit is None:
            if len(self.plans) >= self.LIMIT:
                self.plans.clear()
            hit = self.plans[key] = (objects, make(*objects, **flags))
        return hit[1]

    def encoded(self, steps: list[tuple[dict, list[np.ndarray]]], each: bool) -> bytes:
        """A script's frame (see client.script_frame), encoded once for the same requests."""
        from grader.sandbox.client import script_frame

        key = (each, *(id(x) for header, arrays in steps for x in (header, *arrays)))
        hit = self.frames.get(key)
        if hit is None:
            if len(self.frames) >= 8:   # a submission's scripts: the public, then the hidden
                self.frames.clear()
            hit = self.frames[key] = (script_frame(steps, each), steps)   # steps: the ids' owners
        return hit[0]


REMEMBERED = _Remembered()


def _classes(rubric: Rubric) -> dict[str, tuple[str, str]]:
    """Every class a child imports, by component id: the components', and the layers their
    compositions are built from (graded or not: ``--only mlp0`` still builds a Linear)."""
    classes = {c.id: (c.module, c.cls) for c in rubric.components}
    for comp in rubric.components:
        for layer in (comp.composition.layers if comp.composition else ()):
            classes.setdefault(layer.component, (layer.module, layer.cls))
    return classes


def changed_inputs(run: CaseRun) -> list[tuple[str, str]] | None:
    """(call, input) for every input a call changed in place, as the child saw it after the
    call; None if no call completed."""
    if not run.changed:
        return None
    return [key for key, changed in run.changed.items() if changed]


def make_inputs(comp: Component, case: Case) -> dict[str, np.ndarray]:
    """The case's parameters and inputs, drawn from its seed in a fixed order."""
    rng = np.random.default_rng(case.seed)
    dims = case.dim_map
    names = list(comp.params)
    for call in comp.calls:
        names += [n for n in call.inputs if n not in names]
    names += [WARMUP + n for n in comp.forward.inputs]
    # drawn after those, so that adding objects or sets leaves every other input as it was
    later = [v for call in comp.calls for _, v in call.sets] + comp.object_inputs()
    names += [n for n in dict.fromkeys(later) if n not in names]
    out = {}
    for n in names:
        base = n.removeprefix(WARMUP)
        out[n] = draw(rng, case.draw(base), resolve_shape(comp.shape_of(base), dims))
    return out


def draw(rng: np.random.Generator, how, shape: tuple[int, ...]) -> np.ndarray:
    """One input: normal (loc + scale x standard normal), one-hot rows, or small integers."""
    if how.kind == "one_hot":
        rows = int(np.prod(shape[:-1], dtype=np.int64)) if shape else 1
        width = shape[-1] if shape else 1
        hot = np.zeros((rows, width))
        hot[np.arange(rows), rng.integers(0, width, size=rows)] = 1.0
        return hot.reshape(shape)
    if how.kind == "integers":
        return rng.integers(how.low, how.high + 1, size=shape).astype(np.float64)
    values = rng.standard_normal(shape)
    return values if (how.loc, how.scale) == (0.0, 1.0) else how.loc + how.scale * values


class Unit(Protocol):
    """Requests that belong together (one case, one probe) and what to make of their replies.
    Its ``case`` (or, without one, a ``hidden`` flag) says whether it touches hidden data."""

    def plan(self) -> list[tuple[dict, list[np.ndarray]]]:
        """The requests, built when they are sent (a retry may plan fewer)."""

    def finish(self, replies: list[Reply], setup: Problem | None) -> object:
        """The result from the replies (the last one may have failed), or from a set-up
        problem that kept every request from running."""


def touches_hidden(unit: Unit) -> bool:
    """Whether a unit runs the student's code on hidden data: a hidden case, or (a unit with no
    case, such as an init sample) one that only hidden checks use."""
    case = getattr(unit, "case", None)
    if case is not None:
        return case.visibility == "hidden"
    return bool(getattr(unit, "hidden", True))


def answer_spans(headers: list[dict], hidden: list[bool]) -> list[bool]:
    """For each step of a script: whether the output its answer carries may come from a hidden
    step. A quiet step answers only if it fails, so what it prints arrives with the next
    answer: that answer counts as hidden if any step since the previous answer was."""
    spans, pending = [], False
    last = len(headers) - 1
    for k, (header, secret) in enumerate(zip(headers, hidden)):
        pending = pending or secret
        spans.append(pending)
        if k == last or not header.get("quiet"):
            pending = False
    return spans


def run_units(sub: Submission, units: list[Unit],
              meanwhile: Callable[[], None] | None = None,
              done: Callable[[int, object], None] | None = None) -> list[object]:
    """Run every unit's requests, the units that touch no hidden case first (so that nothing
    the student's code prints, raises or returns for a public case can carry hidden data),
    and among those the cases a probe continues last; results in the order of ``units``.
    ``done(k, result)`` is called as each unit ``units[k]`` finishes (while the child still
    runs the later ones, when it can)."""
    order = sorted(range(len(units)), key=lambda k: (touches_hidden(units[k]), _probed(units[k])))
    out: list[object] = [None] * len(units)

    def finished(j: int, result: object) -> None:
        out[order[j]] = result
        if done is not None:
            done(order[j], result)

    _run_in_order(sub, [units[k] for k in order], meanwhile, finished)
    return out


def _probed(unit: Unit) -> bool:
    """A case that a probe continues runs after the other public ones: code that runs out of
    time is stopped in the checks worth no points, not in a case's own values."""
    return getattr(unit, "probe", None) is not None


def _run_in_order(sub: Submission, units: list[Unit], meanwhile: Callable[[], None] | None,
                  finished: Callable[[int, object], None]) -> None:
    """Run every unit's requests as one script; after a failure, send the units that did not
    run again (to a fresh child if it died). Units of a component whose class could not be
    imported finish with that problem. ``meanwhile`` runs while the child works; each unit's
    result goes to ``finished`` once, as soon as it is known."""
    pending = list(range(len(units)))
    while pending:
        run = []
        for j in pending:
            blocked = sub.import_problems.get(getattr(units[j], "key", ""))
            if blocked is not None:
                finished(j, units[j].finish([], blocked))
            else:
                run.append(j)
        if not run:
            break
        # the units that touch hidden cases go in a script of their own, sent once every
        # public step has answered: until then the child holds no hidden data at all (not in
        # memory, not in the channel), so nothing a public step prints can carry any
        split = next((i for i, j in enumerate(run) if touches_hidden(units[j])), len(run))
        run, later = (run[:split], run[split:]) if 0 < split < len(run) else (run, [])
        plans = [units[j].plan() for j in run]
        steps = [step for plan in plans for step in plan]
        # the import is on its way: the script follows it at once, so the child goes from one
        # to the other while this process does its own work (if the import fails, the child's
        # answers to the script are never read)
        early = sub.importing()
        sent = sub.send_script(steps, after_import=True) if early else None
        if meanwhile is not None:
            meanwhile()
            meanwhile = None
        if not sub.usable():
            for j in run + later:
                finished(j, units[j].finish([], sub.setup_problem))
            break
        if not early:
            sent = sub.send_script(steps)
        headers = [h for plan in plans for h, _ in plan]
        ends = list(itertools.accumulate(len(plan) for plan in plans))
        early_done: set[int] = set()

        def progress(replies: list[Reply]) -> None:   # units whose answers are all in, all ok
            k = len(early_done)
            while k < len(run) and ends[k] <= len(replies) and replies[ends[k] - 1].ok:
                j = run[k]
                blocked = sub.import_problems.get(getattr(units[j], "key", ""))
                finished(j, units[j].finish([], blocked) if blocked else
                         units[j].finish(replies[ends[k] - len(plans[k]):ends[k]], None))
                early_done.add(k)
                k += 1

        replies = sub.read_replies(headers, sent, progress)
        sub.keep_script_output(headers, replies, [touches_hidden(units[j]) for j, plan
                                                  in zip(run, plans) for _ in plan])
        pos, pending = 0, []
        for k, (j, plan) in enumerate(zip(run, plans)):
            part = replies[pos:pos + len(plan)]
            pos += len(plan)
            if k in early_done:
                continue
            if part and part[-1].problem is not None and part[-1].problem.kind == "died" \
                    and not sub.each:
                # the child may have died later than this step, with answers not yet sent:
                # run from here again, in a fresh child that sends each answer at once
                sub.each, pending = True, run[k:]
                break
            blocked = sub.import_problems.get(getattr(units[j], "key", ""))
            finished(j, units[j].finish([], blocked) if blocked else units[j].finish(part, None))
            if len(part) < len(plan) or (part and not part[-1].ok):
                pending = run[k + 1:]
                break
        pending += later
    if meanwhile is not None:
        meanwhile()


class Timeouts:
    """Remembers the smallest case on which a call timed out: larger cases skip that call."""

    def __init__(self) -> None:
        self.smallest: tuple[int, CaseRun] | None = None

    def like(self, case: Case) -> CaseRun | None:
        """The timed-out run that ``case`` would repeat, if any."""
        if self.smallest and _size(case) >= self.smallest[0]:
            return self.smallest[1]
        return None

    def note(self, run: CaseRun) -> None:
        if run.failure and run.failure.kind == "timeout":
            if self.smallest is None or _size(run.case) < self.smallest[0]:
                self.smallest = (_size(run.case), run)


@record
class CaseUnit:
    """One case of one component: construct, read the initial parameters, set them, make
    each call in order (the first twice: a warm-up input, then the case's), reading what each
    call stores."""
    comp: Component
    case: Case
    inputs: dict[str, np.ndarray]
    timeouts: Timeouts = field(default_factory=Timeouts)
    skip: CaseRun | None = None
    steps: list[tuple] = field(default_factory=list)
    forbid: tuple[str, ...] = ()       # functions that raise during every step
    watch: bool = True                 # the child tells which inputs each call changed
    probe: Any = None                  # a probe.ProbeUnit that runs on in the same object
    probed: Any = None                 # its result (a probe.Probe), once finished
    _last_reply: Reply | None = None

    @property
    def key(self) -> str:
        return self.comp.id

    def plan(self) -> list[tuple[dict, list[np.ndarray]]]:
        self.skip = self.timeouts.like(self.case)
        self.steps = REMEMBERED.plan(_steps, self.comp, self.case, self.inputs,
                                     watch=self.watch)
        if self.skip is not None:  # the call that timed out on a smaller case is not repeated
            cut = next(i for i, s in enumerate(self.steps) if s[0] == self.skip.failed_stage)
            self.steps = self.steps[:cut]
        if self.forbid:
            return REMEMBERED.plan(_forbidding, self.steps, forbid=self.forbid)
        planned = [(header, arrays) for _, _, header, arrays in self.steps]
        extra = self.probe.plan() if self.probe is not None and self.skip is None else []
        return planned + extra

    def finish(self, replies: list[Reply], setup: Problem | None) -> CaseRun:
        run = self._finish(replies[:len(self.steps)], setup)
        if self.probe is not None:
            self.probed = self._finish_probe(run, replies[len(self.steps):], setup)
        return run

    def _finish(self, replies: list[Reply], setup: Problem | None) -> CaseRun:
        run = CaseRun(self.case, self.inputs)
        if setup is not None:  # a module that does not import fails every case the same way
            return _fail(run, self.comp, setup, "import", "init")
        for (stage, what, _, _), reply in zip(self.steps, replies):
            if not reply.ok:
                self.timeouts.note(_fail(run, self.comp, reply.problem, stage,
                                         _first_missing(self.comp, stage)))
                return run
            _record(run, self.comp, stage, what, reply)
            self._last_reply = reply
        if self.skip is not None:
            stage = self.skip.failed_stage
            return _fail(run, self.comp, self.skip.failure, stage,
                         _first_missing(self.comp, stage))
        return run

    def _finish_probe(self, run: CaseRun, replies: list[Reply], setup: Problem | None):
        """The probe's result: from its own replies, the case's backward reply being its
        first; or, when the case's own calls did not all run, why not."""
        from grader.probe import Probe

        if setup is not None:
            return Probe(setup, "import")
        if run.failure is not None:
            return Probe(run.failure, run.failed_stage or "probe")
        first = self._last_reply
        return self.probe.finish(replies, None, first=first)


@record
class ChainUnit:
    """A composite's case run through the student's own layers instead (see
    assignment.Composition): what the composite should give if it applies them in order."""
    comp: Component
    case: Case
    inputs: dict[str, np.ndarray]

    @property
    def key(self) -> str:
        return self.comp.id

    def plan(self) -> list[tuple[dict, list[np.ndarray]]]:
        return REMEMBERED.plan(_chain_steps, self.comp, self.inputs)

    def finish(self, replies: list[Reply], setup: Problem | None) -> "Chained":
        """The chain's output and input gradient, or why they are missing."""
        if setup is not None:
            return Chained(problem=setup, stage="import")
        if not replies or not replies[-1].ok:
            return Chained(problem=replies[-1].problem if replies else Problem("died"))
        values = replies[-1].values
        if len(values) != 2:
            return Chained(problem=Problem("corrupt", message="a chain gives two values"))
        return Chained(*values)


@record(frozen=True)
class Chained:
    """What the student's own layers give applied in order: the output and the input's
    gradient, or the problem that stopped them."""
    output: Value | None = None
    gradient: Value | None = None
    problem: Problem | None = None
    stage: str = "chain"


@record
class InitUnit:
    """A layer of the size an init rule names, built to measure a random init's statistics."""
    comp: Component
    param: str
    dims: dict[str, int]

    @property
    def key(self) -> str:
        return self.comp.id

    @property
    def hidden(self) -> bool:
        """True when only hidden checks look at this sample."""
        return not any(c.kind == "init" and self.param in c.targets and c.visibility == "public"
                       for c in self.comp.checks)

    def plan(self) -> list[tuple[dict, list[np.ndarray]]]:
        return REMEMBERED.plan(_init_steps, self.comp, param=self.param,
                               dims=tuple(self.dims.items()))

    def finish(self, replies: list[Reply], setup: Problem | None) -> Observed:
        if setup is not None:
            return Observed(None, setup, "import")
        if not replies or not replies[-1].ok:
            return Observed(None, replies[-1].problem if replies else Problem("died"),
                            "construct")
        return Observed(replies[0].got[0], stage="init")


def _forbidding(steps: list[tuple], forbid: tuple[str, ...]) -> list[tuple[dict, list]]:
    """A case's requests, each with the functions that must raise while it runs."""
    return [(dict(header, forbid=list(forbid)), arrays) for _, _, header, arrays in steps]


def _chain_steps(comp: Component, inputs: dict[str, np.ndarray]) -> list[tuple[dict, list]]:
    """The request that runs a case through the student's own layers (see ChainUnit)."""
    arrays: list[np.ndarray] = []

    def index(name: str) -> int:
        arrays.append(inputs[name])
        return len(arrays) - 1

    layers = [{"cls": layer.component, "args": list(layer.args),
               "set": [[attr, index(name)] for attr, name in layer.sets],
               "forward": layer.forward, "backward": layer.backward,
               **({"derivative": True} if layer.derivative else {})}
              for layer in comp.composition.layers]
    header = {"op": "chain", "layers": layers, "input": index(comp.forward.inputs[0]),
              "grad": index(comp.backward.inputs[0])}
    return [(header, arrays)]


def _init_steps(comp: Component, param: str, dims: tuple) -> list[tuple[dict, list]]:
    """The request that builds a layer of the given size and reads one parameter."""
    sizes = dict(dims)
    return [({"op": "construct", "cls": comp.id, "args": [sizes[s] for s in comp.constructor],
              "kwargs": dict(comp.constructor_kwargs), "get": [param]}, [])]


def run_case(sub: Submission, comp: Component, case: Case,
             inputs: dict[str, np.ndarray]) -> CaseRun:
    """Run one case on its own (used to make the test vectors)."""
    return run_units(sub, [CaseUnit(comp, case, inputs)])[0]


def _size(case: Case) -> int:
    size = 1
    for _, value in case.dims:
        size *= value
    return size


def construct_step(comp: Component, case: Case, inputs: dict[str, np.ndarray],
                   **extra: object) -> tuple[dict, list[np.ndarray]]:
    """The constructor's request: its arguments are dimension values, or objects the child
    builds from the case's inputs (sent along as arrays)."""
    dims, arrays = case.dim_map, []

    def encode(spec: Any) -> Any:
        if isinstance(spec, str):
            arrays.append(inputs[spec])
            return {"$": len(arrays) - 1}
        if isinstance(spec, dict):
            return {"$ns": {k: encode(v) for k, v in spec.items()}}
        if isinstance(spec, list):
            return [encode(v) for v in spec]
        return spec

    objects = {name: encode(spec) for name, spec in comp.objects}
    header = {"op": "construct", "cls": comp.id,
              "args": [{"$object": s} if s in objects else dims[s] for s in comp.constructor],
              "kwargs": dict(comp.constructor_kwargs), **extra}
    if objects:
        header["objects"] = objects
    return header, arrays


def call_step(call, **extra: object) -> dict:
    header = {"op": "call", "method": call.method, **extra}
    if call.kwargs:
        header["kwargs"] = dict(call.kwargs)
    return header


def _steps(comp: Component, case: Case, inputs: dict[str, np.ndarray],
           watch: bool = True) -> list[tuple]:
    """(stage, what, request header, arrays) for every step of a case, in order."""
    # nothing to read from a constructor without parameters: answered only if it fails
    read = list(comp.observed_at_init)
    built, arrays = construct_step(comp, case, inputs, get=read) if read else \
        construct_step(comp, case, inputs, quiet=True)
    steps = [("construct", "construct", built, arrays)]
    steps += [("set", "set", {"op": "set", "name": p, "quiet": True}, [inputs[p]])
              for p in comp.params]
    first = comp.forward
    if first.inputs:   # a stale input kept from an earlier call shows on the next
        steps.append((first.stage, "warmup", call_step(first, quiet=True),
                      [inputs[WARMUP + n] for n in first.inputs]))
    for k, call in enumerate(comp.calls):   # each call also reads what it must store
        steps += [(call.stage, "set", {"op": "set", "name": path, "quiet": True}, [inputs[value]])
                  for path, value in call.sets]
        steps.append((call.stage, k, call_step(call, watch=watch,
                                                get=[call.path(n) for n in call.stores]),
                      [inputs[n] for n in call.inputs]))
    return steps


def _record(run: CaseRun, comp: Component, stage: str, what, reply: Reply) -> None:
    """Keep what one successful step produced."""
    if what == "construct":
        for name, value in zip(comp.observed_at_init, reply.got):
            run.observed[INIT + name] = Observed(value, stage="init")
        return
    if not isinstance(what, int) or not reply.values:
        return
    call = comp.calls[what]
    if call.output:
        run.observed[call.output] = Observed(reply.values[0], stage=stage)
    for name, changed in zip(call.inputs, reply.changed):
        run.changed[(stage, name)] = changed
    for name, value in zip(call.stores, reply.got):
        run.observed[comp.stored_key(name)] = Observed(value, stage=stage)


def _first_missing(comp: Component, stage: str) -> str:
    """The first group of observations a failure at ``stage`` leaves missing."""
    return {"construct": "init", "set": comp.forward.stage}.get(stage, stage)


def _fail(run: CaseRun, comp: Component, problem: Problem, stage: str, first: str) -> CaseRun:
    """Record that ``stage`` failed: every observation from stage ``first`` on is missing."""
    run.failed_stage, run.failure = stage, problem
    order = [("init", [INIT + p for p in comp.observed_at_init])]
    order += [(c.stage, [*([c.output] if c.output else []),
                         *(comp.stored_key(n) for n in c.stores)]) for c in comp.calls]
    start = next((i for i, (s, _) in enumerate(order) if s == first), 0)
    for _, keys in order[start:]:
        for key in keys:
            run.observed.setdefault(key, Observed(None, problem, stage))
    return run
