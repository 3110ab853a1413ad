"""Judge what a submission produced against Table 1 and the test vectors, one rubric row at a time.

Everything here runs in the parent on plain arrays re-created from bytes."""
from __future__ import annotations

from grader.records import record, field

import numpy as np

from grader import messages
from grader.compare import as_float, compare, finite
from grader.diagnose import Diagnosis, diagnose, diagnose_problem, precision_warning
from grader.report import CheckResult
from grader.rubric import Check, Component, resolve_shape, shape_words
from grader.runner import INIT, CaseRun, Observed
from grader.sandbox.protocol import Value
from grader.vectors import CaseVectors

HIDDEN_NOTE = "Hidden check: expected values are not shown."


@record(frozen=True)
class Verdict:
    """The outcome of one check on one case."""
    ok: bool
    message: str = ""
    ran: bool = True                 # False: the code could not be run to produce the value
    diagnosis: Diagnosis | None = None


@record(frozen=True)
class Context:
    """What a check needs besides its own row."""
    comp: Component
    runs: dict[str, CaseRun]
    vectors: dict[str, CaseVectors]
    probes: dict = field(default_factory=dict)    # case -> consistency.Probe
    samples: dict = field(default_factory=dict)   # param -> Observed, from a large layer
    forbidden: dict = field(default_factory=dict)  # (check id, case) -> CaseRun, refusing
    chains: dict = field(default_factory=dict)     # case -> runner.Chained, its own layers


def evaluate(check: Check, ctx: Context) -> CheckResult:
    """Run one check over its cases and aggregate into a scored row."""
    judge = JUDGES[check.kind]
    verdicts = [(name, judge(check, ctx, name)) for name in check.cases]
    return aggregate(check, ctx.comp, verdicts)


def aggregate(check: Check, comp: Component, verdicts: list[tuple[str, Verdict]]) -> CheckResult:
    """Score = points x fraction of cases passed; one message for the first failing case."""
    passed = sum(v.ok for _, v in verdicts)
    total = len(verdicts)
    failing = [(n, v) for n, v in verdicts if not v.ok]
    hidden = check.visibility == "hidden"
    msgs, hints, mistakes = [], [], []
    if not failing and verdicts and verdicts[0][1].message and not hidden:
        msgs.append(verdicts[0][1].message)   # e.g. what a consistency check found
    if failing:
        name, first = failing[0]
        others = [n for n, _ in failing[1:]]
        if hidden:
            msgs.append(f"{HIDDEN_NOTE} Failed {len(failing)} of {total} hidden case(s).")
            if not first.ran:  # say no more: an exception message may quote hidden inputs
                msgs.append("Your code raised an error or did not finish on a hidden case.")
        elif all(v.message == first.message for _, v in failing):  # said once, for all cases
            msgs.append(first.message)
        else:
            case = comp.case(name)
            dims = ", ".join(f"{k}={v}" for k, v in case.dims)
            also = f" (also fails on: {', '.join(others)})" if others else ""
            msgs.append(f"case {name} ({dims}): {first.message}{also}")
        seen = set()
        for _, v in failing:
            d = v.diagnosis
            if d and d.mistake not in seen:
                seen.add(d.mistake)
                mistakes.append(d.mistake)
                hints.append(d.text)
    status = "passed" if not failing else ("error" if all(not v.ran for _, v in failing)
                                           else "failed")
    score = round(check.points * passed / total, 6) if total else 0.0
    return CheckResult(check.id, check.title, check.kind, check.visibility, score, check.points,
                       passed, total, status, tuple(msgs), tuple(hints), tuple(mistakes),
                       check.component)


# --- what an observation is -------------------------------------------------------------------

def _unusable(obs: Observed | None, name: str, ctx: Context, stage,
              stored: bool = False) -> Verdict | None:
    """A Verdict when there is no usable array to judge, else None. ``stage``: the call as
    messages name it, or a function giving that (worded only when there is something to
    say)."""
    if obs is not None and obs.problem is None and obs.value.kind == "array":
        return None   # the usual case, decided before any words are made
    stage = stage() if callable(stage) else stage
    if obs is None:
        return Verdict(False, f"{name} was not produced", ran=False)
    if obs.problem is not None and obs.problem.missing_path:   # said in full here
        return Verdict(False, f"not run: {obs.problem.message}", ran=False)
    if obs.problem is not None:  # the report shows the traceback once, at the top
        p = obs.problem
        return Verdict(False, f"not run: {messages.short(p, obs.stage)} (see above)",
                       ran=False, diagnosis=diagnose_problem(ctx, p, obs.stage))
    v = obs.value
    returned = ctx.comp.returned(name) and not stored
    attr = _attribute(ctx, name)
    what = f"{stage} returned" if returned else f"after {stage}, {attr} is"
    if v.kind == "missing" and v.text and "." in attr:
        return Verdict(False, f"after {stage}, {v.text}")
    if v.kind == "missing":
        return Verdict(False, f"{stage} does not set {attr}: not implemented yet?")
    if v.kind == "none":
        return Verdict(False, f"{what} None: not implemented yet?")
    if v.kind in ("sequence", "other"):
        return Verdict(False, f"{what} {v.describe()}; it should be a numpy array "
                              f"(use numpy operations, or np.array(...)).")
    return None


