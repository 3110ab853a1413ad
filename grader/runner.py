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

    def limits(self) -> dict:
        lim = self.rubric.limits
        return {"memory_mb": lim.memory_mb, "output_kb": lim.output_kb, "hide": list(self.hide)}

    def fresh_child(self) -> Problem | None:
        """Spawn a child and import the student's class in it; a Problem if that fails."""
        if self.child is not None:
            self.child.close()
        lim, layer = self.rubric.limits, self.rubric.layer
        self.child = self.zygote.spawn(self.root, self.limits(), self.uid)
        reply = self.child.ready(lim.import_seconds)
        if reply.ok:
            reply = self.child.request({"op": "import", "module": self.module or layer.module,
                                        "cls": self.cls or layer.cls},
                                       timeout=lim.import_seconds)
        self._keep_output(reply)
        self.setup_problem = reply.problem
        return reply.problem

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
    """Construct, read the initial parameters, set them, call forward then backward.

    With ``skip`` (a smaller case whose call timed out), that call is not attempted again: it
    fails the same way, and only the steps before it run."""
    run = CaseRun(case, inputs)
    skipped = {skip.failed_stage: skip.failure} if skip else {}
    layer = sub.rubric.layer
    if sub.setup_problem is None and (sub.child is None or sub.child.dead):
        sub.fresh_child()
    if sub.setup_problem:  # a module that does not import fails every case the same way
        return _fail(run, sub.rubric, sub.setup_problem, "import", "init")
    dims = case.dim_map
    reply = sub.request({"op": "construct", "args": [dims[s] for s in layer.constructor],
                         "kwargs": dict(layer.constructor_kwargs)})
    if not reply.ok:
        return _fail(run, sub.rubric, reply.problem, "construct", "init")
    _get(sub, run, [INIT + p for p in layer.params], layer.params, "init")
    for name in layer.params:
        reply = sub.request({"op": "set", "name": name}, [inputs[name]])
        if not reply.ok:
            return _fail(run, sub.rubric, reply.problem, "set", layer.forward.method)
    if layer.forward.method in skipped:
        return _fail(run, sub.rubric, skipped[layer.forward.method], layer.forward.method,
                     layer.forward.method)
    reply = sub.request({"op": "call", "method": layer.forward.method},
                        [inputs[WARMUP + n] for n in layer.forward.inputs])
    if not reply.ok:
        return _fail(run, sub.rubric, reply.problem, layer.forward.method, layer.forward.method)
    for stage in (layer.forward, layer.backward):
        if stage.method in skipped:
            return _fail(run, sub.rubric, skipped[stage.method], stage.method, stage.method)
        reply = sub.request({"op": "call", "method": stage.method, "echo": True},
                            [inputs[n] for n in stage.inputs])
        if not reply.ok:
            return _fail(run, sub.rubric, reply.problem, stage.method, stage.method)
        run.observed[stage.output] = Observed(reply.values[0], stage=stage.method)
        for name, echoed in zip(stage.inputs, reply.echo):
            run.observed[f"{ECHO}{stage.method}.{name}"] = Observed(echoed, stage=stage.method)
        problem = _get(sub, run, list(stage.stores), stage.stores, stage.method)
        if problem:
            return _fail(run, sub.rubric, problem, stage.method, stage.method)
    return run


def _get(sub: Submission, run: CaseRun, keys: list[str], names: tuple[str, ...],
         stage: str) -> Problem | None:
    if not names:
        return None
    reply = sub.request({"op": "get", "names": list(names)})
    for i, key in enumerate(keys):
        run.observed[key] = Observed(reply.values[i] if reply.ok else None,
                                     None if reply.ok else reply.problem, stage)
    return reply.problem


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
