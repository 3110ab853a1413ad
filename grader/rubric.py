"""The assignment as data: load rubric.yaml once, validate it up front, return dataclasses.

An assignment is a list of components (one student class each: where it lives, how it is
built and called, its table of shapes, cases, checks and named mistakes). A rubric written for
one layer (top-level ``layer:`` and ``table1:``) is read as a one-component assignment."""
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
               "gradcheck", "mutation", "repeatable", "linearity", "forbidden")
CONSISTENCY_KINDS = ("gradcheck", "mutation", "repeatable", "linearity", "forbidden")
PROBE_KINDS = ("gradcheck", "repeatable", "linearity")   # the ones that need extra calls
VISIBILITIES = ("public", "hidden")
SCALAR = "scalar"
DRAWS = ("normal", "one_hot", "integers")


@dataclass(frozen=True)
class Call:
    """One method of the component: what it takes, returns and must store on the object."""
    method: str
    inputs: tuple[str, ...]
    output: str                                   # "" when the call returns nothing to judge
    stores: tuple[str, ...]
    kwargs: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class InitRule:
    """How a parameter must look after __init__: zeros, or drawn from a normal distribution."""
    kind: str                     # zeros | normal | any
    mean: str = "0"
    std: str = "1"
    dims: tuple[tuple[str, int], ...] = ()   # the (large) layer the statistics are measured on


@dataclass(frozen=True)
class Draw:
    """How a case's input is drawn from its seed: normal(loc, scale), one-hot rows, or
    integers in [low, high] (which puts exact zeros and ties in the input)."""
    kind: str = "normal"
    loc: float = 0.0
    scale: float = 1.0
    low: int = 0
    high: int = 0


@dataclass(frozen=True)
class Case:
    """One fixed-seed test case."""
    name: str
    dims: tuple[tuple[str, int], ...]
    seed: int
    visibility: str
    draws: tuple[tuple[str, Draw], ...] = ()
    explicit: bool = False            # used only by the checks that name it

    @property
    def dim_map(self) -> dict[str, int]:
        return dict(self.dims)

    def draw(self, name: str) -> Draw:
        return dict(self.draws).get(name, Draw())


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
    component: str = ""
    forbid: tuple[str, ...] = ()      # kind forbidden: dotted names of functions to refuse


@dataclass(frozen=True)
class Limits:
    """Per-process limits for the child that runs student code."""
    call_seconds: float = 3.0
    import_seconds: float = 5.0
    memory_mb: int = 1024
    output_kb: int = 64
    total_seconds: float = 30.0   # wall time for the whole submission (enforced by the runner)