def _attribute(ctx: Context, name: str) -> str:
    """Where ``name`` is read, as written in Python: self.running_M, self.layers[0].W, or
    model.layers[0].W on an object the grader built."""
    call = ctx.comp.call_of(name)
    path = call.path(name) if call else name
    text = written(path)
    return text if path.split(".")[0] in ctx.comp.object_names else f"self.{text}"


def written(path: str) -> str:
    """An attribute path as Python writes it: layers.0.W is layers[0].W, dLdA.0 is dLdA[0]."""
    first, *rest = path.split(".")
    return first + "".join(f"[{p}]" if p.lstrip("-").isdigit() else f".{p}" for p in rest)


def _expected_shape(ctx: Context, name: str, case: str) -> tuple[int, ...]:
    return resolve_shape(ctx.comp.shape_of(name), ctx.comp.case(case).dim_map)


def _shape_message(ctx: Context, name: str, case: str, got: tuple[int, ...]) -> str:
    symbols = ctx.comp.shape_of(name)
    if symbols is None:
        return f"{name} should be a scalar (one number), got an array of shape {got}"
    want = _expected_shape(ctx, name, case)
    return f"{name} should be {shape_words(symbols)} = {want}, got {got}"


def _who(ctx: Context, name: str) -> str:
    """The call that produces ``name``, as written in messages: 'forward()' or '__init__'."""
    from grader.messages import stage_words

    produced = ctx.comp.produced_by(name)
    return stage_words(produced) if produced else "__init__"


# --- judges -----------------------------------------------------------------------------------

def _each(judge_one):
    """A judge of every target of a check: the verdicts of the targets that fail, together
    (a check such as 'velocities after __init__' names several quantities)."""
    def judge(check: Check, ctx: Context, case: str) -> Verdict:
        verdicts = [judge_one(check, ctx, case, name) for name in check.targets]
        bad = [v for v in verdicts if not v.ok]
        if not bad:
            return Verdict(True, " ".join(dict.fromkeys(v.message for v in verdicts
                                                        if v.message)))
        if len(bad) == 1:
            return bad[0]
        said = dict.fromkeys(v.message.rstrip(".") for v in bad)
        return Verdict(False, "; ".join(said) + ".", ran=all(v.ran for v in bad),
                       diagnosis=next((v.diagnosis for v in bad if v.diagnosis), None))
    judge.__doc__ = judge_one.__doc__
    return judge


def _judge_init(check: Check, ctx: Context, case: str, name: str) -> Verdict:
    """Parameters right after __init__: Table 1 shape, then the init rule."""
    obs = ctx.runs[case].observed.get(INIT + name)
    bad = _unusable(obs, name, ctx, "__init__")
    if bad:
        return bad
    arr = obs.value.array
    want = _expected_shape(ctx, name, case)
    if arr.shape != want:
        msg = _shape_message(ctx, name, case, arr.shape) + " right after __init__"
        return Verdict(False, msg, diagnosis=diagnose(ctx, check, case, name, arr, want=want))
    rule = ctx.comp.init_rule(name)
    if rule.kind == "zeros" and (arr.dtype.kind not in "biufc" or np.any(arr != 0)):
        nonzero = int(np.count_nonzero(arr)) if arr.dtype.kind in "biufc" else arr.size
        return Verdict(False, f"{name} should be all zeros after __init__, "
                              f"but {nonzero} of {arr.size} values are not",
                       diagnosis=diagnose(ctx, check, case, name, arr, want=want))
    if rule.kind == "ones" and (arr.dtype.kind not in "biufc" or np.any(arr != 1)):
        off = int(np.count_nonzero(arr != 1)) if arr.dtype.kind in "biufc" else arr.size
        return Verdict(False, f"{name} should be all ones after __init__, "
                              f"but {off} of {arr.size} values are not",
                       diagnosis=diagnose(ctx, check, case, name, arr, want=want))
    if rule.kind == "normal":
        return judge_normal_init(ctx, name, rule)
    return Verdict(True)


