"""Checks that need no reference: does backward agree with the student's own forward (finite
differences), are inputs left alone, is backward repeatable and linear in the upstream gradient.

The probe (grader.probe) makes the extra calls in the sandbox; the judging happens here."""
from __future__ import annotations

import math

import numpy as np

from grader import expr, messages
from grader.checks import Context, Verdict, aggregate, written
from grader.compare import as_float, compare, finite
from grader.diagnose import hint
from grader.probe import GRAD_RTOL, Probe
from grader.report import CheckResult
from grader.rubric import Check, resolve_shape
from grader.runner import changed_inputs
from grader.sandbox.protocol import Value

NONFINITE = ("every value must be a finite number (look for a division by zero, or an array "
             "made with np.empty or filled with NaN and never filled in)")

# --- judges -----------------------------------------------------------------------------------

def evaluate(check: Check, ctx: Context) -> CheckResult:
    """Judge one consistency row."""
    judge = {"gradcheck": judge_gradcheck, "mutation": judge_mutation,
             "repeatable": judge_repeatable, "linearity": judge_linearity,
             "forbidden": judge_forbidden, "composition": judge_composition}[check.kind]
    return aggregate(check, ctx.comp, [(name, judge(check, ctx, name)) for name in check.cases])


def judge_forbidden(check: Check, ctx: Context, case: str) -> Verdict:
    """The case's calls, made again with the forbidden functions refusing to run."""
    run = ctx.forbidden.get((check.id, case))
    if run is None or (run.failure is not None and run.failed_stage == "import"):
        return Verdict(False, "not run: your module could not be imported", ran=False)
    p = run.failure
    if p is not None and p.type == "ForbiddenCall":
        function = p.message.split(" ", 1)[0]
        where = "the constructor" if run.failed_stage == "construct" else \
            f"{run.failed_stage}()"
        return Verdict(False, f"{where} calls {_short_name(function)}, which this assignment "
                              "does not allow here",
                       diagnosis=hint(ctx, "forbidden_call", check.visibility == "hidden",
                                      function=_short_name(function)))
    if p is not None:
        return Verdict(False, f"not run: {messages.short(p, run.failed_stage)}", ran=False)
    idle = _not_written(ctx, run)
    if idle:
        return Verdict(False, f"could not check: {idle}", ran=False)
    return Verdict(True, f"does not call {', '.join(map(_short_name, check.forbid))}.")


def judge_composition(check: Check, ctx: Context, case: str) -> Verdict:
    """The composite's output and input gradient equal what the student's own layers give
    applied in order (and, backward, in reverse): the composition is right, whatever the
    layers compute."""
    from grader.checks import _unusable

    spec = ctx.comp.composition
    layers = spec.words()
    shown = {n: written(n) for n in (spec.output, spec.gradient)}
    chained, run = ctx.chains.get(case), ctx.runs.get(case)
    if chained is None or run is None:
        return Verdict(False, "not run", ran=False)
    if chained.problem is not None:
        p = chained.problem
        if chained.stage == "import":
            return Verdict(False, "not run: your module could not be imported", ran=False)
        what = {"timeout": "did not finish in time", "budget": "ran out of time",
                "died": "stopped the process", "corrupt": "interfered with the grader"}.get(
            p.kind, f"raised {p.type}" + (f" ({p.where})" if p.where else ""))
        return Verdict(False, f"could not check: your own layers applied in order ({layers}) "
                              f"{what}", ran=False)
    pairs = ((spec.output, chained.output), (spec.gradient, chained.gradient))
    for name, own in pairs:
        if own.kind != "array":
            return Verdict(False, f"could not check: your own layers applied in order "
                                  f"({layers}) give {own.describe()} for {shown[name]}",
                           ran=False)
    for name, own in pairs:   # the composite's own, returned or stored under its name
        bad = _unusable(run.observed.get(name), name, ctx,
                        messages.stage_words(ctx.comp.produced_by(name)))
        if bad:
            return bad
    for name, own in pairs:
        mine = run.observed[name].value.array
        if mine.shape != own.array.shape or \
                not compare(mine, own.array, check.atol, check.rtol).ok:
            how = f"{layers}, and back through them in reverse" if name == spec.gradient \
                else layers
            return Verdict(False, f"{shown[name]} is not what your own layers give applied "
                                  f"in order ({how})",
                           diagnosis=hint(ctx, "not_composed", check.visibility == "hidden",
                                          name=shown[name], how=layers))
    return Verdict(True, f"{shown[spec.output]} and {shown[spec.gradient]} are your own layers "
                         f"applied in order ({layers}).")


