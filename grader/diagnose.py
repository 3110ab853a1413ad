"""Name the likely mistake behind a wrong array.

Two sources: generic transforms of the expected array (transpose, lost axis, sum over an axis,
a constant factor, lower precision), and the stored outputs of wrong variants of the reference
(``mistake.<id>.<name>`` in the vectors), written by ``make vectors``. The texts are data: built-in
defaults below, overridable per mistake in the rubric. Hidden checks never get numbers.
"""
from __future__ import annotations

import math
import re
from grader.records import record
from typing import TYPE_CHECKING

import numpy as np

from grader.compare import as_float, finite
from grader.rubric import shape_words

if TYPE_CHECKING:
    from grader.checks import Context
    from grader.rubric import Check
    from grader.sandbox.client import Problem

VARIANT = "mistake."

DEFAULT_HINTS = {
    "transposed": "{name} is transposed: Table 1 says {name} is {shape}. "
                  "Check the order of the operands{eq}.",
    "keepdims": "{name} lost an axis: it must be {shape} = {want}, not {got_shape}. "
                "Keep the axis (keepdims=True, or reshape to {want}).",
    "not_summed": "{name} is not summed over the batch: add up the contributions of the N "
                  "samples{eq}.",
    "batch_mean": "{name} is divided by the batch size N: this layer sums over the batch{eq}, "
                  "it does not average.",
    "batch_sum": "{name} is N times too large: this layer averages over the batch{eq}.",
    "sign_flipped": "{name} has the wrong sign: look for a stray minus{eq}.",
    "scaled": "{name} is off by a constant factor{alpha}: remove the extra factor{eq}.",
    "wrong_dtype": "{name} is {dtype}, not float64: do not cast to lower precision "
                   "(e.g. astype(np.float32)); the rounding error is what makes values differ.",
    "not_zero_init": "{name} must start as zeros in __init__ (np.zeros with shape {shape}); "
                     "it {how}.",
    "input_mutated": "your code changed its input {input} in place (e.g. `{input} -= ...` or "
                     "`{input} *= ...`): compute into a new array instead.",
    "W_not_transposed": "a matrix product has operands whose shapes do not line up: check every "
                        "operand against Table 1; a weight used where its transpose belongs is "
                        "the usual cause.",
    "call_arguments": "inside {method}(), a call passes arguments its function does not take "
                      "({message}; {where}): check that call against the definition it calls.",
    "wrong_shape": "{name} should be {shape} = {want}, got {got_shape}: check each operand "
                   "against Table 1.",
    "summed_everything": "{name} is a single number: the sum ran over every entry. Sum over "
                         "the batch axis only, np.sum(..., axis=0, keepdims=True), which gives "
                         "{shape}{eq}.",
    "wrong_init_scale": "{name} is initialised with the wrong scale: draw it from a normal "
                        "distribution with standard deviation {std}.",
    "not_normal": "{name} is not drawn from a normal distribution: use rng.normal (or "
                  "np.random.randn times the scale), not a uniform draw.",
    "not_random_init": "{name} must be drawn at random in __init__ (normal, standard deviation "
                       "{std}), not filled with a constant.",
    "init_shape": "{name} is created with shape {got_shape}, but Table 1 says {shape}: create "
                  "it with that shape, e.g. np.zeros({code}).",
    "not_scalar": "{name} must be one number, not an array of shape {got_shape}: add up over "
                  "every axis (np.sum without an axis){eq}.",
    "forbidden_call": "{function} is not allowed in this class: compute it from its definition "
                      "with the operations the handout allows (e.g. np.exp).",
    "not_composed": "{name} is not your own layers applied in order ({how}): check that "
                    "self.layers holds them in that order, and that forward runs through every "
                    "one of them and backward through every one in reverse.",
    "signature": "{method}() does not take the arguments the handout gives it: it is called as "
                 "{call}. {fix}",
}

_MATMUL = re.compile(r"matmul|shapes .* not aligned|could not be broadcast|mismatch in its core")


