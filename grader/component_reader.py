"""Reading one component of a rubric: its driver (class, constructor, calls), table, draws,
init rules, cases and checks, each validated with the key it came from named."""
from __future__ import annotations

from grader.records import record, replace
from typing import Any

from grader import expr
from grader.assignment import (CHECK_KINDS, CONSISTENCY_KINDS, DRAWS, SCALAR, VISIBILITIES,
                               Call, Case, ChainLayer, Check, Component, Composition, Draw,
                               InitRule, Limits)
from grader.errors import GraderError
from grader.schema import Reader, flat

COMPONENT_KEYS = ("id", "title", "file", "module", "class", "constructor", "constructor_kwargs",
                  "params", "calls", "gradients", "table", "init", "equations", "draw", "cases",
                  "checks", "mistakes", "hints", "points", "tolerance", "objects", "uses",
                  "composition")


@record(frozen=True)
class Shared:
    """What every component inherits from the top of the file."""
    atol: float
    rtol: float
    limits: Limits
    cases: Any
    mistakes_module: str
    hints: tuple[tuple[str, str], ...]



def read_tolerance(r: Reader, atol: float, rtol: float) -> tuple[float, float]:
    tol = r.child("tolerance", {})
    tol.allow("atol", "rtol")
    return tol.number("atol", atol), tol.number("rtol", rtol)


def read_hints(r: Reader) -> tuple[tuple[str, str], ...]:
    hints = r.child("hints", {})
    for key in hints.data:
        hints.get(key, str)
    return tuple(hints.data.items())


def read_component(r: Reader, shared: Shared, one_layer: bool) -> Component:
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
        calls = _labelled(tuple(_call(Reader(c, f"{r.where}.calls[{i}]", r.path))
                                for i, c in enumerate(items)))
        mistakes = r.names("mistakes", ())
        atol, rtol = read_tolerance(r, shared.atol, shared.rtol)
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
        hint_texts=shared.hints + (() if one_layer else read_hints(r)),
        limits=shared.limits, raw=dict(r.data) if not one_layer else
        {"layer": r.data.get("layer"), "table1": r.data.get("table1")},
        objects=() if one_layer else _objects(r.child("objects", {})),
        uses=() if one_layer else r.names("uses", ()))
    seen_outputs: set[str] = set()
    for i, call in enumerate(comp.calls):
        for name in ({call.output} - {""}) | set(call.stores):
            if name in seen_outputs:
                r.fail(f"{name!r} is observed by two calls: read it under another name "
                       f"({{path: new_name}}) in one of them", f"calls[{i}]")
            seen_outputs.add(name)
    comp = replace(comp, gradients=_gradients(driver.child("gradients", {}), comp))
    if not one_layer and "composition" in r.data:
        comp = replace(comp, composition=_composition(r.child("composition"), comp))
    where = "layer" if one_layer else r.where
    names = {n for n, _ in comp.table1}
    needed = set(comp.params) | set(comp.object_inputs())
    for call in comp.calls:
        needed |= set(call.inputs) | set(call.stores) | ({call.output} - {""})
        needed |= {value for _, value in call.sets}
    missing = sorted(needed - names)
    if missing:
        r.fail(f"{missing[0]!r} is used by the {'layer' if one_layer else 'component'} but has "
               f"no shape in {table_key}", table_key)
    symbols = {s for _, shp in comp.table1 for s in (shp or ()) if isinstance(s, str)}
    symbols |= set(comp.constructor) - set(comp.object_names)
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


def read_limits(r: Reader) -> Limits:
    """Every limit is a positive number: a zero or negative one would fail every submission."""
    r.allow("call_seconds", "import_seconds", "memory_mb", "output_kb", "total_seconds")
    d = Limits()
    return Limits(call_seconds=r.number("call_seconds", d.call_seconds, positive=True),
                  import_seconds=r.number("import_seconds", d.import_seconds, positive=True),
                  memory_mb=r.number("memory_mb", d.memory_mb, positive=True, integer=True),
                  output_kb=r.number("output_kb", d.output_kb, positive=True, integer=True),
                  total_seconds=r.number("total_seconds", d.total_seconds, positive=True))


