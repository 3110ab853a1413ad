"""The assignment as data: load rubric.yaml once, validate it up front, return dataclasses."""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from grader import expr
from grader.errors import GraderError
from grader.schema import Reader

CHECK_KINDS = ("init", "shape", "values", "stored",
               "gradcheck", "mutation", "repeatable", "linearity")
CONSISTENCY_KINDS = ("gradcheck", "mutation", "repeatable", "linearity")
PROBE_KINDS = ("gradcheck", "repeatable", "linearity")   # the ones that need extra calls
VISIBILITIES = ("public", "hidden")
SCALAR = "scalar"


@dataclass(frozen=True)
class Call:
    """One method of the layer: what it takes, returns and must store on the layer."""
    method: str
    inputs: tuple[str, ...]
    output: str
    stores: tuple[str, ...]


@dataclass(frozen=True)
class Layer:
    """Where the student's class lives and how it is driven."""
    file: str
    module: str
    cls: str
    constructor: tuple[str, ...]
    constructor_kwargs: tuple[tuple[str, Any], ...]
    params: tuple[str, ...]
    forward: Call
    backward: Call
    gradients: tuple[tuple[str, str, str], ...] = ()   # (input or param, its gradient, scale)

    def produced_by(self, name: str) -> str | None:
        """'forward' or 'backward' if that call returns or stores ``name``."""
        for stage in (self.forward, self.backward):
            if name == stage.output or name in stage.stores:
                return stage.method
        return None


@dataclass(frozen=True)
class InitRule:
    """How a parameter must look after __init__: zeros, or drawn from a normal distribution."""
    kind: str                     # zeros | normal | any
    mean: str = "0"
    std: str = "1"
    dims: tuple[tuple[str, int], ...] = ()   # the (large) layer the statistics are measured on


@dataclass(frozen=True)
class Case:
    """One fixed-seed test case."""
    name: str
    dims: tuple[tuple[str, int], ...]
    seed: int
    visibility: str

    @property
    def dim_map(self) -> dict[str, int]:
        return dict(self.dims)


@dataclass(frozen=True)
class Check:
    """One rubric row."""
    id: str
    kind: str
    targets: tuple[str, ...]
    points: float
    title: str
    cases: tuple[str, ...]
    visibility: str
    atol: float
    rtol: float


@dataclass(frozen=True)
class Limits:
    """Per-process limits for the child that runs student code."""
    call_seconds: float = 3.0
    import_seconds: float = 5.0
    memory_mb: int = 1024
    output_kb: int = 64
    total_seconds: float = 30.0   # wall time for the whole submission (enforced by the runner)


@dataclass(frozen=True)
class Rubric:
    """A validated assignment description."""
    path: Path
    assignment: str
    vectors_dir: Path
    reference_dir: Path | None
    handout_dir: Path
    layer: Layer
    table1: tuple[tuple[str, tuple[str | int, ...] | None], ...]
    init: tuple[tuple[str, InitRule], ...]
    equations: tuple[tuple[str, str], ...]
    limits: Limits
    cases: tuple[Case, ...]
    checks: tuple[Check, ...]
    mistakes: tuple[str, ...] = ()
    mistakes_module: str = "mistakes"
    hint_texts: tuple[tuple[str, str], ...] = ()
    gradescope_hidden_visibility: str = "after_published"
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def hints(self) -> dict[str, str]:
        """Feedback texts that override the built-in ones, by mistake id."""
        return dict(self.hint_texts)

    def shape_of(self, name: str) -> tuple[str | int, ...] | None:
        """The Table 1 shape of ``name`` in symbols (None for a scalar)."""
        return dict(self.table1)[name]

    def init_rule(self, name: str) -> InitRule:
        return dict(self.init).get(name, InitRule("any"))

    def equation(self, name: str) -> str:
        return dict(self.equations).get(name, "")

    def case(self, name: str) -> Case:
        return next(c for c in self.cases if c.name == name)

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.checks)

    def fingerprint(self, visibility: str) -> str:
        """A hash of what the vectors of one visibility depend on (the layer and those cases)."""
        basis = {"layer": self.raw.get("layer"), "table1": self.raw.get("table1"),
                 "cases": [[c.name, [list(d) for d in c.dims], c.seed]
                           for c in self.cases if c.visibility == visibility],
                 "mistakes": [self.mistakes_module, list(self.mistakes)]}
        from grader.vectors import _sha256

        return _sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()