@dataclass(frozen=True)
class Component:
    """One student class: where it lives, how it is driven, and how it is judged."""
    id: str
    title: str
    file: str
    module: str
    cls: str
    constructor: tuple[str, ...]
    constructor_kwargs: tuple[tuple[str, Any], ...]
    params: tuple[str, ...]
    calls: tuple[Call, ...]
    table1: tuple[tuple[str, tuple[str | int, ...] | None], ...]
    gradients: tuple[tuple[str, str, str], ...] = ()   # (input or param, its gradient, scale)
    init: tuple[tuple[str, InitRule], ...] = ()
    equations: tuple[tuple[str, str], ...] = ()
    cases: tuple[Case, ...] = ()
    checks: tuple[Check, ...] = ()
    mistakes: tuple[str, ...] = ()
    mistakes_module: str = "mistakes"
    hint_texts: tuple[tuple[str, str], ...] = ()
    limits: Limits = Limits()
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def forward(self) -> Call:
        """The call whose inputs are differentiated (the first)."""
        return self.calls[0]

    @property
    def backward(self) -> Call:
        """The call that produces the gradients (the last)."""
        return self.calls[-1]

    def call_of(self, name: str) -> Call | None:
        """The call that returns or stores ``name``."""
        for call in self.calls:
            if name == call.output or name in call.stores:
                return call
        return None

    def produced_by(self, name: str) -> str | None:
        """The method that returns or stores ``name``."""
        call = self.call_of(name)
        return call.method if call else None

    def returned(self, name: str) -> bool:
        return any(name == c.output for c in self.calls)

    def stored_key(self, name: str) -> str:
        """The observation key of an attribute a call stores: its name, or ``self.A`` when a
        call also returns an ``A`` (what is returned and what is kept are judged apart)."""
        return f"self.{name}" if self.returned(name) else name

    @property
    def hints(self) -> dict[str, str]:
        """Feedback texts that override the built-in ones, by mistake id."""
        return dict(self.hint_texts)

    def shape_of(self, name: str) -> tuple[str | int, ...] | None:
        """The table's shape of ``name`` in symbols (None for a scalar)."""
        return dict(self.table1)[name]

    def init_rule(self, name: str) -> InitRule:
        return dict(self.init).get(name, InitRule("any"))

    def equation(self, name: str) -> str:
        return dict(self.equations).get(name, "")

    def case(self, name: str) -> Case:
        return next(c for c in self.cases if c.name == name)

    @property
    def max_score(self) -> float:
        return round(sum(c.points for c in self.checks), 4)

    def basis(self, visibility: str) -> dict:
        """What the vectors of one visibility depend on for this component."""
        keys = ("file", "module", "class", "constructor", "constructor_kwargs", "params",
                "calls", "layer", "table", "table1", "draw")
        return {"driver": {k: self.raw.get(k) for k in keys},
                "cases": [[c.name, [list(d) for d in c.dims], c.seed, c.explicit,
                           [[n, d.kind, d.loc, d.scale, d.low, d.high] for n, d in c.draws]]
                          for c in self.cases if c.visibility == visibility],
                "mistakes": [self.mistakes_module, list(self.mistakes)]}


@dataclass(frozen=True)
class Rubric:
    """A validated assignment: its components, and what they share."""
    path: Path
    assignment: str
    vectors_dir: Path
    reference_dir: Path | None
    handout_dir: Path
    limits: Limits
    components: tuple[Component, ...]
    gradescope_hidden_visibility: str = "after_published"
    raw: dict = field(default_factory=dict, compare=False, repr=False)
    whole: tuple[Component, ...] = ()   # every component, when only some are graded (--only)

    @property
    def checks(self) -> tuple[Check, ...]:
        return tuple(c for comp in self.components for c in comp.checks)

    @property
    def max_score(self) -> float:
        return round(sum(c.points for c in self.checks), 4)

    @property
    def hints(self) -> dict[str, str]:
        """Every feedback text the rubric sets, by mistake id (a component's own over the
        shared ones)."""
        out: dict[str, str] = {}
        for comp in self.components:
            out.update(comp.hints)
        return out

    @property
    def mistakes_module(self) -> str:
        return self.components[0].mistakes_module

    @property
    def packages(self) -> tuple[str, ...]:
        """The top-level packages the components are imported from."""
        return tuple(dict.fromkeys(c.module.split(".")[0] for c in self.components))

    def component(self, cid: str) -> Component:
        return next(c for c in self.components if c.id == cid)

    @property
    def files(self) -> tuple[str, ...]:
        """The files students edit, each once, in the order of the components."""
        return tuple(dict.fromkeys(c.file for c in self.components))

    def has_visibility(self, visibility: str) -> bool:
        return any(case.visibility == visibility for comp in self.whole or self.components
                   for case in comp.cases)

    def fingerprint(self, visibility: str) -> str:
        """A hash of what the vectors of one visibility depend on (every component and its
        cases, graded or not: the files hold them all)."""
        basis = {c.id: c.basis(visibility) for c in self.whole or self.components}
        from grader.vectors import _sha256

        return _sha256(json.dumps(basis, sort_keys=True, default=str).encode()).hexdigest()

    def only(self, names: list[str]) -> "Rubric":
        """The assignment restricted to some components, each named by its id or by the stem
        of its file (``activation`` = every class in activation.py); an unknown name is a
        GraderError listing the known ones."""
        chosen: list[Component] = []
        for name in names:
            key = name.strip().lower()
            found = [c for c in self.components
                     if key in (c.id, Path(c.file).stem.lower(), c.cls.lower())]
            if not found:
                known = sorted({c.id for c in self.components}
                               | {Path(c.file).stem for c in self.components})
                raise GraderError(f"--only: no component {name!r} (known: {', '.join(known)})")
            chosen += [c for c in found if c not in chosen]
        return replace(self, components=tuple(c for c in self.components if c in chosen),
                       whole=self.whole or self.components)