def _call(r: Reader) -> Call:
    """``stores`` lists names read after the call, each a name (read at that attribute path)
    or ``{path: name}``; ``set`` maps attribute paths to the inputs set just before it."""
    r.allow("method", "inputs", "output", "stores", "kwargs", "set")
    kwargs = r.child("kwargs", {})
    for key in kwargs.data:
        kwargs.get(key, (str, int, float, bool, type(None)))
    stores, paths = [], []
    for i, item in enumerate(r.get("stores", list, [])):
        if isinstance(item, str) and item:
            stores.append(item)
        elif isinstance(item, dict) and len(item) == 1 and all(
                isinstance(k, str) and isinstance(v, str) and k and v for k, v in item.items()):
            (path, name), = item.items()
            stores.append(name)
            if path != name:
                paths.append((name, path))
        else:
            r.fail("expected a name, or {attribute path: name}", f"stores[{i}]")
    sets = r.child("set", {})
    for key in sets.data:
        sets.get(key, str)
    return Call(r.get("method", str), r.names("inputs", ()), r.get("output", str, ""),
                tuple(stores), tuple(kwargs.data.items()), tuple(paths), tuple(sets.data.items()))


def _labelled(calls: tuple[Call, ...]) -> tuple[Call, ...]:
    """A method called more than once is named in reports by how it is called, from its
    second call on: forward(Z2), forward(Z3, eval=True)."""
    seen: set[str] = set()
    out = []
    for call in calls:
        if call.method in seen:
            args = [*call.inputs, *(f"{k}={v!r}" for k, v in call.kwargs)]
            label = f"{call.method}({', '.join(args)})"
            if label in {c.stage for c in out}:
                label = f"{label} again"
            call = replace(call, label=label)
        seen.add(call.method)
        out.append(call)
    return tuple(out)