@record(frozen=True)
class Diagnosis:
    """A named mistake and the sentence that tells the student how to fix it."""
    mistake: str
    text: str


def hint(ctx: "Context", mistake: str, hidden: bool = False, **fields: object) -> Diagnosis:
    """Fill in the rubric's (or the default) text for ``mistake``."""
    template = ctx.comp.hints.get(mistake) or DEFAULT_HINTS.get(mistake) or "{name}: " + mistake
    values = {"eq": "", "alpha": "", "shape": "", "want": "", "got_shape": "", "dtype": "",
              "how": "", "input": "", "name": "", "std": "", "function": "", "fix": "",
              "code": "", "method": "", "call": "", "where": "", "message": ""}
    values.update({k: v for k, v in fields.items() if v is not None})
    if hidden:   # nothing that depends on a hidden case's sizes: its symbols only
        values["alpha"] = ""
        shape = values["shape"]
        values["want"] = "(" + ", ".join(shape.split(" x ")) + ")" if shape else \
            "its Table 1 shape"
        if values["got_shape"] != "":
            values["got_shape"] = _symbolic(values["got_shape"], fields.get("want"),
                                            values["shape"])
    return Diagnosis(mistake, template.format(**values))


def _symbolic(got: object, want: object, shape: str) -> str:
    """A hidden case's wrong shape in words that give no size away: '(C,)' for a (5,) where
    1 x C = (1, 5) was wanted, '()' for a scalar, else 'another shape'."""
    if got == ():
        return "() (a scalar)"
    if isinstance(got, tuple) and isinstance(want, tuple) and shape:
        symbols = [s.strip() for s in shape.split(" x ")]
        if len(symbols) == len(want):
            by_size = {}
            for size, sym in zip(want, symbols):
                by_size.setdefault(size, sym)
            if all(n in by_size for n in got):
                return "(" + ", ".join(str(by_size[n]) for n in got) + ("," if len(got) == 1
                                                                        else "") + ")"
    return "another shape"


def diagnose(ctx: "Context", check: "Check", case: str, name: str, got: np.ndarray,
             expected: np.ndarray | None = None, want: tuple[int, ...] | None = None
             ) -> Diagnosis | None:
    """The known mistake that best explains ``got``, or None."""
    rubric = ctx.comp
    hidden = check.visibility == "hidden"
    eq = rubric.equation(name)
    base = {"name": name, "shape": shape_words(rubric.shape_of(name)),
            "eq": f" ({eq})" if eq else "", "got_shape": got.shape}
    if expected is None:  # init: judged against a rule, not a stored value
        return _init_mistake(ctx, name, got, want, base, hidden)
    base["want"] = expected.shape
    variant = _variant_mistake(ctx, case, name, got)
    if variant:
        return hint(ctx, variant, hidden, **base)
    if expected.shape == () and got.size > 1:
        return hint(ctx, "not_scalar", hidden, **base)
    if got.shape != expected.shape:  # judged on the shape: nothing of got is converted yet
        return _shape_mistake(ctx, got, expected, base, hidden)
    g = as_float(got)
    if g is None:
        return None
    from grader.runner import changed_inputs

    mutated = changed_inputs(ctx.runs[case])
    if mutated:
        return hint(ctx, "input_mutated", hidden, input=mutated[0][1], **base)
    scaled = _scale_mistake(ctx, case, g, expected, base, hidden)
    if scaled:
        return scaled
    if got.dtype.kind == "f" and got.dtype.itemsize < 8 and _close(g, expected, rtol=1e-3,
                                                                    atol=1e-4):
        return hint(ctx, "wrong_dtype", hidden, dtype=str(got.dtype), **base)
    return None


def precision_warning(ctx: "Context", check: "Check", name: str, got: np.ndarray,
                      expected: np.ndarray) -> Diagnosis | None:
    """A lower-precision float that still passed the tolerance is still a mistake to name."""
    if got.dtype.kind == "f" and got.dtype.itemsize < expected.dtype.itemsize:
        return hint(ctx, "wrong_dtype", check.visibility == "hidden", name=name,
                    dtype=str(got.dtype))
    return None