def resolve_shape(symbols: tuple[str | int, ...] | None, dims: dict[str, int]) -> tuple[int, ...]:
    """Turn a symbolic Table 1 shape into numbers for one case (a scalar is ())."""
    if symbols is None:
        return ()
    return tuple(s if isinstance(s, int) else dims[s] for s in symbols)


def shape_words(symbols: tuple[str | int, ...] | None) -> str:
    """Render a symbolic shape the way Table 1 writes it: ``C_out x 1``."""
    if symbols is None:
        return "a scalar"
    return " x ".join(str(s) for s in symbols)


def load(path: str | Path) -> Rubric:
    """Load and validate a rubric file; any problem raises GraderError naming file and key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GraderError(f"cannot read rubric {path}: {exc.strerror or exc}") from None
    from grader import cache

    key = f"rubric-{zlib.crc32(str(path.resolve()).encode()):08x}.json"
    entry = cache.read_json(key)
    if isinstance(entry, dict) and entry.get("text") == text:  # the very same file content
        return parse(entry["data"], path)
    data = _parse_yaml(text, path)
    if _json_safe(data):
        cache.write_json(key, {"text": text, "data": data})
    return parse(data, path)


def _json_safe(data: Any) -> bool:
    """True if JSON gives back exactly ``data`` (YAML allows int keys, dates, sets...)."""
    try:
        return json.loads(json.dumps(data)) == data
    except (TypeError, ValueError):
        return False


def _parse_yaml(text: str, path: Path) -> Any:
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~20x faster

    class Loader(base):  # a key given twice is a typo to report, not to resolve silently
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise GraderError(f"{path}: line {key_node.start_mark.line + 1}: "
                                      f"key {key!r} appears twice")
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    try:
        data = yaml.load(text, Loader=Loader)
    except yaml.YAMLError as exc:
        raise GraderError(f"{path}: not valid YAML: {exc}") from None
    return data


def parse(data: Any, path: Path) -> Rubric:
    """Validate an already-parsed rubric mapping."""
    top = Reader(data, "", path)
    top.allow("assignment", "vectors", "reference", "handout", "layer", "table1", "init",
              "equations",
              "tolerance", "limits", "cases", "checks", "mistakes", "hints", "gradescope")
    layer = _layer(top.child("layer"))
    table1 = _table1(top.child("table1"))
    names = {n for n, _ in table1}
    needed = set(layer.params) | {layer.forward.output, layer.backward.output}
    needed |= set(layer.forward.inputs + layer.backward.inputs)
    needed |= set(layer.forward.stores + layer.backward.stores)
    missing = sorted(needed - names)
    if missing:
        top.fail(f"{missing[0]!r} is used by the layer but has no shape in table1", "table1")
    symbols = {s for _, shp in table1 for s in (shp or ()) if isinstance(s, str)}
    symbols |= set(layer.constructor)
    cases = _cases(top, symbols)
    _check_scales(top, layer, cases)
    tol = top.child("tolerance", {})
    tol.allow("atol", "rtol")
    atol, rtol = tol.number("atol", 1e-8), tol.number("rtol", 1e-6)
    init = _init(top.child("init", {}), layer, path)
    equations = top.child("equations", {})
    for key in equations.data:
        equations.get(key, str)
    limits = _limits(top.child("limits", {}))
    mistakes = top.child("mistakes", {})
    mistakes.allow("module", "variants")
    hints = top.child("hints", {})
    for key in hints.data:
        hints.get(key, str)
    gs = top.child("gradescope", {})
    gs.allow("hidden_visibility")
    hidden_vis = gs.get("hidden_visibility", str, "after_published")
    if hidden_vis not in ("visible", "hidden", "after_due_date", "after_published"):
        gs.fail(f"must be visible, hidden, after_due_date or after_published, not {hidden_vis!r}",
                "hidden_visibility")
    rubric = Rubric(
        path=path, assignment=top.get("assignment", str),
        vectors_dir=(path.parent / top.get("vectors", str, "vectors")),
        reference_dir=(path.parent / top.get("reference", str)) if "reference" in top.data
        else None,
        handout_dir=path.parent / top.get("handout", str, "handout"),
        layer=layer, table1=tuple(table1), init=init,
        equations=tuple((k, v) for k, v in equations.data.items()), limits=limits,
        cases=cases, checks=(), mistakes=mistakes.names("variants", ()),
        mistakes_module=mistakes.get("module", str, "mistakes"),
        hint_texts=tuple(hints.data.items()),
        gradescope_hidden_visibility=hidden_vis, raw=data)
    return replace(rubric, checks=_checks(top, rubric, atol, rtol))


def _limits(r: Reader) -> Limits:
    """Every limit is a positive number: a zero or negative one would fail every submission."""
    r.allow("call_seconds", "import_seconds", "memory_mb", "output_kb", "total_seconds")
    d = Limits()
    return Limits(call_seconds=r.number("call_seconds", d.call_seconds, positive=True),
                  import_seconds=r.number("import_seconds", d.import_seconds, positive=True),
                  memory_mb=r.number("memory_mb", d.memory_mb, positive=True, integer=True),
                  output_kb=r.number("output_kb", d.output_kb, positive=True, integer=True),
                  total_seconds=r.number("total_seconds", d.total_seconds, positive=True))


def _call(r: Reader) -> Call:
    r.allow("method", "inputs", "output", "stores")
    return Call(r.get("method", str), r.names("inputs"), r.get("output", str),
                r.names("stores", ()))


def _layer(r: Reader) -> Layer:
    r.allow("file", "module", "class", "constructor", "constructor_kwargs", "params",
            "forward", "backward", "gradients")
    module = r.get("module", str)
    kwargs = r.child("constructor_kwargs", {})
    for key in kwargs.data:
        kwargs.get(key, (str, int, float, bool, type(None)))
    layer = Layer(file=r.get("file", str, module.replace(".", "/") + ".py"), module=module,
                  cls=r.get("class", str), constructor=r.names("constructor"),
                  constructor_kwargs=tuple(kwargs.data.items()), params=r.names("params", ()),
                  forward=_call(r.child("forward")), backward=_call(r.child("backward")))
    return replace(layer, gradients=_gradients(r.child("gradients", {}), layer))


def _gradients(r: Reader, layer: Layer) -> tuple[tuple[str, str, str], ...]:
    """``W: dLdW`` or ``W: {name: dW, scale: 1/N}``: which quantity is the gradient of which
    input or parameter (scale: how the layer's convention scales it, e.g. batch averaging)."""
    out = []
    produced = {layer.backward.output, *layer.backward.stores}
    for wrt in r.data:
        if wrt not in layer.params and wrt not in layer.forward.inputs:
            r.fail("is neither a forward input nor a parameter", wrt)
        value = r.get(wrt, (str, dict))
        if isinstance(value, str):
            name, scale = value, "1"
        else:
            sub = r.child(wrt)
            sub.allow("name", "scale")
            name, scale = sub.get("name", str), str(sub.get("scale", (str, int, float), "1"))
        if name not in produced:
            r.fail(f"{name!r} is not returned or stored by backward", wrt)
        out.append((wrt, name, scale))
    return tuple(out)


def _table1(r: Reader) -> list[tuple[str, tuple[str | int, ...] | None]]:
    out = []
    for name in r.data:
        value = r.get(name, (list, str))
        if value == SCALAR:
            out.append((name, None))
        elif isinstance(value, list) and value and all(
                isinstance(s, (str, int)) and not isinstance(s, bool) for s in value):
            out.append((name, tuple(value)))
        else:
            r.fail("expected a list of dimension symbols such as [N, C_in], or 'scalar'", name)
    return out


def _init(r: Reader, layer: Layer, path: Path) -> tuple[tuple[str, InitRule], ...]:
    rules = []
    for name in r.data:
        if name not in layer.params:
            r.fail(f"{name!r} is not one of the layer's params {list(layer.params)}", name)
        value = r.get(name, (str, dict))
        if isinstance(value, str):
            if value not in ("zeros", "any"):
                r.fail("expected zeros, any, or a mapping {normal: {mean, std, dims}}", name)
            rules.append((name, InitRule(value)))
            continue
        sub = r.child(name)
        sub.allow("normal")
        normal = sub.child("normal")
        normal.allow("mean", "std", "dims")
        dims = normal.child("dims")
        values = {k: dims.number(k, positive=True, integer=True) for k in dims.data}
        missing = [s for s in layer.constructor if s not in values]
        if missing:
            dims.fail(f"needs a value for {missing[0]!r} (the constructor's arguments)")
        rule = InitRule("normal", str(normal.get("mean", (str, int, float), "0")),
                        str(normal.get("std", (str, int, float))), tuple(values.items()))
        for key in ("mean", "std"):
            unknown = expr.names(getattr(rule, key)) - set(values)
            if unknown:
                normal.fail(f"uses {sorted(unknown)[0]!r}, which is not in its dims", key)
        _check_moments(normal, rule, values)
        rules.append((name, rule))
    return tuple(rules)


def _check_moments(r: Reader, rule: InitRule, dims: dict[str, int]) -> None:
    """The mean must come out finite and the std finite and > 0 on the rule's own dims."""
    for key, positive in (("mean", False), ("std", True)):
        text = getattr(rule, key)
        try:
            value = expr.evaluate(text, {k: float(v) for k, v in dims.items()})
        except GraderError as exc:
            r.fail(str(exc), key)
        if not (abs(value) < float("inf") and (value > 0 or not positive)):
            bound = "finite and > 0" if positive else "finite"
            if expr.number(text) is None:
                r.fail(f"{text!r} is {value:g} with these dims; it must be {bound}", key)
            r.fail(f"must be {bound}, not {value:g}", key)


def _check_scales(top: Reader, layer: Layer, cases: tuple[Case, ...]) -> None:
    """Each gradient's scale is a finite, non-zero number in every case (the gradient check
    divides by it)."""
    for wrt, _, scale in layer.gradients:
        key = f"layer.gradients.{wrt}.scale"
        for case in cases:
            try:
                value = expr.evaluate(scale, {k: float(v) for k, v in case.dims})
            except GraderError as exc:
                top.fail(f"{exc} (case {case.name})", key)
            if not (value != 0 and abs(value) < float("inf")):
                if expr.number(scale) is None:
                    top.fail(f"{scale!r} is {value:g} in case {case.name}; it must be finite "
                             "and not 0", key)
                top.fail(f"must be finite and not 0, not {value:g}", key)


def _cases(top: Reader, symbols: set[str]) -> tuple[Case, ...]:
    items = top.get("cases", list)
    if not items:
        top.fail("needs at least one case", "cases")
    cases, seen = [], set()
    for i, item in enumerate(items):
        r = Reader(item, f"cases[{i}]", top.path)
        r.allow("name", "dims", "seed", "visibility", "allow_degenerate")
        name = r.get("name", str)
        if name in seen:
            r.fail(f"duplicate case name {name!r}", "name")
        seen.add(name)
        dims = r.child("dims")
        values = {k: dims.number(k, positive=True, integer=True) for k in dims.data}
        missing = sorted(symbols - set(values))
        if missing:
            dims.fail(f"no value for dimension {missing[0]!r}")
        if not r.get("allow_degenerate", bool, False):
            if any(v <= 1 for v in values.values()) or len(set(values.values())) < len(values):
                dims.fail("dimensions must be distinct and > 1 so that mistakes cannot hide "
                          "(set allow_degenerate: true to override)")
        vis = r.get("visibility", str, "public")
        if vis not in VISIBILITIES:
            r.fail(f"must be public or hidden, not {vis!r}", "visibility")
        seed = r.get("seed", int)
        if seed < 0:
            r.fail(f"must be >= 0, not {seed}", "seed")
        cases.append(Case(name, tuple(values.items()), seed, vis))
    return tuple(cases)


def _checks(top: Reader, rubric: Rubric, atol: float, rtol: float) -> tuple[Check, ...]:
    layer, names = rubric.layer, dict(rubric.table1)
    checks, seen = [], set()
    for i, item in enumerate(top.get("checks", list)):
        r = Reader(item, f"checks[{i}]", top.path)
        r.allow("id", "kind", "target", "points", "title", "cases", "visibility", "atol", "rtol")
        cid = r.get("id", str)
        if cid in seen:
            r.fail(f"duplicate check id {cid!r}", "id")
        seen.add(cid)
        kind = r.get("kind", str)
        if kind not in CHECK_KINDS:
            r.fail(f"unknown kind {kind!r} (one of {', '.join(CHECK_KINDS)})", "kind")
        targets = r.names("target", ())
        _check_targets(r, kind, targets, layer, names)
        points = r.number("points")
        cases = _select_cases(r, rubric.cases, kind)
        if kind == "gradcheck" and not layer.gradients:
            r.fail("a gradcheck needs layer.gradients (which quantity is the gradient of which)",
                   "kind")
        hidden = any(rubric.case(c).visibility == "hidden" for c in cases)
        vis = r.get("visibility", str, "hidden" if hidden else "public")
        if vis not in VISIBILITIES or (hidden and vis == "public"):
            r.fail("must be public or hidden (hidden when it uses hidden cases)", "visibility")
        checks.append(Check(cid, kind, targets, points, r.get("title", str, cid), cases, vis,
                            r.number("atol", atol), r.number("rtol", rtol)))
    if not checks:
        top.fail("needs at least one check", "checks")
    return tuple(checks)


def _check_targets(r: Reader, kind: str, targets: tuple[str, ...], layer: Layer,
                   names: dict) -> None:
    if kind in CONSISTENCY_KINDS:
        return
    if not targets:
        r.fail(f"a {kind} check needs a target", "target")
    for t in targets:
        if t not in names:
            r.fail(f"{t!r} has no shape in table1", "target")
        if kind == "init" and t not in layer.params:
            r.fail(f"{t!r} is not one of the layer's params {list(layer.params)}", "target")
        if kind in ("shape", "values", "stored") and layer.produced_by(t) is None:
            r.fail(f"{t!r} is neither returned nor stored by forward/backward", "target")


def _select_cases(r: Reader, cases: tuple[Case, ...], kind: str) -> tuple[str, ...]:
    if kind in ("gradcheck", "repeatable", "linearity") and "cases" not in r.data:
        first = next((c.name for c in cases if c.visibility == "public"), cases[0].name)
        return (first,)   # probes cost calls: one small public case unless told otherwise
    value = r.get("cases", (str, list), "public")
    if value in ("public", "hidden"):
        chosen = tuple(c.name for c in cases if c.visibility == value)
    elif value == "all":
        chosen = tuple(c.name for c in cases)
    elif isinstance(value, list):
        known = {c.name for c in cases}
        for v in value:
            if v not in known:
                r.fail(f"unknown case {v!r}", "cases")
        chosen = tuple(value)
    else:
        r.fail("expected public, hidden, all, or a list of case names", "cases")
    if not chosen:
        r.fail(f"selects no case ({value!r})", "cases")
    return chosen
