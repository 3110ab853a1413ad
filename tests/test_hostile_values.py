"""Values a hostile or broken child may send: NaN and inf, absurd shapes, outsized arrays.

Each is a graded result with a message that says what is wrong, found without work in
proportion to the sizes a shape announces."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from conftest import ROOT, SUBMISSIONS, by_id
from grader import checks, consistency
from grader import rubric as rubric_mod
from grader.checks import Context
from grader.probe import Probe
from grader.runner import INIT, CaseRun, Observed
from grader.sandbox.protocol import Value

HUGE = 2**40


@pytest.fixture(scope="module")
def comp(rubric):
    """The Linear component (what these checks judge)."""
    return rubric.component("linear")


@pytest.fixture(scope="module")
def case_vectors(vectors):
    """The Linear vectors by case name."""
    return {k.split("/", 1)[1]: v for k, v in vectors.items()}
MAX_MESSAGE = 2000   # a 32-axis shape fits; a list of thousands of indices would not


def array(arr: np.ndarray) -> Value:
    return Value("array", "ndarray", arr)


def context(rubric, vectors, observed: dict[str, np.ndarray], probes: dict | None = None,
            cases: tuple[str, ...] = ("small", "wide", "large", "hidden_small", "hidden_large")
            ) -> Context:
    """What grade.grade builds: every case's run sees ``observed`` (name -> array)."""
    runs = {c: CaseRun(rubric.case(c), vectors[c].inputs,
                       {k: Observed(array(v), stage="forward") for k, v in observed.items()})
            for c in cases}
    return Context(rubric, runs, vectors, probes or {})


def row(rubric, cid: str):
    return next(c for c in rubric.checks if c.id == cid)


def evaluate(ctx: Context, cid: str):
    with np.errstate(all="ignore"):   # as grade.grade judges
        check = row(ctx.comp, cid)
        module = checks if check.kind in checks.JUDGES else consistency
        return module.evaluate(check, ctx)


def assert_short(result) -> None:
    for text in (*result.messages, *result.hints):
        assert len(text) < MAX_MESSAGE, text[:200]


# --- absurd shapes fed straight to the checks ---------------------------------------------

ABSURD = {
    "empty-0-by-2^40": np.empty((0, HUGE)),
    "empty-2^40-by-0": np.empty((HUGE, 0)),
    "32-axes-of-1": np.ones((1,) * 32),
    "32-axes-empty": np.empty((0,) + (HUGE,) * 1 + (1,) * 30),
}


@pytest.mark.parametrize("cid,name", [("Z_shape", "Z"), ("Z_values", "Z"), ("dLdb_shape", "dLdb"),
                                      ("dLdb_values", "dLdb"), ("hidden_dLdW", "dLdW")])
@pytest.mark.parametrize("arr", ABSURD.values(), ids=ABSURD.keys())
def test_absurd_shape_is_a_shape_failure(comp, case_vectors, cid, name, arr):
    """An empty array announced as (0, 2**40), or 32 axes: a failed row (no exception, no
    allocation in proportion to the announced sizes) whose message names both shapes."""
    result = evaluate(context(comp, case_vectors, {name: arr}), cid)
    assert result.status == "failed" and result.score == 0
    text = " ".join(result.messages + result.hints)
    if row(comp, cid).visibility == "public":
        assert f"got {arr.shape}" in text and "should be" in text
    assert "wrong_shape" in result.mistakes
    assert_short(result)


@pytest.mark.parametrize("arr", ABSURD.values(), ids=ABSURD.keys())
def test_absurd_shape_after_init(comp, case_vectors, arr):
    """A parameter of an absurd shape right after __init__ fails the init row on its shape."""
    result = evaluate(context(comp, case_vectors, {INIT + "W": arr}), "init_W")
    assert result.status == "failed"
    assert f"got {arr.shape} right after __init__" in result.messages[0]
    assert_short(result)


@pytest.mark.parametrize("arr", ABSURD.values(), ids=ABSURD.keys())
def test_absurd_shape_in_consistency_checks(comp, case_vectors, arr):
    """backward returning absurd shapes: the gradient check and the linearity check cannot
    compare them and say so (not a pass, not an exception)."""
    values = {n: array(arr) for n in ("dLdA", "dLdW", "dLdb")}
    probe = Probe(first=values, again=dict(values), zero=dict(values), double=dict(values),
                  numeric={})
    ctx = context(comp, case_vectors, {}, probes={"small": probe}, cases=("small",))
    grad = evaluate(ctx, "gradcheck")
    assert grad.status == "error" and "could not check dLdA" in grad.messages[0]
    assert str(arr.shape) in grad.messages[0]
    linear = evaluate(ctx, "backward_linear")
    assert linear.status == "error" and "could not check" in linear.messages[0]
    for result in (grad, linear):
        assert_short(result)