def _objects(r: Reader) -> tuple[tuple[str, Any], ...]:
    """``model: {layers: [{W: W0, b: b0}, ...]}``: plain objects (mappings become objects with
    those attributes, lists stay lists, strings name the case's inputs, numbers are kept)."""
    def check(value: Any, where: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if not isinstance(k, str) or not k.isidentifier():
                    r.fail(f"{k!r} is not an attribute name", where)
                check(v, f"{where}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                check(v, f"{where}[{i}]")
        elif not isinstance(value, (str, int, float)) or isinstance(value, bool):
            r.fail("expected mappings, lists, input names or numbers", where)
    for name in r.data:
        if not name.isidentifier():
            r.fail("an object's name is an identifier", name)
        check(r.data[name], name)
    return tuple(r.data.items())


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
        value = r.get(name, (str, dict))
        passed = {n for c in comp.calls for n in (*c.inputs, c.output)}
        attribute = name in dict(comp.table1) and name not in passed  # running_M, say
        if name not in comp.params and not (isinstance(value, str) and attribute):
            r.fail(f"{name!r} is not one of the layer's params {list(comp.params)} (nor an "
                   "attribute that no call takes or returns)", name)
        if isinstance(value, str):
            if value not in ("zeros", "ones", "any"):
                r.fail("expected zeros, ones, any, or a mapping {normal: {mean, std, dims}}",
                       name)
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
    items = flat(items)
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
    prefix = f"{r.where}.checks" if r.where else "checks"
    for i, item in enumerate(flat(items)):
        cr = Reader(item, f"{prefix}[{i}]", r.path)
        cr.allow("id", "kind", "target", "points", "title", "cases", "visibility", "atol",
                 "rtol", "forbid", "like")
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
        if kind == "composition" and comp.composition is None:
            cr.fail("a composition check needs the component's composition (its layers, in "
                    "order)", "kind")
        if kind == "gradcheck" and not comp.gradients:
            cr.fail("a gradcheck needs layer.gradients (which quantity is the gradient of which)",
                    "kind")
        forbid = cr.names("forbid", ())
        if kind == "forbidden" and not all("." in f for f in forbid) or (forbid == ()) == (
                kind == "forbidden"):
            cr.fail("a forbidden check (and only one) names the functions it refuses, as "
                    "module.function (e.g. numpy.tanh)", "forbid")
        like = cr.names("like", ())
        if (kind == "unchanged") != bool(like) or len(like) != (len(targets) if like else 0):
            cr.fail("an unchanged check (and only one) names, in `like`, what each target must "
                    "still equal (one name per target)", "like")
        for name in like:
            if comp.produced_by(name) is None:
                cr.fail(f"{name!r} is neither returned nor stored by a call", "like")
        hidden = any(comp.case(c).visibility == "hidden" for c in cases)
        vis = cr.get("visibility", str, "hidden" if hidden else "public")
        if vis not in VISIBILITIES or (hidden and vis == "public"):
            cr.fail("must be public or hidden (hidden when it uses hidden cases)", "visibility")
        checks.append(Check(cid, kind, targets, points, cr.get("title", str, cid), cases, vis,
                            cr.number("atol", atol), cr.number("rtol", rtol), comp.id, forbid,
                            like))
    if not checks:
        r.fail("needs at least one check", "checks")
    return tuple(checks)


def _composition(r: Reader, comp: Component) -> Composition:
    """A composite's layers, in order, and the quantities the composition check compares."""
    r.allow("layers", "output", "gradient")
    items = r.get("layers", list)
    if not items:
        r.fail("needs at least one layer", "layers")
    names = {n for n, _ in comp.table1} | set(comp.params)
    layers = []
    for i, item in enumerate(items):
        lr = Reader(item, f"{r.where}.layers[{i}]", r.path)
        lr.allow("component", "args", "set")
        args = lr.get("args", list, [])
        if not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
            lr.fail("constructor arguments must be numbers", "args")
        sets = lr.child("set", {})
        for attr, value in sets.data.items():
            if not (isinstance(attr, str) and attr.isidentifier()):
                sets.fail("must be an attribute name (W, b)", str(attr))
            if sets.get(attr, str) not in names:
                sets.fail(f"{value!r} is not one of the component's params or inputs", attr)
        layers.append(ChainLayer(lr.get("component", str), tuple(args),
                                 tuple(sets.data.items())))
    output, gradient = r.get("output", str), r.get("gradient", str)
    for key, name in (("output", output), ("gradient", gradient)):
        if comp.produced_by(name) is None:
            r.fail(f"{name!r} is neither returned nor stored by a call", key)
    return Composition(tuple(layers), output, gradient)


def resolve_composition(comp: Component, components: dict[str, Component],
                        where: Reader) -> Component:
    """Fill in each composition layer's class and method names from its own component; a
    layer naming no component of the assignment fails with its key."""
    if comp.composition is None:
        return comp
    layers = []
    for i, layer in enumerate(comp.composition.layers):
        used = components.get(layer.component)
        if used is None:
            where.fail(f"layer {layer.component!r} is not a component of this assignment",
                       f"composition.layers[{i}].component")
        layers.append(replace(layer, title=used.cls, module=used.module, cls=used.cls,
                              forward=used.forward.method, backward=used.backward.method,
                              derivative=not used.backward.inputs))
    return replace(comp, composition=replace(comp.composition, layers=tuple(layers)))


def _check_targets(r: Reader, kind: str, targets: tuple[str, ...], comp: Component,
                   names: dict) -> None:
    if kind in CONSISTENCY_KINDS:
        return
    if not targets:
        r.fail(f"a {kind} check needs a target", "target")
    for t in targets:
        if t not in names:
            r.fail(f"{t!r} has no shape in table1", "target")
        if kind == "init" and t not in comp.observed_at_init:
            r.fail(f"{t!r} is neither one of the layer's params {list(comp.params)} nor given "
                   "an init rule", "target")
        if kind in ("shape", "values", "stored", "unchanged") and comp.produced_by(t) is None:
            r.fail(f"{t!r} is neither returned nor stored by "
                   f"{'/'.join(c.method for c in comp.calls)}", "target")


def _select_cases(r: Reader, cases: tuple[Case, ...], kind: str) -> tuple[str, ...]:
    if kind in ("gradcheck", "repeatable", "linearity", "forbidden", "composition") and \
            "cases" not in r.data:
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