SIGMAS = 6.0   # a correct random init fails a statistic with probability about 2e-9


def judge_normal_init(ctx: Context, name: str, rule) -> Verdict:
    """Mean, standard deviation and excess kurtosis of the parameter of a large layer, each
    within SIGMAS standard errors of a normal distribution with the rule's mean and std."""
    from grader import expr
    from grader.diagnose import hint

    obs = ctx.samples.get(name)
    bad = _unusable(obs, name, ctx, "__init__")
    if bad:
        return bad
    layer = _size_words(rule, ctx.comp.cls)
    arr, want = obs.value.array, _sample_shape(ctx, name, rule)
    if want is not None and arr.shape != want:  # before any conversion: a copy costs memory
        return Verdict(False, f"{name} of {layer} should be "
                              f"{shape_words(ctx.comp.shape_of(name))} = {want}, "
                              f"got {arr.shape}")
    values = as_float(arr)
    dims = {k: float(v) for k, v in ctx.comp.init_rule(name).dims}
    if values is None or values.size < 1000:
        return Verdict(False, f"{name} of {layer} is {obs.value.describe()}")
    where = f"measured on {layer}"
    if not finite(values):  # every statistic would be NaN, and NaN fails no comparison
        return Verdict(False, f"{name} holds NaN or inf after __init__ ({where})")
    want_mean, want_std = expr.evaluate(rule.mean, dims), expr.evaluate(rule.std, dims)
    n, mean, std = values.size, float(values.mean()), float(values.std())
    if std == 0:
        return Verdict(False, f"{name} is constant ({mean:g}) after __init__ ({where})",
                       diagnosis=hint(ctx, "not_random_init", name=name, std=rule.std))
    if abs(std - want_std) > SIGMAS * want_std / np.sqrt(2 * n):
        return Verdict(False, f"{name} should be drawn with std {rule.std} = {want_std:.4g}, "
                              f"but its std is {std:.4g} ({std / want_std:.3g}x; {where})",
                       diagnosis=hint(ctx, "wrong_init_scale", name=name, std=rule.std))
    if abs(mean - want_mean) > SIGMAS * want_std / np.sqrt(n):
        return Verdict(False, f"{name} should have mean {rule.mean} = {want_mean:.4g}, but its "
                              f"mean is {mean:.4g} ({where})")
    kurtosis = float(np.mean(((values - mean) / std) ** 4)) - 3.0
    if abs(kurtosis) > SIGMAS * np.sqrt(24.0 / n):
        return Verdict(False, f"{name} does not look normally distributed: excess kurtosis "
                              f"{kurtosis:.2f}, where a normal distribution has 0 ({where})",
                       diagnosis=hint(ctx, "not_normal", name=name))
    return Verdict(True)


def _sample_shape(ctx: Context, name: str, rule) -> tuple[int, ...] | None:
    """The Table 1 shape of ``name`` in the init rule's large layer (None if Table 1 uses a
    symbol that is not one of the rule's dims)."""
    try:
        return resolve_shape(ctx.comp.shape_of(name), dict(rule.dims))
    except KeyError:
        return None


def _size_words(rule, cls: str = "layer") -> str:
    return f"{cls}({', '.join(f'{k}={v}' for k, v in rule.dims)})"


def _judge_shape(check: Check, ctx: Context, case: str, name: str) -> Verdict:
    """A returned or stored quantity has its Table 1 shape."""
    obs = ctx.runs[case].observed.get(name)
    bad = _unusable(obs, name, ctx, lambda: _who(ctx, name))
    if bad:
        return bad
    arr = obs.value.array
    want = _expected_shape(ctx, name, case)
    if arr.shape == want or (want == () and is_scalar(arr)):
        return Verdict(True)
    return Verdict(False, _shape_message(ctx, name, case, arr.shape),
                   diagnosis=diagnose(ctx, check, case, name, arr,
                                      expected=ctx.vectors[case].expected[name]))


def is_scalar(arr: np.ndarray) -> bool:
    """One number: a 0-d array, or a 1- or 2-d array holding one value (the 1 x 1 that the
    handout's matrix formula for a sum produces)."""
    return arr.size == 1 and arr.ndim <= 2


