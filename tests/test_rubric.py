"""rubric.yaml validation: every mistake in the file is refused with the file and the key named."""
from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from grader import rubric as rubric_mod
from grader.errors import GraderError

BASE = yaml.safe_load((ROOT / "rubrics" / "linear.yaml").read_text(encoding="utf-8"))   # one layer
HOMEWORK = yaml.safe_load((ROOT / "rubric.yaml").read_text(encoding="utf-8"))   # components


def write(tmp_path: Path, data, name: str = "rubric.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def mutated(tmp_path: Path, change) -> Path:
    """The real rubric with ``change(data)`` applied, written to tmp_path."""
    data = copy.deepcopy(BASE)
    change(data)
    return write(tmp_path, data)


def refused(path: Path) -> str:
    """Load ``path`` expecting a GraderError that names the file; return its message."""
    with pytest.raises(GraderError) as info:
        rubric_mod.load(path)
    message = str(info.value)
    assert str(path) in message
    return message


def check_index(data: dict, cid: str) -> int:
    return [c["id"] for c in data["checks"]].index(cid)


def case_index(data: dict, name: str) -> int:
    return [c["name"] for c in data["cases"]].index(name)


# --- refused ------------------------------------------------------------------------------

def test_unknown_top_level_key(tmp_path):
    """A misspelt top-level key is refused, naming the key."""
    msg = refused(mutated(tmp_path, lambda d: d.__setitem__("chekcs", d.pop("checks"))))
    assert "top level" in msg and "'chekcs'" in msg


def test_unknown_key_in_layer(tmp_path):
    """A misspelt key inside layer is refused, naming layer and the key."""
    msg = refused(mutated(tmp_path, lambda d: d["layer"].__setitem__("parms", ["W"])))
    assert "layer: unknown key 'parms'" in msg


def test_missing_layer_class(tmp_path):
    """Removing layer.class is refused as a missing required key."""
    msg = refused(mutated(tmp_path, lambda d: d["layer"].pop("class")))
    assert "layer.class: missing" in msg


def test_nan_points(tmp_path):
    """points: .nan is refused (it would make every total score NaN)."""
    path = mutated(tmp_path, lambda d: d["checks"][0].__setitem__("points", math.nan))
    msg = refused(path)
    assert "checks[0].points" in msg


def test_duplicate_case_name(tmp_path):
    """Two cases with the same name are refused, naming the name."""
    msg = refused(mutated(tmp_path, lambda d: d["cases"][1].__setitem__("name", "small")))
    assert "cases[1].name: duplicate case name 'small'" in msg


# (check id, key, new value, what the message says after "checks[i].key", other words in it)
CHECK_FIELD_ERRORS = {
    "points-not-a-number": ("Z_values", "points", "five", ": expected a number", ["'five'"]),
    "negative-points": ("Z_values", "points", -5, ": must be a finite number >= 0", []),
    "duplicate-id": ("Z_values", "id", "Z_shape", ": duplicate check id 'Z_shape'", []),
    "unknown-kind": ("Z_shape", "kind", "shapes", ": unknown kind 'shapes'", ["gradcheck"]),
    "target-not-in-table1": ("Z_shape", "target", "Y", ": 'Y' has no shape in table1", []),
    "init-target-not-a-param": ("init_W", "target", "Z", ": 'Z' is neither one of the "
                                "layer's params", []),
    "unknown-case": ("Z_values", "cases", ["small", "tiny"], ": unknown case 'tiny'", []),
    "hidden-check-declared-public": ("hidden_Z", "visibility", "public", "",
                                     ["hidden when it uses hidden cases"]),
    "infinite-points": ("Z_values", "points", math.inf, ": must be a finite number >= 0",
                        ["inf"]),
    "negative-atol": ("Z_values", "atol", -1e-8, ": must be a finite number >= 0", []),
    "nan-rtol": ("Z_values", "rtol", math.nan, ": must be a finite number >= 0", ["nan"]),
    "infinite-atol": ("dLdW_values", "atol", math.inf, ": must be a finite number >= 0", []),
}


@pytest.mark.parametrize("cid,key,value,says,also", CHECK_FIELD_ERRORS.values(),
                         ids=CHECK_FIELD_ERRORS.keys())
def test_bad_check_field(tmp_path, cid, key, value, says, also):
    """A wrong value in one check (points that are not a number or negative, a duplicate id,
    an unknown kind, a target Table 1 or the params do not have, an unknown case, hidden
    cases in a public check) is refused, naming the check's index and key and what is
    wrong."""
    def change(d):
        d["checks"][check_index(d, cid)][key] = value
    msg = refused(mutated(tmp_path, change))
    assert f"checks[{check_index(BASE, cid)}].{key}{says}" in msg
    for words in also:
        assert words in msg


def _normal_W(std: object, **dims: int) -> dict:
    return {"normal": {"std": std, "dims": dims or {"C_in": 400, "C_out": 300}}}


# (where to write, new value, the key path the message names, what it says after the key)
VALUE_ERRORS = {
    "zero-call-seconds": (("limits", "call_seconds"), 0, "limits.call_seconds",
                          "must be a finite number > 0, not 0"),
    "negative-import-seconds": (("limits", "import_seconds"), -5, "limits.import_seconds",
                                "must be a finite number > 0, not -5"),
    "nan-call-seconds": (("limits", "call_seconds"), math.nan, "limits.call_seconds",
                         "must be a finite number > 0, not nan"),
    "zero-memory": (("limits", "memory_mb"), 0, "limits.memory_mb",
                    "must be an integer > 0, not 0"),
    "negative-output": (("limits", "output_kb"), -64, "limits.output_kb",
                        "must be an integer > 0, not -64"),
    "fractional-memory": (("limits", "memory_mb"), 1.5, "limits.memory_mb",
                          "expected an integer"),
    "zero-total-seconds": (("limits", "total_seconds"), 0, "limits.total_seconds",
                           "must be a finite number > 0, not 0"),
    "infinite-total-seconds": (("limits", "total_seconds"), math.inf, "limits.total_seconds",
                               "must be a finite number > 0, not inf"),
    "total-seconds-not-a-number": (("limits", "total_seconds"), "a minute",
                                   "limits.total_seconds", "expected a number"),
    "negative-atol": (("tolerance", "atol"), -1e-8, "tolerance.atol",
                      "must be a finite number >= 0"),
    "nan-rtol": (("tolerance", "rtol"), math.nan, "tolerance.rtol",
                 "must be a finite number >= 0, not nan"),
    "infinite-rtol": (("tolerance", "rtol"), math.inf, "tolerance.rtol",
                      "must be a finite number >= 0, not inf"),
    "zero-dimension": (("cases", 0, "dims", "N"), 0, "cases[0].dims.N",
                       "must be an integer > 0, not 0"),
    "negative-dimension": (("cases", 2, "dims", "C_in"), -24, "cases[2].dims.C_in",
                           "must be an integer > 0, not -24"),
    "negative-init-std": (("init", "W"), _normal_W("-1 / sqrt(C_in)"), "init.W.normal.std",
                          "'-1 / sqrt(C_in)' is -0.05 with these dims; it must be finite and > 0"),
    "nan-init-std": (("init", "W"), _normal_W(math.nan), "init.W.normal.std",
                     "must be finite and > 0, not nan"),
    "init-std-not-computable": (("init", "W"), _normal_W("sqrt(-C_in)"), "init.W.normal.std",
                                "cannot evaluate"),
    "zero-init-dims": (("init", "W"), _normal_W("1", C_in=0, C_out=300),
                       "init.W.normal.dims.C_in", "must be an integer > 0, not 0"),
    "zero-gradient-scale": (("layer", "gradients", "W"), {"name": "dLdW", "scale": 0},
                            "layer.gradients.W.scale", "must be finite and not 0, not 0"),
    "gradient-scale-divides-by-zero": (("layer", "gradients", "b"),
                                       {"name": "dLdb", "scale": "1 / (N - 4)"},
                                       "layer.gradients.b.scale",
                                       "cannot evaluate '1 / (N - 4)'"),
}


@pytest.mark.parametrize("where,value,key,says", VALUE_ERRORS.values(), ids=VALUE_ERRORS.keys())
def test_value_that_makes_no_sense(tmp_path, where, value, key, says):
    """A limit of 0 or below, a negative or non-finite tolerance, a dimension below 1, an init
    std that is not a positive number, a gradient scale of 0: refused when the rubric is
    loaded, naming the file and the key."""
    def change(d):
        node = d
        for step in where[:-1]:
            node = node.setdefault(step, {}) if isinstance(node, dict) else node[step]
        if where[0] == "cases":
            node_case = d["cases"][where[1]]
            node_case["allow_degenerate"] = True  # so that the value itself is what is refused
        node[where[-1]] = value
    msg = refused(mutated(tmp_path, change))
    assert f"{key}: {says}" in msg


def test_total_seconds_default_and_override(tmp_path):
    """limits.total_seconds is 30 by default and takes the rubric's value when given."""
    assert rubric_mod.load(write(tmp_path, BASE, "a.yaml")).limits.total_seconds == 30
    loaded = rubric_mod.load(mutated(tmp_path, lambda d: d["limits"].update(total_seconds=90)))
    assert loaded.limits.total_seconds == 90.0


def test_init_rule_for_a_non_param(tmp_path):
    """An init rule for a name that is not a parameter is refused."""
    msg = refused(mutated(tmp_path, lambda d: d["init"].__setitem__("Z", "zeros")))
    assert "init.Z: 'Z' is not one of the layer's params" in msg


def test_case_dims_missing_a_symbol(tmp_path):
    """A case without a value for one of Table 1's symbols is refused, naming the symbol."""
    msg = refused(mutated(tmp_path, lambda d: d["cases"][0]["dims"].pop("C_out")))
    assert "cases[0].dims: no value for dimension 'C_out'" in msg


@pytest.mark.parametrize("dims", [{"N": 3, "C_in": 3, "C_out": 5},
                                  {"N": 1, "C_in": 3, "C_out": 5}], ids=["N==C_in", "N==1"])
def test_degenerate_dims_refused(tmp_path, dims):
    """Equal dimensions or a dimension of 1 are refused (mistakes could hide)."""
    msg = refused(mutated(tmp_path, lambda d: d["cases"][0].__setitem__("dims", dims)))
    assert "cases[0].dims: dimensions must be distinct and > 1" in msg
    assert "allow_degenerate" in msg


def test_degenerate_dims_allowed_when_asked(tmp_path):
    """allow_degenerate: true lets a case with equal dimensions and a 1 through."""
    def change(d):
        d["cases"][0].update(dims={"N": 1, "C_in": 3, "C_out": 3}, allow_degenerate=True)
    loaded = rubric_mod.load(mutated(tmp_path, change))
    assert loaded.components[0].case("small").dim_map == {"N": 1, "C_in": 3, "C_out": 3}


def test_negative_seed(tmp_path):
    """A negative case seed is refused at load time (numpy's default_rng rejects it later)."""
    msg = refused(mutated(tmp_path, lambda d: d["cases"][0].__setitem__("seed", -1)))
    assert "cases[0].seed" in msg


def test_invalid_yaml(tmp_path):
    """A YAML syntax error is reported as such, with the file name."""
    path = tmp_path / "rubric.yaml"
    path.write_text("assignment: x\nlayer: [unclosed\n", encoding="utf-8")
    assert "not valid YAML" in refused(path)


def test_missing_rubric_file(tmp_path):
    """A rubric file that does not exist is a GraderError naming the path."""
    msg = refused(tmp_path / "nope.yaml")
    assert "cannot read rubric" in msg


def test_gradcheck_without_gradients(tmp_path):
    """A gradcheck needs layer.gradients; without it the check's kind is refused."""
    msg = refused(mutated(tmp_path, lambda d: d["layer"].pop("gradients")))
    assert f"checks[{check_index(BASE, 'gradcheck')}].kind: a gradcheck needs " \
           "layer.gradients" in msg


def test_gradient_not_produced_by_backward(tmp_path):
    """layer.gradients naming a quantity backward does not produce is refused."""
    msg = refused(mutated(tmp_path, lambda d: d["layer"]["gradients"].__setitem__("W", "Z")))
    assert "layer.gradients.W: 'Z' is not returned or stored by backward" in msg


# --- accepted -----------------------------------------------------------------------------

def test_real_rubric_points(rubric):
    """The shipped rubric is worth 100 points, 20 of them hidden."""
    assert rubric.max_score == 100
    assert sum(c.points for c in rubric.checks if c.visibility == "hidden") == 20



def test_fingerprint_ignores_points_and_titles(tmp_path):
    """Changing points and titles keeps the public vectors' fingerprint."""
    before = rubric_mod.load(write(tmp_path, BASE, "a.yaml")).fingerprint("public")

    def change(d):
        for c in d["checks"]:
            c["points"], c["title"] = c["points"] + 1, "renamed " + c.get("title", "")
    after = rubric_mod.load(mutated(tmp_path, change)).fingerprint("public")
    assert after == before


def test_fingerprint_follows_case_seed(tmp_path):
    """Changing a public case's seed changes the public fingerprint, not the hidden one."""
    base = rubric_mod.load(write(tmp_path, BASE, "a.yaml"))
    changed = rubric_mod.load(mutated(tmp_path, lambda d: d["cases"][0].__setitem__("seed", 999)))
    assert changed.fingerprint("public") != base.fingerprint("public")
    assert changed.fingerprint("hidden") == base.fingerprint("hidden")


def test_second_load_from_cache_is_equal(tmp_path, monkeypatch):
    """A rubric loaded again is served from the cache and equals the first load."""
    path = write(tmp_path, BASE)
    first = rubric_mod.load(path)

    def no_yaml(*args):
        raise AssertionError("YAML parsed again instead of using the cache")
    monkeypatch.setattr(rubric_mod, "_parse_yaml", no_yaml)
    second = rubric_mod.load(path)
    assert second == first
    assert second.fingerprint("public") == first.fingerprint("public")


# --- the component form (rubric.yaml: the homework) ---------------------------------------

def homework_with(tmp_path: Path, change) -> Path:
    data = copy.deepcopy(HOMEWORK)
    change(data)
    return write(tmp_path, data)


def component(data: dict, cid: str) -> dict:
    return next(c for c in data["components"] if c.get("id") == cid)


def test_homework_components_and_points(homework):
    """The homework's sections as the course scores them: Linear 15, activations 10, losses 10,
    BatchNorm 20, SGD 10, MLP0 10, MLP1 10, MLP4 15; ids qualified by component."""
    by_comp = {c.id: c.max_score for c in homework.components}
    assert by_comp["linear"] == 15
    assert round(sum(by_comp[c] for c in ("identity", "sigmoid", "tanh", "relu", "gelu",
                                          "swish", "softmax")), 6) == 10
    assert round(by_comp["mseloss"] + by_comp["crossentropyloss"], 6) == 10
    assert by_comp["batchnorm1d"] == 20
    assert round(by_comp["sgd"] + by_comp["sgd_momentum"], 6) == 10
    assert (by_comp["mlp0"], by_comp["mlp1"], by_comp["mlp4"]) == (10, 10, 15)
    assert homework.max_score == 100
    assert "softmax.large_logits" in {c.id for c in homework.checks}


@pytest.mark.parametrize("change, says", [
    (lambda d: component(d, "relu").__setitem__("colour", "red"),
     "components[4]: unknown key 'colour'"),
    (lambda d: component(d, "tanh").__setitem__("id", "sigmoid"),
     "duplicate component id 'sigmoid'"),
    (lambda d: component(d, "sigmoid").pop("calls"), "components[2].calls: missing"),
    (lambda d: component(d, "mseloss").__setitem__("draw", {"Y": "poisson"}),
     "components[8].draw.Y: expected one of normal, one_hot, integers"),
    (lambda d: component(d, "mseloss").__setitem__("draw", {"Q": "one_hot"}),
     "components[8].draw.Q: 'Q' has no shape in the table"),
    (lambda d: component(d, "tanh")["checks"][-1].pop("forbid"),
     "a forbidden check (and only one) names the functions"),
    (lambda d: component(d, "identity").__setitem__("points", -1), "components[1].points"),
    (lambda d: component(d, "softmax")["calls"][0].__setitem__("output", "Q"),
     "'Q' is used by the component but has no shape in table"),
], ids=["unknown-key", "duplicate-id", "no-calls", "unknown-draw", "draw-not-in-table",
        "forbidden-without-functions", "negative-points", "output-not-in-table"])
def test_component_mistakes_are_refused(tmp_path, change, says):
    """A mistake in one component is refused with the component and the key named."""
    msg = refused(homework_with(tmp_path, change))
    assert says in msg, msg


def test_only_names_components_or_files(homework):
    """--only takes component ids and file stems; an unknown name lists the known ones."""
    assert [c.id for c in homework.only(["activation"]).components] == \
        ["identity", "sigmoid", "tanh", "relu", "gelu", "swish", "softmax"]
    assert [c.id for c in homework.only(["mseloss", "linear"]).components] == \
        ["linear", "mseloss"]
    only = homework.only(["relu"])
    assert only.max_score == 1.5
    assert only.fingerprint("public") == homework.fingerprint("public")   # same vector files
    with pytest.raises(GraderError) as info:
        homework.only(["relu6"])
    assert "no component 'relu6'" in str(info.value) and "activation" in str(info.value)


def test_one_layer_rubrics_are_one_component(rubric):
    """The one-layer form (layer:, table1:) is read as an assignment of one component whose
    check ids stay unqualified."""
    assert [c.id for c in rubric.components] == ["linear"]
    assert "Z_values" in {c.id for c in rubric.checks}


def test_shared_pieces_merge_and_a_repeated_key_is_still_refused(tmp_path):
    """`<<: *shared` merges a mapping whose keys the component may override; a key written
    twice in one mapping is still an error naming its line."""
    path = tmp_path / "m.yaml"
    path.write_text("a: &x {k: 1, m: 2}\nb:\n  <<: *x\n  k: 3\n")
    assert rubric_mod._parse_yaml(path.read_text(), path) == {"a": {"k": 1, "m": 2},
                                                              "b": {"k": 3, "m": 2}}
    path.write_text("b:\n  j: 1\n  j: 2\n")
    with pytest.raises(GraderError, match="line 3: key 'j' appears twice"):
        rubric_mod._parse_yaml(path.read_text(), path)