def resolve_shape(symbols: tuple[str | int, ...] | None, dims: dict[str, int]) -> tuple[int, ...]:
    """Turn a symbolic table shape into numbers for one case (a scalar is ())."""
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


TOP_KEYS = ("assignment", "vectors", "reference", "handout", "tolerance", "limits", "cases",
            "mistakes", "hints", "gradescope", "templates")
ONE_LAYER_KEYS = ("layer", "table1", "init", "equations", "checks")
COMPONENT_KEYS = ("id", "title", "file", "module", "class", "constructor", "constructor_kwargs",
                  "params", "calls", "gradients", "table", "init", "equations", "draw", "cases",
                  "checks", "mistakes", "hints", "points", "tolerance")


@dataclass(frozen=True)
class _Shared:
    """What every component inherits from the top of the file."""
    atol: float
    rtol: float
    limits: Limits
    cases: Any
    mistakes_module: str
    hints: tuple[tuple[str, str], ...]


def parse(data: Any, path: Path) -> Rubric:
    """Validate an already-parsed rubric mapping."""
    top = Reader(data, "", path)
    many = "components" in top.data
    top.allow(*TOP_KEYS, *(("components",) if many else ONE_LAYER_KEYS))
    atol, rtol = _tolerance(top, 1e-8, 1e-6)
    mistakes = top.child("mistakes", {})
    mistakes.allow("module", *(() if many else ("variants",)))
    hints = _hints(top)
    shared = _Shared(atol, rtol, _limits(top.child("limits", {})), top.data.get("cases"),
                     mistakes.get("module", str, "mistakes"), hints)
    if many:
        items = top.get("components", list)
        if not items:
            top.fail("needs at least one component", "components")
        components = [_component(Reader(item, f"components[{i}]", path), shared, False)
                      for i, item in enumerate(items)]
    else:
        components = [_component(top, shared, True)]
    seen: set[str] = set()
    for i, comp in enumerate(components):
        if comp.id in seen:
            top.fail(f"duplicate component id {comp.id!r}", f"components[{i}].id")
        seen.add(comp.id)
    if len(components) > 1:  # check ids are unique across the assignment: component.check
        components = [replace(c, checks=tuple(replace(ch, id=f"{c.id}.{ch.id}")
                                              for ch in c.checks)) for c in components]
    gs = top.child("gradescope", {})
    gs.allow("hidden_visibility")
    hidden_vis = gs.get("hidden_visibility", str, "after_published")
    if hidden_vis not in ("visible", "hidden", "after_due_date", "after_published"):
        gs.fail(f"must be visible, hidden, after_due_date or after_published, not {hidden_vis!r}",
                "hidden_visibility")
    return Rubric(
        path=path, assignment=top.get("assignment", str),
        vectors_dir=(path.parent / top.get("vectors", str, "vectors")),
        reference_dir=(path.parent / top.get("reference", str)) if "reference" in top.data
        else None,
        handout_dir=path.parent / top.get("handout", str, "handout"),
        limits=shared.limits, components=tuple(components),
        gradescope_hidden_visibility=hidden_vis, raw=data)


def _tolerance(r: Reader, atol: float, rtol: float) -> tuple[float, float]:
    tol = r.child("tolerance", {})
    tol.allow("atol", "rtol")
    return tol.number("atol", atol), tol.number("rtol", rtol)


def _hints(r: Reader) -> tuple[tuple[str, str], ...]:
    hints = r.child("hints", {})
    for key in hints.data:
        hints.get(key, str)
    return tuple(hints.data.items())