def _judge_value(check: Check, ctx: Context, case: str, name: str) -> Verdict:
    obs = ctx.runs[case].observed.get(name)
    bad = _unusable(obs, name, ctx, lambda: _who(ctx, name))
    if bad:
        return bad
    got, expected = obs.value.array, ctx.vectors[case].expected[name]
    note = ""
    if expected.shape == () and is_scalar(got):
        got = got.reshape(())
    elif got.shape != expected.shape:
        if got.size == expected.size and _squeezed(got.shape) == _squeezed(expected.shape):
            note = f" (compared after reshaping {got.shape} to {expected.shape})"
            got = got.reshape(expected.shape)
        else:
            shape = _shape_message(ctx, name, case, got.shape)
            return Verdict(False, f"values not compared: {shape}",
                           diagnosis=diagnose(ctx, check, case, name, obs.value.array,
                                              expected=expected))
    result = compare(got, expected, check.atol, check.rtol)
    lower = precision_warning(ctx, check, name, got, expected)
    if lower:  # fail whatever the tolerance says, so the outcome does not depend on luck
        return Verdict(False, f"{name} is {got.dtype}, but the inputs are {expected.dtype}: "
                              f"values lose precision{note}", diagnosis=lower)
    if result.ok:
        return Verdict(True, note)
    text = result.summary(name, reveal=check.visibility == "public")
    equation = ctx.comp.equation(name)
    if equation:
        text += f". Expected {equation}"
    return Verdict(False, text + note, diagnosis=diagnose(ctx, check, case, name, got,
                                                          expected=expected))


def judge_stored(check: Check, ctx: Context, case: str) -> Verdict:
    """Attributes a call must leave on the layer hold what they should."""
    problems = []
    for name in check.targets:
        key = ctx.comp.stored_key(name)
        obs = ctx.runs[case].observed.get(key)
        bad = _unusable(obs, name, ctx, lambda: _who(ctx, name), stored=True)
        if bad:
            if not bad.ran:
                return bad
            problems.append(bad.message)
            continue
        got, expected = obs.value.array, ctx.vectors[case].expected[key]
        if expected.shape == () and (got.shape != () or got != expected):
            problems.append(f"self.{name} should be {_scalar_words(ctx, name, case)}, "
                            f"got {_brief(obs.value)}")
        elif expected.shape != () and (got.shape != expected.shape
                                       or not compare(got, expected, check.atol, check.rtol).ok):
            problems.append(f"self.{name} does not hold what it should "
                            f"({shape_words(ctx.comp.shape_of(name))} = {expected.shape}, "
                            f"{_stored_words(ctx, name)}; "
                            f"got {_brief(obs.value)})")
    if problems:
        return Verdict(False, "; ".join(problems))
    return Verdict(True)


def _stored_words(ctx: Context, name: str) -> str:
    if ctx.comp.returned(name):
        return f"the {name} that {ctx.comp.call_of(name).method}() returns"
    return f"the value {name} passed to {_who(ctx, name)}"


def _scalar_words(ctx: Context, name: str, case: str) -> str:
    dims = ctx.comp.case(case).dim_map
    expected = ctx.vectors[case].expected[name]
    symbol = name if name in dims else "it"
    return f"{symbol} = {expected.item()}"


def _brief(v: Value) -> str:
    if v.kind == "array" and v.array.shape == ():
        return repr(v.array.item())
    return v.describe()


def _squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(s for s in shape if s != 1)


def judge_unchanged(check: Check, ctx: Context, case: str) -> Verdict:
    """Each target is still what the submission itself had before (``like``): eval mode
    leaves the running statistics as the last training step left them, whatever they are."""
    for name, before in zip(check.targets, check.like):
        now, then = ctx.runs[case].observed.get(name), ctx.runs[case].observed.get(before)
        bad = _unusable(then, before, ctx, lambda: _who(ctx, before)) or \
            _unusable(now, name, ctx, lambda: _who(ctx, name))
        if bad:
            return bad
        a, b = now.value.array, then.value.array
        if a.shape != b.shape or not compare(a, b, check.atol, check.rtol).ok:
            return Verdict(False, f"{_who(ctx, name)} changes {_attribute(ctx, name)}: it should "
                                  f"leave it as {_who(ctx, before)} left it")
    return Verdict(True)


judge_init = _each(_judge_init)
judge_shape = _each(_judge_shape)
judge_values = _each(_judge_value)   # returned or stored quantities match the reference

JUDGES = {"init": judge_init, "shape": judge_shape, "values": judge_values,
          "stored": judge_stored, "unchanged": judge_unchanged}
