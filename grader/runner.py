"""Drive one submission through the rubric's protocol in a sandboxed child and record what it did.

The same driver runs the reference (to make test vectors) and every student submission, so the
expected values and the observed values come from the very same sequence of calls.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grader.rubric import Case, Rubric, resolve_shape
from grader.sandbox.client import Child, Problem, Reply, Zygote
from grader.sandbox.protocol import Value

INIT = "init."     # observation keys for parameters right after __init__: "init.W"
ECHO = "echo."     # inputs as they were after the call: "echo.forward.A"
WARMUP = "warmup."  # a first forward input, so that a layer keeping a stale input shows it


@dataclass(frozen=True)
class Observed:
    """One quantity as the submission produced it, or why it could not be obtained."""
    value: Value | None = None
    problem: Problem | None = None
    stage: str = ""


@dataclass
class CaseRun:
    """Everything observed while running one case."""
    case: Case
    inputs: dict[str, np.ndarray]
    observed: dict[str, Observed] = field(default_factory=dict)
    failed_stage: str | None = None
    failure: Problem | None = None


@dataclass
class Submission:
    """A handle that keeps one child per submission and replaces it when it dies."""
    zygote: Zygote
    root: Path
    rubric: Rubric
    uid: int | None = None
    module: str | None = None          # import this module and class instead of the rubric's
    cls: str | None = None
    hide: tuple[str, ...] = ()         # folders covered from the child (root mode)
    child: Child | None = None
    setup_problem: Problem | None = None
    output: list[str] = field(default_factory=list)
    output_dropped: int = 0
    _pending: bool = field(default=False, repr=False)          # import sent, answer not read
    _send_problem: Problem | None = field(default=None, repr=False)

    def limits(self) -> dict:
        lim = self.rubric.limits
        return {"memory_mb": lim.memory_mb, "output_kb": lim.output_kb, "hide": list(self.hide)}

    def start(self) -> None:
        """Spawn a child and send it the import request without waiting: the student's module
        loads while the parent does other work. ``ready`` collects the answer."""
        if self.child is not None:
            self.child.close()
        layer = self.rubric.layer
        self.child = self.zygote.spawn(self.root, self.limits(), self.uid)
        self._pending = True
        self._send_problem = self.child.send(
            {"op": "import", "module": self.module or layer.module, "cls": self.cls or layer.cls},
            [], self.rubric.limits.import_seconds)

    def ready(self) -> Problem | None:
        """Wait for a started child to greet and import; a Problem if either fails."""
        seconds = self.rubric.limits.import_seconds
        reply = self.child.ready(seconds)
        if reply.ok:
            reply = Reply(problem=self._send_problem) if self._send_problem else \
                self.child.receive(seconds)
        self._keep_output(reply)
        self.setup_problem = reply.problem
        self._pending, self._send_problem = False, None
        return reply.problem

    def fresh_child(self) -> Problem | None:
        """Spawn a child and import the student's class in it; a Problem if that fails."""
        self.start()
        return self.ready()

    def usable(self) -> bool:
        """True when a child is up with the module imported (starting one if needed)."""
        if self.setup_problem is None and (self.child is None or self.child.dead):
            self.fresh_child()
        elif self._pending:
            self.ready()
        return self.setup_problem is None

    def script(self, steps: list[tuple[dict, list[np.ndarray]]]) -> list[Reply]:
        replies = self.child.script(steps, self.rubric.limits.call_seconds)
        for reply in replies:
            self._keep_output(reply)
        return replies

    def request(self, header: dict, arrays: list[np.ndarray] = ()) -> Reply:
        reply = self.child.request(header, arrays, self.rubric.limits.call_seconds)
        self._keep_output(reply)
        return reply

    def _keep_output(self, reply: Reply) -> None:
        if reply.output:
            self.output.append(reply.output)
        self.output_dropped += reply.output_dropped

    def close(self) -> None:
        if self.child is not None:
            self.child.close()