def _component(r: Reader, shared: _Shared, one_layer: bool) -> Component:
    """One component; ``one_layer``: the top of a single-layer rubric (``layer:``, ``table1:``)."""
    if one_layer:
        driver, table_key, variants = r.child("layer"), "table1", r.child("mistakes", {})
        driver.allow("file", "module", "class", "constructor", "constructor_kwargs", "params",
                     "forward", "backward", "gradients")
        calls = (_call(driver.child("forward")), _call(driver.child("backward")))
        mistakes = variants.names("variants", ())
        atol, rtol = shared.atol, shared.rtol
    else:
        driver, table_key = r, "table"
        r.allow(*COMPONENT_KEYS)
        items = r.get("calls", list)
        if not items:
            r.fail("needs at least one call", "calls")
        calls = tuple(_call(Reader(c, f"{r.where}.calls[{i}]", r.path))
                      for i, c in enumerate(items))
        mistakes = r.names("mistakes", ())
        atol, rtol = _tolerance(r, shared.atol, shared.rtol)
    module = driver.get("module", str)
    cls = driver.get("class", str)
    kwargs = driver.child("constructor_kwargs", {})
    for key in kwargs.data:
        kwargs.get(key, (str, int, float, bool, type(None)))
    comp = Component(
        id=r.get("id", str, cls.lower()) if not one_layer else cls.lower(),
        title=r.get("title", str, cls) if not one_layer else cls,
        file=driver.get("file", str, module.replace(".", "/") + ".py"), module=module, cls=cls,
        constructor=driver.names("constructor", ()),
        constructor_kwargs=tuple(kwargs.data.items()), params=driver.names("params", ()),
        calls=calls, table1=tuple(_table1(r.child(table_key))),
        mistakes=mistakes, mistakes_module=shared.mistakes_module,
        hint_texts=shared.hints + (() if one_layer else _hints(r)),
        limits=shared.limits, raw=dict(r.data) if not one_layer else
        {"layer": r.data.get("layer"), "table1": r.data.get("table1")})
    comp = replace(comp, gradients=_gradients(driver.child("gradients", {}), comp))
    where = "layer" if one_layer else r.where
    names = {n for n, _ in comp.table1}
    needed = set(comp.params)
    for call in comp.calls:
        needed |= set(call.inputs) | set(call.stores) | ({call.output} - {""})
    missing = sorted(needed - names)
    if missing:
        r.fail(f"{missing[0]!r} is used by the {'layer' if one_layer else 'component'} but has "
               f"no shape in {table_key}", table_key)
    symbols = {s for _, shp in comp.table1 for s in (shp or ()) if isinstance(s, str)}
    symbols |= set(comp.constructor)
    draws = _draws(r.child("draw", {}), names) if not one_layer else ()
    if not one_layer and "cases" in r.data:
        cases = _cases(r, r.get("cases", list), symbols, draws, names)
    elif shared.cases is not None:
        cases = _cases(Reader({"cases": shared.cases}, "", r.path), shared.cases, symbols,
                       draws, names)
    else:
        r.fail("missing (required, here or at the top of the file)", "cases")
    comp = replace(comp, cases=cases, init=_init(r.child("init", {}), comp),
                   equations=_equations(r.child("equations", {})))
    _check_scales(r, comp, where)
    checks = _checks(r, comp, atol, rtol)
    if not one_layer and "points" in r.data:   # the component's points, split by weight
        total = r.number("points")
        weight = sum(c.points for c in checks)
        if weight <= 0:
            r.fail("the checks carry no weight to split the component's points over", "points")
        checks = tuple(replace(c, points=round(total * c.points / weight, 6)) for c in checks)
    return replace(comp, checks=checks)


def _equations(r: Reader) -> tuple[tuple[str, str], ...]:
    for key in r.data:
        r.get(key, str)
    return tuple(r.data.items())


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
    r.allow("method", "inputs", "output", "stores", "kwargs")
    kwargs = r.child("kwargs", {})
    for key in kwargs.data:
        kwargs.get(key, (str, int, float, bool, type(None)))
    return Call(r.get("method", str), r.names("inputs", ()), r.get("output", str, ""),
                r.names("stores", ()), tuple(kwargs.data.items()))


