"""The assignment as data: load rubric.yaml once, validate it up front, return records.

An assignment is a list of components (one student class each: where it lives, how it is
built and called, its table of shapes, cases, checks and named mistakes). A rubric written for
one layer (top-level ``layer:`` and ``table1:``) is read as a one-component assignment."""
from __future__ import annotations

import io
import pickle
import zlib
from grader.records import replace
from pathlib import Path
from typing import Any

from grader.assignment import (  # noqa: F401  (the names every module takes from here)
    CHECK_KINDS, CONSISTENCY_KINDS, DRAWS, PROBE_KINDS, SCALAR, VISIBILITIES, Call, Case, Check,
    Component, Draw, InitRule, Limits, Rubric, resolve_shape, shape_words)
from grader.component_reader import (Shared, read_component, read_hints, read_limits,
                                     read_tolerance, resolve_composition)
from grader.errors import GraderError
from grader.schema import Reader


def load(path: str | Path) -> Rubric:
    """Load and validate a rubric file; any problem raises GraderError naming file and key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GraderError(f"cannot read rubric {path}: {exc.strerror or exc}") from None
    from grader import cache

    key = f"rubric-{zlib.crc32(str(path.resolve()).encode()):08x}.pickle"
    parsed = _cached_rubric(cache.read_bytes(key), text, path)
    if parsed is not None:
        return parsed
    rub = parse(_parse_yaml(text, path), path)
    cache.write_bytes(key, pickle.dumps(
        {"text": text, "path": str(path), "code": _code_version(), "rubric": rub}))
    return rub


# The validated rubric is cached too (validating takes longer than everything else in
# loading it): pickled, and read back by an unpickler that builds nothing but the grader's own
# records and plain values, only for the same file text, path and grader code.
_SAFE = {("builtins", n) for n in ("tuple", "list", "dict", "set", "frozenset", "str", "int",
                                   "float", "bool", "getattr")} | {("pathlib", "PosixPath"),
                                                                  ("pathlib", "WindowsPath"),
                                                                  ("pathlib", "Path")}
_RECORD_MODULES = ("grader.assignment",)


class _RecordsOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE or (module in _RECORD_MODULES and not name.startswith("_")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a cached rubric")


def _code_version() -> str:
    """What the cached records depend on: the source of the modules that define and build
    them."""
    from grader import cache

    return cache.source_version(("assignment.py", "component_reader.py", "rubric.py",
                                 "records.py", "schema.py", "expr.py"))


def _cached_rubric(blob: bytes | None, text: str, path: Path) -> Rubric | None:
    if not blob:
        return None
    try:
        entry = _RecordsOnly(io.BytesIO(blob)).load()
    except Exception:   # a damaged or foreign entry is a miss
        return None
    if not (isinstance(entry, dict) and entry.get("text") == text
            and entry.get("path") == str(path) and entry.get("code") == _code_version()):
        return None
    rub = entry.get("rubric")
    return rub if isinstance(rub, Rubric) else None


def _parse_yaml(text: str, path: Path) -> Any:
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~20x faster

    class Loader(base):  # a key given twice is a typo to report, not to resolve silently
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":   # `<<: *shared`: may be overridden
                    continue
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise GraderError(f"{path}: line {key_node.start_mark.line + 1}: "
                                      f"key {key!r} appears twice")
                seen.add(key)
            self.flatten_mapping(node)
            return super().construct_mapping(node, deep=deep)

    try:
        data = yaml.load(text, Loader=Loader)
    except yaml.YAMLError as exc:
        raise GraderError(f"{path}: not valid YAML: {exc}") from None
    return data


TOP_KEYS = ("assignment", "vectors", "reference", "handout", "tolerance", "limits", "cases",
            "mistakes", "hints", "gradescope", "templates")
ONE_LAYER_KEYS = ("layer", "table1", "init", "equations", "checks")


def parse(data: Any, path: Path) -> Rubric:
    """Validate an already-parsed rubric mapping."""
    top = Reader(data, "", path)
    many = "components" in top.data
    top.allow(*TOP_KEYS, *(("components",) if many else ONE_LAYER_KEYS))
    atol, rtol = read_tolerance(top, 1e-8, 1e-6)
    mistakes = top.child("mistakes", {})
    mistakes.allow("module", *(() if many else ("variants",)))
    hints = read_hints(top)
    shared = Shared(atol, rtol, read_limits(top.child("limits", {})), top.data.get("cases"),
                     mistakes.get("module", str, "mistakes"), hints)
    if many:
        items = top.get("components", list)
        if not items:
            top.fail("needs at least one component", "components")
        components = [read_component(Reader(item, f"components[{i}]", path), shared, False)
                      for i, item in enumerate(items)]
    else:
        components = [read_component(top, shared, True)]
    seen: set[str] = set()
    for i, comp in enumerate(components):
        if comp.id in seen:
            top.fail(f"duplicate component id {comp.id!r}", f"components[{i}].id")
        seen.add(comp.id)
    by_id = {c.id: c for c in components}
    for i, comp in enumerate(components):
        where = Reader(top.data["components"][i], f"components[{i}]", path) if many else top
        for used in comp.uses:
            if used not in by_id:
                where.fail(f"{used!r} is not a component of this assignment", "uses")
        components[i] = resolve_composition(comp, by_id, where)
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