def diagnose_problem(ctx: "Context", problem: "Problem",
                     stage: str = "") -> Diagnosis | None:
    """Name the mistake behind an exception, where the exception itself says it."""
    if problem.kind == "exception" and problem.type == "ValueError" and _MATMUL.search(
            problem.message):
        return hint(ctx, "W_not_transposed")
    comp = ctx.comp
    # a call's own arguments are wrong only when the TypeError comes from the call itself; one
    # raised inside the student's code (a model calling a layer's method the wrong way) is the
    # arguments of a call that code makes
    arguments = problem.kind == "exception" and problem.type == "TypeError" and \
        bool(_ARGUMENTS.search(problem.message))
    own, inner = arguments and not problem.traceback, arguments and bool(problem.traceback)
    if own and stage == "construct":
        args = [*comp.constructor, *(f"{k}={v!r}" for k, v in comp.constructor_kwargs)]
        params = [*comp.constructor, *(f"{k}=..." for k, _ in comp.constructor_kwargs)]
        return hint(ctx, "signature", method="__init__", call=f"{comp.cls}({', '.join(args)})",
                    fix=f"Write it as def __init__(self, {', '.join(params)}).")
    call = next((c for c in ctx.comp.calls if c.stage == stage), None)
    if inner and call is not None:   # raised by a call the student's own code makes
        return hint(ctx, "call_arguments", method=call.method, where=problem.where or "",
                    message=problem.message)
    if own and call is not None:
        args = [*call.inputs, *(f"{k}={v!r}" for k, v in call.kwargs)]
        text = f"{call.method}({', '.join(args)})"
        fix = (f"Write it as def {call.method}(self, {', '.join(call.inputs)})."
               if call.inputs else f"Write it as def {call.method}(self).")
        return hint(ctx, "signature", method=call.method, call=text, fix=fix)
    return None


_ARGUMENTS = re.compile(r"positional argument|unexpected keyword argument|required "
                        r"(positional|keyword)")


def _variant_mistake(ctx: "Context", case: str, name: str, got: np.ndarray) -> str | None:
    """The wrong variant of the reference that explains ``got``: its stored output equals
    ``got``, and no other quantity it changes contradicts what the submission produced (of
    several, the one that explains the most). ``got`` is converted only when a variant has
    its shape (so never beyond the vectors' sizes)."""
    expected = ctx.vectors[case].expected
    valued = {t for ch in ctx.comp.checks if ch.kind == "values" for t in ch.targets}
    best, best_matched = None, -1
    for mistake in ctx.comp.mistakes:
        arr = expected.get(f"{VARIANT}{mistake}.{name}")
        if arr is None or not _matches(got, arr):
            continue
        matched, contradicted = 1, False
        prefix = f"{VARIANT}{mistake}."
        for key, value in expected.items():
            other = key[len(prefix):] if key.startswith(prefix) else None
            if other is None or other == name or other not in valued:
                continue   # what else a variant keeps on itself is its own business
            obs = ctx.runs[case].observed.get(other)
            if obs is None or obs.value is None or obs.value.kind not in ("array", "number"):
                continue   # not produced: neither for nor against
            if obs.value.array.size != value.size:
                contradicted = True
            elif _matches(obs.value.array, value):
                matched += 1
            else:
                contradicted = True
        if not contradicted and matched > best_matched:
            best, best_matched = mistake, matched
    return best


def _matches(got: np.ndarray, want: np.ndarray) -> bool:
    """``got`` equals a variant's value (NaN where it has NaN; a scalar in any 1-value form)."""
    if got.size != want.size or (got.shape != want.shape and want.shape != ()):
        return False
    g = as_float(got)
    if g is None:
        return False
    g = g.reshape(want.shape)
    w = want.astype(np.float64)
    return bool(np.allclose(g, w, rtol=1e-6, atol=1e-8, equal_nan=True))


