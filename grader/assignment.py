"""What an assignment is, once read: its components (one student class each) with their calls,
table of shapes, cases and checks, and the assignment they make up. grader.rubric reads and
validates a rubric file into these frozen records."""
from __future__ import annotations

import json
from grader.records import record, field, replace
from pathlib import Path
from typing import Any

from grader.errors import GraderError

CHECK_KINDS = ("init", "shape", "values", "stored", "unchanged",
               "gradcheck", "mutation", "repeatable", "linearity", "forbidden", "composition")
CONSISTENCY_KINDS = ("gradcheck", "mutation", "repeatable", "linearity", "forbidden",
                     "composition")
PROBE_KINDS = ("gradcheck", "repeatable", "linearity")   # the ones that need extra calls
VISIBILITIES = ("public", "hidden")
SCALAR = "scalar"
DRAWS = ("normal", "one_hot", "integers")


@record(frozen=True)
class Call:
    """One method call of a case: what it takes, returns and must store. ``stores`` names
    what is read right after the call, each at an attribute path (``paths``: the path when it
    is not the name itself, such as ``running_M`` read as ``running_M_2`` after a second
    call, or ``layers.0.dLdW``); ``sets`` are (path, input) pairs set just before it (new
    gradients on a model before an optimizer's step)."""
    method: str
    inputs: tuple[str, ...]
    output: str                                   # "" when the call returns nothing to judge
    stores: tuple[str, ...]
    kwargs: tuple[tuple[str, Any], ...] = ()
    paths: tuple[tuple[str, str], ...] = ()
    sets: tuple[tuple[str, str], ...] = ()
    label: str = ""    # how reports name a repeated call: "forward(Z3, eval=True)"

    def path(self, name: str) -> str:
        """The attribute path ``name`` is read at after this call."""
        return dict(self.paths).get(name, name)

    @property
    def stage(self) -> str:
        return self.label or self.method


@record(frozen=True)
class InitRule:
    """How a parameter must look after __init__: zeros, or drawn from a normal distribution."""
    kind: str                     # zeros | ones | normal | any
    mean: str = "0"
    std: str = "1"
    dims: tuple[tuple[str, int], ...] = ()   # the (large) layer the statistics are measured on


@record(frozen=True)
class Draw:
    """How a case's input is drawn from its seed: normal(loc, scale), one-hot rows, or
    integers in [low, high] (which puts exact zeros and ties in the input)."""
    kind: str = "normal"
    loc: float = 0.0
    scale: float = 1.0
    low: int = 0
    high: int = 0


@record(frozen=True)
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


@record(frozen=True)
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
    like: tuple[str, ...] = ()        # kind unchanged: each target equals these, as observed


@record(frozen=True)
class ChainLayer:
    """One layer of a composite, as another component of the assignment builds it: that
    component's id, its constructor's arguments, and which of the composite's inputs go to
    which of its attributes (its W from the model's layers.0.W). Where its class lives and
    what its calls are named come from that component; so does whether its backward takes the
    upstream gradient or, taking nothing, gives the derivative it is multiplied by (the
    previous handout's activations: dLdZ = dLdA ⊙ f.backward())."""
    component: str
    args: tuple[int | float, ...] = ()
    sets: tuple[tuple[str, str], ...] = ()
    title: str = ""
    module: str = ""
    cls: str = ""
    forward: str = "forward"
    backward: str = "backward"
    derivative: bool = False

    def words(self) -> str:
        """How the handout writes the layer: Linear(2, 3), ReLU()."""
        return f"{self.title}({', '.join(str(a) for a in self.args)})"


@record(frozen=True)
class Composition:
    """A composite (an MLP) is its layers applied in order: forward through them, backward
    through them in reverse. ``output`` and ``gradient`` name the composite's own forward
    output and input gradient, which the composition check compares with that chain."""
    layers: tuple[ChainLayer, ...]
    output: str
    gradient: str

    def words(self) -> str:
        return ", ".join(layer.words() for layer in self.layers)


@record(frozen=True)
class Limits:
    """Per-process limits for the child that runs student code."""
    call_seconds: float = 3.0
    import_seconds: float = 5.0
    memory_mb: int = 1024
    output_kb: int = 64
    total_seconds: float = 30.0   # wall time for the whole submission (enforced by the runner)


@record(frozen=True)
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
    # plain objects the child builds from a case's inputs and passes to the constructor (a
    # model whose layers hold W, b, dLdW, dLdb): name -> nested dicts and lists of input names
    objects: tuple[tuple[str, Any], ...] = ()
    uses: tuple[str, ...] = ()      # the components this one is built from (an MLP's layers)
    composition: Composition | None = None   # what it computes from those (a composition check)

    @property
    def forward(self) -> Call:
        """The call whose inputs are differentiated (the first)."""
        return self.calls[0]

    @property
    def backward(self) -> Call:
        """The call that produces the gradients (the second; the only one of a one-call
        component). Calls after it observe state (more training steps, eval mode)."""
        return self.calls[1] if len(self.calls) > 1 else self.calls[0]

    @property
    def object_names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.objects)

    def object_inputs(self) -> list[str]:
        """The inputs the objects are built from, in order."""
        out: list[str] = []

        def walk(spec: Any) -> None:
            if isinstance(spec, str) and spec not in out:
                out.append(spec)
            elif isinstance(spec, dict):
                for v in spec.values():
                    walk(v)
            elif isinstance(spec, list):
                for v in spec:
                    walk(v)
        for _, spec in self.objects:
            walk(spec)
        return out

    @property
    def observed_at_init(self) -> tuple[str, ...]:
        """What the constructor step reads: the params and every quantity with an init rule."""
        return tuple(dict.fromkeys([*self.params, *(n for n, _ in self.init)]))

    def call_of(self, name: str) -> Call | None:
        """The call that returns or stores ``name``."""
        for call in self.calls:
            if name == call.output or name in call.stores:
                return call
        return None

    def produced_by(self, name: str) -> str | None:
        """The call that returns or stores ``name``: its method, or its label when the method
        is called more than once ("forward(Z3, eval=True)")."""
        call = self.call_of(name)
        return call.stage if call else None

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
                "calls", "layer", "table", "table1", "draw", "objects", "init")
        return {"driver": {k: self.raw.get(k) for k in keys},
                "cases": [[c.name, [list(d) for d in c.dims], c.seed, c.explicit,
                           [[n, d.kind, d.loc, d.scale, d.low, d.high] for n, d in c.draws]]
                          for c in self.cases if c.visibility == visibility],
                "mistakes": [self.mistakes_module, list(self.mistakes)]}


@record(frozen=True)
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
        """The top-level packages the components are imported from: all of the assignment's,
        even when only some are graded (a model imports the layers it is built from)."""
        return tuple(dict.fromkeys(c.module.split(".")[0]
                                   for c in self.whole or self.components))

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