def _not_written(ctx: Context, run) -> str:
    """Why a run shows nothing done, when every call returned None (the handout's skeleton)."""
    outputs = [run.observed.get(c.output) for c in ctx.comp.calls if c.output]
    if outputs and all(o is not None and o.value is not None and o.value.kind == "none"
                       for o in outputs):
        names = " and ".join(f"{c.method}()" for c in ctx.comp.calls if c.output)
        return f"{names} return None (not implemented yet?)"
    return ""


def _short_name(dotted: str) -> str:
    """numpy.tanh as students write it: np.tanh."""
    return "np." + dotted[len("numpy."):] if dotted.startswith("numpy.") else dotted


def _not_run(ctx: Context, p: Probe) -> Verdict:
    return Verdict(False, f"not run: {messages.short(p.problem, p.stage)}", ran=False)


def judge_gradcheck(check: Check, ctx: Context, case: str) -> Verdict:
    """backward(G) against central differences of sum(forward(.) * G)."""
    p = ctx.probes[case]
    if p.problem:
        return _not_run(ctx, p)
    numeric_ok = _numeric_ok(p)
    errors, unusable, nonfinite = _gradient_errors(ctx, case, p, numeric_ok)
    bad = [text for _, text in errors]
    if nonfinite or not numeric_ok:
        return Verdict(False, _nonfinite_gradcheck(ctx, nonfinite, p.forward_nonfinite))
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


def disagreeing(ctx: Context, case: str) -> list[str]:
    """The gradients (as the rubric names them: dLdA.0, layers.0.dLdW) that disagree with the
    finite differences of the student's own forward on ``case``."""
    p = ctx.probes.get(case)
    if p is None or p.problem:
        return []
    return [grad for grad, _ in _gradient_errors(ctx, case, p, _numeric_ok(p))[0]]


def _numeric_ok(p: Probe) -> bool:
    """Every finite difference of the probe is a number (none overflowed)."""
    return all(np.isfinite(n) for pairs in p.numeric.values() for _, n in pairs)


def _gradient_errors(ctx: Context, case: str, p: Probe, numeric_ok: bool
                     ) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """Gradients that disagree with the finite differences (each with how), that cannot be
    compared, and that hold NaN or inf (compared only when the finite differences themselves
    are finite)."""
    dims = {k: float(v) for k, v in ctx.comp.case(case).dims}
    bad, unusable, nonfinite = [], [], []
    for wrt, grad, scale in ctx.comp.gradients:
        value = p.first.get(grad)
        base = ctx.runs[case].inputs[wrt] if case in ctx.runs else None
        arr = value.array if value is not None and value.kind == "array" else None
        # the size first: converting a large array only to learn it is unusable costs memory
        if arr is None or base is None or arr.size != base.size or as_float(arr) is None:
            unusable.append(f"{grad} ({value.describe() if value else 'missing'})")
        elif not finite(arr):
            nonfinite.append(grad)
        elif numeric_ok:
            g = as_float(arr).reshape(base.shape) / expr.evaluate(scale, dims)
            error = _worst_error(g, p.numeric[wrt])
            if not error <= GRAD_RTOL:  # written so that a NaN error fails too
                scaled = "" if scale.strip() == "1" else \
                    f", this layer's {grad} being {scale} times it"
                bad.append((grad, f"{grad} (relative error {error:.2g}{scaled})"))
    return bad, unusable, nonfinite


def _worst_error(g: np.ndarray, pairs: list[tuple[np.ndarray, float]]) -> float:
    """The largest relative error of <g, v> against the finite difference along v (NaN when
    the product overflows, which the caller counts as a failure)."""
    errors = []
    for v, n in pairs:
        analytic = float(np.vdot(g, v))
        errors.append(abs(analytic - n) / max(abs(n), abs(analytic), 1e-8))
    if any(e != e for e in errors):   # max() would keep or drop a NaN depending on the order
        return float("nan")
    return max(errors, default=0.0)


def _nonfinite_gradcheck(ctx: Context, grads: list[str], forward_nonfinite: bool) -> str:
    """Why finite differences could not vouch for backward: NaN or inf on either side."""
    fwd, bwd = ctx.comp.forward.method, ctx.comp.backward.method
    if grads:
        also = f", and {fwd}() returned NaN or inf too" if forward_nonfinite else ""
        return f"{bwd}() returned NaN or inf for {', '.join(grads)}{also}: {NONFINITE}."
    if forward_nonfinite:
        return (f"{fwd}() returned NaN or inf on inputs near the case's, so finite differences "
                f"cannot check {bwd}(): {NONFINITE}.")
    return (f"finite differences of your {fwd}() are not finite numbers (its values are too "
            f"large to add up), so they cannot check {bwd}().")


