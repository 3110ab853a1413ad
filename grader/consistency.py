"""Checks that need no reference: does backward agree with the student's own forward (finite
differences), are inputs left alone, is backward repeatable and linear in the upstream gradient.

The probe (grader.probe) makes the extra calls in the sandbox; the judging happens here."""
from __future__ import annotations

import numpy as np

from grader import expr, messages
from grader.checks import Context, Verdict, aggregate
from grader.compare import as_float, compare
from grader.diagnose import hint
from grader.probe import GRAD_RTOL, Probe
from grader.report import CheckResult
from grader.rubric import Check
from grader.runner import changed_inputs
from grader.sandbox.protocol import Value

# --- judges -----------------------------------------------------------------------------------

def evaluate(check: Check, ctx: Context) -> CheckResult:
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
            scaled = "" if scale.strip() == "1" else f", this layer's {grad} being {scale} times it"
            bad.append(f"{grad} (relative error {max(errors):.2g}{scaled})")
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
    changed = changed_inputs(ctx.runs[case])
    if changed is None:
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
    problems, upstream = [], ctx.rubric.layer.backward.inputs[0]
    for name, first in p.first.items():
        f, z, d = (_floats(v) for v in (first, p.zero.get(name), p.double.get(name)))
        if f is None or z is None or d is None or f.shape != z.shape or f.shape != d.shape:
            continue
        if not np.allclose(z, 0, atol=1e-10):
            problems.append(f"with {upstream} = 0, {name} is not zero")
        elif not np.allclose(d, 2 * f, rtol=1e-7, atol=1e-10):
            problems.append(f"doubling {upstream} does not double {name}")
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