def test_outsized_arrays_are_not_copied(comp, case_vectors):
    """Arrays of 200 MiB of the wrong shape (read-only views here, so the test itself holds
    no such memory) are judged on their shapes: judging allocates far less than they hold."""
    big_z = np.broadcast_to(np.float64(0.5), (4, 200 * 2**20 // 32))
    big_b = np.broadcast_to(np.int8(1), (5, 200 * 2**20 // 5))   # summing it is a candidate
    ctx = context(comp, case_vectors, {"Z": big_z, "dLdb": big_b}, cases=("small", "wide", "large"))
    values = {"dLdA": array(big_z), "dLdW": array(big_z), "dLdb": array(big_b)}
    ctx.probes["small"] = Probe(first=values, again=dict(values), zero=dict(values),
                                double=dict(values), numeric={})
    tracemalloc.start()
    try:
        results = [evaluate(ctx, cid) for cid in ("Z_shape", "Z_values", "dLdb_shape",
                                                  "dLdb_values", "gradcheck", "backward_linear")]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert all(r.status != "passed" for r in results)
    assert "got (5, 41943040)" in results[2].messages[0]
    assert peak < 16 * 2**20, f"judging allocated {peak / 2**20:.0f} MiB"


# --- NaN and inf -----------------------------------------------------------------------------

def _probe(rubric, values: dict[str, np.ndarray]) -> Probe:
    """What the probe would hold for a backward returning ``values``, with finite differences
    that agree with every finite gradient."""
    first = {n: array(v) for n, v in values.items()}
    dims = rubric.case("small").dim_map
    numeric = {}
    for wrt, grad, _ in rubric.gradients:
        v = np.ones(rubric_mod.resolve_shape(rubric.shape_of(wrt), dims))
        numeric[wrt] = [(v, float(np.sum(values[grad])) if np.isfinite(values[grad]).all()
                         else 1.0)]
    return Probe(first=first, again=dict(first), zero={n: array(0 * v) for n, v in values.items()},
                 double={n: array(2 * v) for n, v in values.items()}, numeric=numeric)


def test_nan_backward_fails_repeatable_and_linearity(comp, case_vectors):
    """A backward whose dLdW is NaN (NaN both times, so 'the same' under equal_nan): the
    repeatability and linearity rows fail and say that backward returned NaN or inf."""
    shapes = {n: rubric_mod.resolve_shape(comp.shape_of(n), comp.case("small").dim_map)
              for n in ("dLdA", "dLdW", "dLdb")}
    values = {n: np.ones(s) for n, s in shapes.items()}
    values["dLdW"] = np.full(shapes["dLdW"], np.nan)
    ctx = context(comp, case_vectors, {}, probes={"small": _probe(comp, values)}, cases=("small",))
    for cid in ("backward_repeatable", "backward_linear", "gradcheck"):
        result = evaluate(ctx, cid)
        assert result.status == "failed", (cid, result.messages)
        assert "backward() returned NaN or inf for dLdW" in result.messages[0], cid


def test_nan_only_without_upstream_gradient(comp, case_vectors):
    """backward(0) returning inf (a division by dLdZ) is named with the call that did it."""
    shapes = {n: rubric_mod.resolve_shape(comp.shape_of(n), comp.case("small").dim_map)
              for n in ("dLdA", "dLdW", "dLdb")}
    probe = _probe(comp, {n: np.ones(s) for n, s in shapes.items()})
    probe.zero["dLdb"] = array(np.full(shapes["dLdb"], np.inf))
    ctx = context(comp, case_vectors, {}, probes={"small": probe}, cases=("small",))
    result = evaluate(ctx, "backward_linear")
    assert result.status == "failed"
    assert result.messages[0].startswith("backward(0) returned NaN or inf for dLdb")


def test_nan_random_init_fails():
    """A random init (mean-reduction rubric) whose large layer holds NaN fails the init row:
    its mean, std and kurtosis would be NaN, which no tolerance comparison rejects."""
    mean_rubric = rubric_mod.load(ROOT / "rubrics" / "mean-reduction.yaml").components[0]
    rule = mean_rubric.init_rule("W")
    ctx = Context(mean_rubric, {}, {}, samples={"W": Observed(array(np.full((400, 300), np.nan)))})
    verdict = checks.judge_normal_init(ctx, "W", rule)
    assert not verdict.ok and "W holds NaN or inf after __init__" in verdict.message


def test_random_init_of_absurd_shape_fails_on_its_shape():
    """The large layer's W announced as (0, 2**40) fails on its shape, before any statistic."""
    mean_rubric = rubric_mod.load(ROOT / "rubrics" / "mean-reduction.yaml").components[0]
    ctx = Context(mean_rubric, {}, {}, samples={"W": Observed(array(np.empty((0, HUGE))))})
    verdict = checks.judge_normal_init(ctx, "W", mean_rubric.init_rule("W"))
    assert not verdict.ok
    assert "should be n_inputs x n_outputs = (400, 300), got (0, 1099511627776)" in verdict.message


# --- the same, through the sandbox -----------------------------------------------------------

def test_nan_layer_report(grade):
    """A layer of NaNs: the three consistency rows fail and say NaN or inf, naming forward too."""
    checks_ = by_id(grade(SUBMISSIONS / "hostile" / "nan_consistent"))
    assert "backward() returned NaN or inf for dLdA, dLdW, dLdb, and forward() returned NaN or " \
           "inf too" in checks_["gradcheck"].messages[0]
    for cid in ("backward_repeatable", "backward_linear"):
        assert checks_[cid].messages[0].startswith("backward() returned NaN or inf for dLdA, "
                                                   "dLdW, dLdb: every value must be a finite")


def test_nan_forward_report(grade):
    """A NaN forward and a right backward: the gradient check fails on forward, not backward."""
    checks_ = by_id(grade(SUBMISSIONS / "hostile" / "nan_forward"))
    assert checks_["gradcheck"].status == "failed"
    assert checks_["gradcheck"].messages[0].startswith(
        "forward() returned NaN or inf on inputs near the case's, so finite differences cannot "
        "check backward()")


def test_absurd_shapes_report(grade):
    """forward returning np.empty((0, 2**40)), backward np.ones((1,) * 32): graded, with shape
    messages naming both shapes."""
    report = grade(SUBMISSIONS / "hostile" / "absurd_shapes")
    checks_ = by_id(report)
    assert report.status == "graded"
    assert "Z should be N x C_out = (4, 5), got (0, 1099511627776)" \
        in checks_["Z_shape"].messages[0]
    assert f"dLdA should be N x C_in = (4, 3), got {(1,) * 32}" \
        in checks_["dLdA_shape"].messages[0]
    for c in report.checks:
        assert_short(c)