def _gradients(r: Reader, comp: Component) -> tuple[tuple[str, str, str], ...]:
    """``W: dLdW`` or ``W: {name: dW, scale: 1/N}``: which quantity is the gradient of which
    input or parameter (scale: how the layer's convention scales it, e.g. batch averaging)."""
    out = []
    produced = {comp.backward.output, *comp.backward.stores}
    for wrt in r.data:
        if wrt not in comp.params and wrt not in comp.forward.inputs:
            r.fail("is neither a forward input nor a parameter", wrt)
        value = r.get(wrt, (str, dict))
        if isinstance(value, str):
            name, scale = value, "1"
        else:
            sub = r.child(wrt)
            sub.allow("name", "scale")
            name, scale = sub.get("name", str), str(sub.get("scale", (str, int, float), "1"))
        if name not in produced:
            r.fail(f"{name!r} is not returned or stored by {comp.backward.method}", wrt)
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


def _draws(r: Reader, names: set[str]) -> tuple[tuple[str, Draw], ...]:
    """``Y: one_hot``, ``Z: {integers: [-2, 2]}``, ``Z: {normal: {loc: 1000, scale: 3}}``."""
    out = []
    for name in r.data:
        if name not in names:
            r.fail(f"{name!r} has no shape in the table", name)
        value = r.get(name, (str, dict))
        if isinstance(value, str):
            if value not in ("normal", "one_hot"):
                r.fail(f"expected one of {', '.join(DRAWS)}, not {value!r}", name)
            out.append((name, Draw(value)))
            continue
        sub = r.child(name)
        sub.allow(*DRAWS)
        if len(sub.data) != 1:
            sub.fail(f"expected exactly one of {', '.join(DRAWS)}")
        if "integers" in sub.data:
            bounds = sub.get("integers", list)
            if len(bounds) != 2 or not all(isinstance(b, int) and not isinstance(b, bool)
                                           for b in bounds) or bounds[0] > bounds[1]:
                sub.fail("expected [low, high], two integers with low <= high", "integers")
            out.append((name, Draw("integers", low=bounds[0], high=bounds[1])))
        elif "normal" in sub.data:
            normal = sub.child("normal")
            normal.allow("loc", "scale")
            loc = normal.get("loc", float, 0.0)
            if not abs(loc) < float("inf"):
                normal.fail("must be finite", "loc")
            out.append((name, Draw("normal", loc, normal.number("scale", 1.0, positive=True))))
        else:
            out.append((name, Draw("one_hot")))
    return tuple(out)


def _init(r: Reader, comp: Component) -> tuple[tuple[str, InitRule], ...]:
    rules = []
    for name in r.data:
        if name not in comp.params:
            r.fail(f"{name!r} is not one of the layer's params {list(comp.params)}", name)
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
        missing = [s for s in comp.constructor if s not in values]
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


def _check_scales(top: Reader, comp: Component, where: str) -> None:
    """Each gradient's scale is a finite, non-zero number in every case (the gradient check
    divides by it)."""
    for wrt, _, scale in comp.gradients:
        key = f"{where}.gradients.{wrt}.scale"
        for case in comp.cases:
            try:
                value = expr.evaluate(scale, {k: float(v) for k, v in case.dims})
            except GraderError as exc:
                top.fail(f"{exc} (case {case.name})", key)
            if not (value != 0 and abs(value) < float("inf")):
                if expr.number(scale) is None:
                    top.fail(f"{scale!r} is {value:g} in case {case.name}; it must be finite "
                             "and not 0", key)
                top.fail(f"must be finite and not 0, not {value:g}", key)


def _cases(top: Reader, items: Any, symbols: set[str], draws: tuple[tuple[str, Draw], ...],
           table: set[str]) -> tuple[Case, ...]:
    if not isinstance(items, list) or not items:
        top.fail("needs at least one case", "cases")
    items = [c for item in items for c in (item if isinstance(item, list) else [item])]
    cases, seen = [], set()
    prefix = f"{top.where}.cases" if top.where else "cases"
    for i, item in enumerate(items):
        r = Reader(item, f"{prefix}[{i}]", top.path)
        r.allow("name", "dims", "seed", "visibility", "allow_degenerate", "draw", "explicit")
        name = r.get("name", str)
        if name in seen:
            r.fail(f"duplicate case name {name!r}", "name")
        seen.add(name)
        dims = r.child("dims")
        values = {k: dims.number(k, positive=True, integer=True) for k in dims.data}
        missing = sorted(symbols - set(values))
        if missing:
            dims.fail(f"no value for dimension {missing[0]!r}")
        values = {k: v for k, v in values.items() if k in symbols}  # shared cases: own dims only
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
        own = dict(draws)
        if "draw" in r.data:   # this case's own draws, over the component's
            own.update(_draws(r.child("draw"), table))
        cases.append(Case(name, tuple(values.items()), seed, vis, tuple(own.items()),
                          r.get("explicit", bool, False)))
    return tuple(cases)