def make_inputs(rubric: Rubric, case: Case) -> dict[str, np.ndarray]:
    """The case's parameters and inputs, drawn from its seed in a fixed order."""
    rng = np.random.default_rng(case.seed)
    layer, dims = rubric.layer, case.dim_map
    names = list(layer.params) + list(layer.forward.inputs) + list(layer.backward.inputs)
    names += [WARMUP + n for n in layer.forward.inputs]
    return {n: rng.standard_normal(resolve_shape(rubric.shape_of(n.removeprefix(WARMUP)), dims))
            for n in names}


def run_case(sub: Submission, case: Case, inputs: dict[str, np.ndarray],
             skip: CaseRun | None = None) -> CaseRun:
    """Construct, read the initial parameters, set them, call forward (twice: a warm-up input,
    then the case's) and backward, reading what each call stores. One request to the child.

    With ``skip`` (a smaller case whose call timed out), that call is not attempted again: it
    fails the same way, and only the steps before it run."""
    run = CaseRun(case, inputs)
    if not sub.usable():  # a module that does not import fails every case the same way
        return _fail(run, sub.rubric, sub.setup_problem, "import", "init")
    steps = _steps(sub.rubric, case, inputs)
    if skip is not None:
        steps = steps[:next(i for i, s in enumerate(steps) if s[0] == skip.failed_stage)]
    replies = sub.script([(header, arrays) for _, _, header, arrays in steps])
    layer = sub.rubric.layer
    for (stage, what, _, _), reply in zip(steps, replies):
        if not reply.ok:
            first = {"construct": "init", "set": layer.forward.method}.get(stage, stage)
            return _fail(run, sub.rubric, reply.problem, stage, first)
        _record(run, layer, stage, what, reply)
    if skip is not None:
        return _fail(run, sub.rubric, skip.failure, skip.failed_stage, skip.failed_stage)
    return run


def _steps(rubric: Rubric, case: Case, inputs: dict[str, np.ndarray]) -> list[tuple]:
    """(stage, what, request header, arrays) for every step of a case, in order."""
    layer, dims = rubric.layer, case.dim_map
    steps = [("construct", "construct", {"op": "construct",
              "args": [dims[s] for s in layer.constructor],
              "kwargs": dict(layer.constructor_kwargs)}, [])]
    if layer.params:
        steps.append(("construct", "init", {"op": "get", "names": list(layer.params)}, []))
    steps += [("set", "set", {"op": "set", "name": p}, [inputs[p]]) for p in layer.params]
    fwd, bwd = layer.forward, layer.backward
    steps.append((fwd.method, "warmup", {"op": "call", "method": fwd.method},
                  [inputs[WARMUP + n] for n in fwd.inputs]))
    for call in (fwd, bwd):
        steps.append((call.method, "call", {"op": "call", "method": call.method, "echo": True},
                      [inputs[n] for n in call.inputs]))
        if call.stores:
            steps.append((call.method, "stores", {"op": "get", "names": list(call.stores)}, []))
    return steps


def _record(run: CaseRun, layer, stage: str, what: str, reply: Reply) -> None:
    """Keep what one successful step produced."""
    if what == "init":
        for name, value in zip(layer.params, reply.values):
            run.observed[INIT + name] = Observed(value, stage="init")
        return
    call = layer.forward if stage == layer.forward.method else layer.backward
    if what == "call" and reply.values:
        run.observed[call.output] = Observed(reply.values[0], stage=stage)
        for name, echoed in zip(call.inputs, reply.echo):
            run.observed[f"{ECHO}{stage}.{name}"] = Observed(echoed, stage=stage)
    elif what == "stores":
        for name, value in zip(call.stores, reply.values):
            run.observed[name] = Observed(value, stage=stage)


def _fail(run: CaseRun, rubric: Rubric, problem: Problem, stage: str, first: str) -> CaseRun:
    """Record that ``stage`` failed: every observation from stage ``first`` on is missing."""
    run.failed_stage, run.failure = stage, problem
    layer = rubric.layer
    order = [("init", [INIT + p for p in layer.params])]
    order += [(c.method, [c.output, *c.stores]) for c in (layer.forward, layer.backward)]
    start = [s for s, _ in order].index(first)
    for _, keys in order[start:]:
        for key in keys:
            run.observed.setdefault(key, Observed(None, problem, stage))
    return run