def _forward_matches(ctx: Context, case: str) -> bool | None:
    out = ctx.comp.forward.output
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
    idle = _not_written(ctx, ctx.runs[case])
    if idle and not changed:   # nothing done is nothing to vouch for
        return Verdict(False, f"could not check: {idle}", ran=False)
    if changed:
        method, name = changed[0]
        return Verdict(False, f"{messages.stage_words(method)} changed its input {name} in "
                              "place",
                       diagnosis=hint(ctx, "input_mutated", check.visibility == "hidden",
                                      input=name))
    methods = " and ".join(dict.fromkeys(c.method for c in ctx.comp.calls if c.inputs))
    one = " and " not in methods
    return Verdict(True, f"{methods} {'leaves its' if one else 'leave their'} inputs unchanged.")


def judge_repeatable(check: Check, ctx: Context, case: str) -> Verdict:
    """The same dLdZ twice gives the same gradients (nothing accumulates between calls)."""
    p = ctx.probes[case]
    if p.problem:
        return _not_run(ctx, p)
    method = ctx.comp.backward.method
    nonfinite = [n for n, v in p.first.items() if not (_finite_value(v)
                                                       and _finite_value(p.again.get(n)))]
    if nonfinite:  # NaN == NaN would pass as "the same"; a NaN gradient is never right
        return Verdict(False, f"{method}() returned NaN or inf for {', '.join(nonfinite)}: "
                              f"{NONFINITE}.")
    if not any(v.kind == "array" for v in p.first.values()):
        return Verdict(False, f"could not check: {method}() must produce arrays", ran=False)
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
    nonfinite = _nonfinite_linearity(ctx, p)
    if nonfinite:
        return Verdict(False, "; ".join(nonfinite) + f": {NONFINITE}.")
    problems, upstream, compared = [], ctx.comp.backward.inputs[0], 0
    for name, first in p.first.items():
        trio = (first, p.zero.get(name), p.double.get(name))
        size = math.prod(resolve_shape(ctx.comp.shape_of(name), ctx.comp.case(case).dim_map))
        # shapes and sizes first: only arrays of their Table 1 size are converted and compared,
        # so the copies are bounded by the rubric, not by what the child sends
        if any(v is None or v.kind != "array" or v.array.shape != first.array.shape
               or v.array.size != size for v in trio):
            continue
        f, z, d = (_floats(v) for v in trio)
        if f is None or z is None or d is None:
            continue
        compared += 1
        if not np.abs(z).max(initial=0.0) <= 1e-10:   # written so that NaN fails too
            problems.append(f"with {upstream} = 0, {name} is not zero")
        elif not np.all(np.abs(d / 2 - f) <= 5e-11 + 1e-7 * np.abs(f)):  # 2 * f could overflow
            problems.append(f"doubling {upstream} does not double {name}")
    if not compared:
        method = ctx.comp.backward.method
        return Verdict(False, f"could not check: {method}() must produce arrays of the Table 1 "
                              "sizes, of the same shape for every upstream gradient", ran=False)
    if problems:
        return Verdict(False, "; ".join(problems) + ": every gradient must be a linear function "
                              "of the upstream gradient (no constant terms).")
    return Verdict(True, "backward is linear in the upstream gradient.")


def _nonfinite_linearity(ctx: Context, p: Probe) -> list[str]:
    """'backward(0) returned NaN or inf for dLdW', for every call and gradient that did."""
    method, upstream = ctx.comp.backward.method, ctx.comp.backward.inputs[0]
    calls = ((f"{method}({upstream})", p.first), (f"{method}(0)", p.zero),
             (f"{method}(2 {upstream})", p.double))
    found = [(call, [n for n, v in values.items() if not _finite_value(v)])
             for call, values in calls]
    if found[0][1] and all(names == found[0][1] for _, names in found):  # say it once
        return [f"{method}() returned NaN or inf for {', '.join(found[0][1])}"]
    return [f"{call} returned NaN or inf for {', '.join(names)}" for call, names in found if names]


def _finite_value(v: Value | None) -> bool:
    """True unless ``v`` is an array holding NaN or inf (other kinds are judged elsewhere)."""
    return v is None or v.kind != "array" or finite(v.array)


def _floats(v: Value | None) -> np.ndarray | None:
    return as_float(v.array) if v is not None and v.kind == "array" else None


def _same(a: Value | None, b: Value | None) -> bool:
    """Both the same array (compared as they came: no float copies), or both the same kind."""
    if a is None or b is None or a.kind != "array" or b.kind != "array":
        return (a.kind if a else None) == (b.kind if b else None)
    return a.array.shape == b.array.shape and bool(np.array_equal(a.array, b.array))