def _shape_mistake(ctx: "Context", got: np.ndarray, e: np.ndarray, base: dict,
                   hidden: bool) -> Diagnosis:
    if got.ndim == 2 and got.shape == e.shape[::-1]:
        return hint(ctx, "transposed", hidden, **base)
    if got.size == e.size and _squeeze(got.shape) == _squeeze(e.shape):
        return hint(ctx, "keepdims", hidden, **base)
    if _summed_is_expected(got, e):
        return hint(ctx, "not_summed", hidden, **base)
    reduced = 1 in (ctx.comp.shape_of(base["name"]) or ())   # a sum kept as 1 x C or C x 1
    if reduced and got.size == 1 and got.ndim <= 2 and e.size > 1:
        return hint(ctx, "summed_everything", hidden, **base)
    return hint(ctx, "wrong_shape", hidden, **base)


def _summed_is_expected(got: np.ndarray, e: np.ndarray) -> bool:
    """Summing ``got`` over one axis (transposed or not) gives ``e``. An axis is summed only
    when the result has e's size, computed from the shape first: an empty array announced as
    (0, 2**40) would otherwise sum into 2**40 zeros. Complex arrays are not tried."""
    if got.dtype.kind not in "biuf":
        return False
    for axis in range(got.ndim):
        rest = got.shape[:axis] + got.shape[axis + 1:]   # the shape of the sum over axis
        if math.prod(rest) != e.size or _squeeze(e.shape) not in (_squeeze(rest),
                                                                  _squeeze(rest[::-1])):
            continue
        summed = got.sum(axis=axis, dtype=np.float64)   # accumulates in float64: no copy of got
        for candidate in (summed, summed.T):
            if _squeeze(candidate.shape) == _squeeze(e.shape) \
                    and _close(candidate.reshape(e.shape), e):
                return True
    return False


def _scale_mistake(ctx: "Context", case: str, g: np.ndarray, e: np.ndarray, base: dict,
                   hidden: bool) -> Diagnosis | None:
    denom = float(np.vdot(e, e))
    if e.size < 2 or denom == 0 or not np.all(np.isfinite(g)):   # any number scales another
        return None
    alpha = float(np.vdot(g, e)) / denom
    if alpha == 0 or not _close(g, alpha * e, rtol=1e-5):
        return None
    n = ctx.comp.case(case).dim_map.get("N")
    if np.isclose(alpha, -1.0):
        return hint(ctx, "sign_flipped", hidden, **base)
    if n and np.isclose(alpha, 1.0 / n):
        return hint(ctx, "batch_mean", hidden, **base)
    if n and np.isclose(alpha, float(n)):
        return hint(ctx, "batch_sum", hidden, **base)
    return hint(ctx, "scaled", hidden, alpha=f" ({alpha:.4g}x)", **base)


def _init_mistake(ctx: "Context", name: str, got: np.ndarray, want: tuple[int, ...] | None,
                  base: dict, hidden: bool) -> Diagnosis | None:
    base["want"] = want
    if want is not None and got.shape != want:
        if got.ndim == 2 and got.shape == tuple(want)[::-1]:
            return hint(ctx, "transposed", hidden, **base)
        if got.size == int(np.prod(want)) and _squeeze(got.shape) == _squeeze(tuple(want)):
            symbols = ctx.comp.shape_of(name) or ()
            code = "(" + ", ".join(map(str, symbols)) + ("," if len(symbols) == 1 else "") + ")"
            return hint(ctx, "init_shape", hidden, code=code, **base)
        return hint(ctx, "wrong_shape", hidden, **base)
    g = as_float(got)
    if g is not None and np.any(g != 0):
        if not finite(g):   # a mean and std of NaN would describe nothing
            how = "holds NaN or inf"
        elif np.unique(g).size == 1:
            how = f"is filled with {g.flat[0]:g}"
        else:
            how = f"looks random (mean {g.mean():.3g}, std {g.std():.3g})"
        return hint(ctx, "not_zero_init", hidden, how=how, **base)
    return None


def _squeeze(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(s for s in shape if s != 1)


def _close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-6, atol: float = 1e-8) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))