def _checks(r: Reader, comp: Component, atol: float, rtol: float) -> tuple[Check, ...]:
    names = dict(comp.table1)
    checks, seen = [], set()
    items = r.get("checks", list)
    flat = [c for item in items for c in (item if isinstance(item, list) else [item])]
    prefix = f"{r.where}.checks" if r.where else "checks"
    for i, item in enumerate(flat):
        cr = Reader(item, f"{prefix}[{i}]", r.path)
        cr.allow("id", "kind", "target", "points", "title", "cases", "visibility", "atol",
                 "rtol", "forbid")
        cid = cr.get("id", str)
        if cid in seen:
            cr.fail(f"duplicate check id {cid!r}", "id")
        seen.add(cid)
        kind = cr.get("kind", str)
        if kind not in CHECK_KINDS:
            cr.fail(f"unknown kind {kind!r} (one of {', '.join(CHECK_KINDS)})", "kind")
        targets = cr.names("target", ())
        _check_targets(cr, kind, targets, comp, names)
        points = cr.number("points")
        cases = _select_cases(cr, comp.cases, kind)
        if kind == "gradcheck" and not comp.gradients:
            cr.fail("a gradcheck needs layer.gradients (which quantity is the gradient of which)",
                    "kind")
        forbid = cr.names("forbid", ())
        if kind == "forbidden" and not all("." in f for f in forbid) or (forbid == ()) == (
                kind == "forbidden"):
            cr.fail("a forbidden check (and only one) names the functions it refuses, as "
                    "module.function (e.g. numpy.tanh)", "forbid")
        hidden = any(comp.case(c).visibility == "hidden" for c in cases)
        vis = cr.get("visibility", str, "hidden" if hidden else "public")
        if vis not in VISIBILITIES or (hidden and vis == "public"):
            cr.fail("must be public or hidden (hidden when it uses hidden cases)", "visibility")
        checks.append(Check(cid, kind, targets, points, cr.get("title", str, cid), cases, vis,
                            cr.number("atol", atol), cr.number("rtol", rtol), comp.id, forbid))
    if not checks:
        r.fail("needs at least one check", "checks")
    return tuple(checks)


def _check_targets(r: Reader, kind: str, targets: tuple[str, ...], comp: Component,
                   names: dict) -> None:
    if kind in CONSISTENCY_KINDS:
        return
    if not targets:
        r.fail(f"a {kind} check needs a target", "target")
    for t in targets:
        if t not in names:
            r.fail(f"{t!r} has no shape in table1", "target")
        if kind == "init" and t not in comp.params:
            r.fail(f"{t!r} is not one of the layer's params {list(comp.params)}", "target")
        if kind in ("shape", "values", "stored") and comp.produced_by(t) is None:
            r.fail(f"{t!r} is neither returned nor stored by "
                   f"{'/'.join(c.method for c in comp.calls)}", "target")


def _select_cases(r: Reader, cases: tuple[Case, ...], kind: str) -> tuple[str, ...]:
    if kind in ("gradcheck", "repeatable", "linearity", "forbidden") and "cases" not in r.data:
        first = next((c.name for c in cases if c.visibility == "public" and not c.explicit),
                     cases[0].name)
        return (first,)   # probes cost calls: one small public case unless told otherwise
    value = r.get("cases", (str, list), "public")
    if value in ("public", "hidden"):
        chosen = tuple(c.name for c in cases if c.visibility == value and not c.explicit)
    elif value == "all":
        chosen = tuple(c.name for c in cases if not c.explicit)
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
