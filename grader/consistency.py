"""Checks that need no reference: does backward agree with the student's own forward (finite
differences), are inputs left alone, is backward repeatable and linear in the upstream gradient.

A probe makes the extra calls in the sandbox; the judging happens here, in the parent."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from grader import expr, messages
from grader.checks import Context, Verdict, aggregate
from grader.compare import as_float, compare
from grader.diagnose import hint
from grader.rubric import Case, Check, Rubric
from grader.runner import ECHO, Submission
from grader.sandbox.client import Problem
from grader.sandbox.protocol import Value

PROBE_KINDS = ("gradcheck", "repeatable", "linearity")
DIRECTIONS = 3          # random directions per input or parameter
STEP = 1e-4             # central-difference step
GRAD_RTOL = 1e-4        # a float64 layer agrees to ~1e-9; a wrong gradient is off by O(1)


@dataclass
class Probe:
    """What the extra calls on one case returned."""
    problem: Problem | None = None
    stage: str = ""
    first: dict[str, Value] = field(default_factory=dict)    # backward(G)
    again: dict[str, Value] = field(default_factory=dict)    # backward(G) once more
    zero: dict[str, Value] = field(default_factory=dict)     # backward(0)
    double: dict[str, Value] = field(default_factory=dict)   # backward(2G)
    numeric: dict[str, list[tuple[np.ndarray, float]]] = field(default_factory=dict)


class _Stop(Exception):
    def __init__(self, problem: Problem, stage: str) -> None:
        super().__init__(stage)
        self.problem, self.stage = problem, stage


def needs_probe(rubric: Rubric) -> list[str]:
    """The cases some check wants probed."""
    return sorted({c for ch in rubric.checks if ch.kind in PROBE_KINDS for c in ch.cases})


def probe(sub: Submission, case: Case, inputs: dict[str, np.ndarray]) -> Probe:
    """Construct a fresh layer on ``case`` and make the extra calls."""
    out = Probe()
    if sub.setup_problem is None and (sub.child is None or sub.child.dead):
        sub.fresh_child()
    if sub.setup_problem:
        return Probe(sub.setup_problem, "import")
    try:
        _probe(sub, case, inputs, out)
    except _Stop as stop:
        out.problem, out.stage = stop.problem, stop.stage
    return out


def _probe(sub: Submission, case: Case, inputs: dict[str, np.ndarray], out: Probe) -> None:
    layer = sub.rubric.layer
    dims = case.dim_map
    _ask(sub, {"op": "construct", "args": [dims[s] for s in layer.constructor],
               "kwargs": dict(layer.constructor_kwargs)}, [], "construct")
    for name in layer.params:
        _ask(sub, {"op": "set", "name": name}, [inputs[name]], "set")
    fwd_in = [inputs[n] for n in layer.forward.inputs]
    _ask(sub, {"op": "call", "method": layer.forward.method}, fwd_in, layer.forward.method)
    upstream = [inputs[n] for n in layer.backward.inputs]
    for key, scale in (("first", 1.0), ("again", 1.0), ("zero", 0.0), ("double", 2.0)):
        setattr(out, key, _backward(sub, [scale * g for g in upstream]))
    weight = upstream[0]    # L = sum(output * G): its gradient is what backward(G) returns
    rng = np.random.default_rng(case.seed + 7919)
    for wrt, _, _ in layer.gradients:
        base = inputs[wrt]
        pairs = []
        for _ in range(DIRECTIONS):
            v = rng.standard_normal(base.shape)
            plus = _loss(sub, wrt, base + STEP * v, inputs, weight)
            minus = _loss(sub, wrt, base - STEP * v, inputs, weight)
            pairs.append((v, (plus - minus) / (2 * STEP)))
        if wrt in layer.params:
            _ask(sub, {"op": "set", "name": wrt}, [base], "set")
        out.numeric[wrt] = pairs


def _ask(sub: Submission, header: dict, arrays: list, stage: str):
    reply = sub.request(header, arrays)
    if not reply.ok:
        raise _Stop(reply.problem, stage)
    return reply


def _backward(sub: Submission, upstream: list[np.ndarray]) -> dict[str, Value]:
    layer = sub.rubric.layer
    reply = _ask(sub, {"op": "call", "method": layer.backward.method}, upstream,
                 layer.backward.method)
    values = {layer.backward.output: reply.values[0]}
    if layer.backward.stores:
        got = _ask(sub, {"op": "get", "names": list(layer.backward.stores)}, [],
                   layer.backward.method)
        values.update(zip(layer.backward.stores, got.values))
    return values


def _loss(sub: Submission, wrt: str, value: np.ndarray, inputs: dict, weight: np.ndarray
          ) -> float:
    layer = sub.rubric.layer
    if wrt in layer.params:
        _ask(sub, {"op": "set", "name": wrt}, [value], "set")
        args = [inputs[n] for n in layer.forward.inputs]
    else:
        args = [value if n == wrt else inputs[n] for n in layer.forward.inputs]
    reply = _ask(sub, {"op": "call", "method": layer.forward.method}, args, layer.forward.method)
    z = reply.values[0]
    if z.kind != "array" or z.array.size != weight.size or as_float(z.array) is None:
        raise _Stop(Problem("exception", "unusable output",
                            f"{layer.forward.method} returned {z.describe()}"), "probe")
    with np.errstate(all="ignore"):  # a NaN or inf output is judged later, not warned about
        return float(np.sum(as_float(z.array).reshape(weight.shape) * weight))


# --- judges -----------------------------------------------------------------------------------

def evaluate(check: Check, ctx: Context) -> "CheckResult":
    """Judge one consistency row."""
    judge = {"gradcheck": judge_gradcheck, "mutation": judge_mutation,
             "repeatable": judge_repeatable, "linearity": judge_linearity}[check.kind]
    return aggregate(check, ctx.rubric, [(name, judge(check, ctx, name)) for name in check.cases])


def _not_run(ctx: Context, p: Probe) -> Verdict:
    return Verdict(False, f"not run: {messages.short(p.problem, p.stage)}", ran=False)


def judge_gradcheck(check: Check, ctx: Context, case: str) -> Verdict:
    """backward(G) against central differences of sum(forward(.) * G)."""
    p = ctx.probes[case]
    if p.problem:
        return _not_run(ctx, p)
    dims = {k: float(v) for k, v in ctx.rubric.case(case).dims}
    bad, unusable = [], []
    for wrt, grad, scale in ctx.rubric.layer.gradients:
        value = p.first.get(grad)
        base = ctx.runs[case].inputs[wrt] if case in ctx.runs else None
        arr = value.array if value is not None and value.kind == "array" else None
        if arr is None or as_float(arr) is None or base is None or arr.size != base.size:
            unusable.append(f"{grad} ({value.describe() if value else 'missing'})")
            continue
        g = as_float(arr).reshape(base.shape) / expr.evaluate(scale, dims)
        errors = [abs(float(np.vdot(g, v)) - n) / max(abs(n), abs(float(np.vdot(g, v))), 1e-8)
                  for v, n in p.numeric[wrt]]
        if max(errors) > GRAD_RTOL:
            bad.append(f"{grad} (relative error {max(errors):.2g})")
    forward_ok = _forward_matches(ctx, case)
    if unusable and not bad:
        return Verdict(False, "could not check " + ", ".join(unusable) + ": backward must "
                       "produce arrays of the Table 1 shapes", ran=False)
    if bad:
        text = ("backward disagrees with finite differences of your own forward for "
                + ", ".join(bad) + ": it does not compute the derivative of what forward computes")
        if forward_ok:
            text = "Your forward is right, but " + text + "."
        elif forward_ok is False:
            text += ". Your forward is also wrong: fix it first."
        return Verdict(False, text)
    if forward_ok is False:
        return Verdict(True, "backward agrees with finite differences of your forward, so the "
                             "values that differ come from forward itself: fix forward first.")
    return Verdict(True, "backward agrees with finite differences of your forward.")


def _forward_matches(ctx: Context, case: str) -> bool | None:
    out = ctx.rubric.layer.forward.output
    obs = ctx.runs[case].observed.get(out) if case in ctx.runs else None
    expected = ctx.vectors[case].expected.get(out)
    if obs is None or obs.value is None or obs.value.kind != "array" or expected is None:
        return None
    got = obs.value.array
    return got.size == expected.size and compare(got.reshape(expected.shape), expected,
                                                 1e-8, 1e-6).ok


def judge_mutation(check: Check, ctx: Context, case: str) -> Verdict:
    """Inputs as the child saw them after each call equal what was sent."""
    run = ctx.runs[case]
    changed, seen = [], 0
    for key, obs in run.observed.items():
        if not key.startswith(ECHO) or obs.value is None:
            continue
        seen += 1
        method, name = key[len(ECHO):].split(".", 1)
        before, after = run.inputs[name], obs.value.array
        if after is None or after.shape != before.shape or not np.array_equal(after, before):
            changed.append((method, name))
    if not seen:
        return Verdict(False, "not run: the calls did not complete", ran=False)
    if changed:
        method, name = changed[0]
        return Verdict(False, f"{method}() changed its input {name} in place",
                       diagnosis=hint(ctx, "input_mutated", check.visibility == "hidden",
                                      input=name))
    return Verdict(True, "forward and backward leave their inputs unchanged.")


def judge_repeatable(check: Check, ctx: Context, case: str) -> Verdict:
    """The same dLdZ twice gives the same gradients (nothing accumulates between calls)."""
    p = ctx.probes[case]
    if p.problem:
        return _not_run(ctx, p)
    differ = [n for n, v in p.first.items() if not _same(v, p.again.get(n))]
    if differ:
        return Verdict(False, f"calling backward twice with the same input gives a different "
                              f"{', '.join(differ)}: do not accumulate (+=) into stored gradients.")
    return Verdict(True, "backward gives the same result when called twice.")


def judge_linearity(check: Check, ctx: Context, case: str) -> Verdict:
    """backward(0) is zero and backward(2G) is 2 x backward(G)."""
    p = ctx.probes[case]
    if p.problem:
        return _not_run(ctx, p)
    problems = []
    for name, first in p.first.items():
        f, z, d = (_floats(v) for v in (first, p.zero.get(name), p.double.get(name)))
        if f is None or z is None or d is None or f.shape != z.shape or f.shape != d.shape:
            continue
        if not np.allclose(z, 0, atol=1e-10):
            problems.append(f"with dLdZ = 0, {name} is not zero")
        elif not np.allclose(d, 2 * f, rtol=1e-7, atol=1e-10):
            problems.append(f"doubling dLdZ does not double {name}")
    if problems:
        return Verdict(False, "; ".join(problems) + ": every gradient must be a linear function "
                              "of the upstream gradient (no constant terms).")
    return Verdict(True, "backward is linear in the upstream gradient.")


def _floats(v: Value | None) -> np.ndarray | None:
    return as_float(v.array) if v is not None and v.kind == "array" else None


def _same(a: Value | None, b: Value | None) -> bool:
    fa, fb = _floats(a), _floats(b)
    if fa is None or fb is None:
        return (a.kind if a else None) == (b.kind if b else None)
    return fa.shape == fb.shape and bool(np.array_equal(fa, fb, equal_nan=True))
