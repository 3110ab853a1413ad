"""The extra calls that checks needing no reference make on one case: repeated and scaled
backward calls, and forward calls on inputs moved along random directions (finite
differences). Planned here and sent with the cases; judged in grader.consistency."""
from __future__ import annotations

from grader.records import record, field

import numpy as np

from grader.compare import as_float, finite
from grader.rubric import PROBE_KINDS, Case, Component
from grader.sandbox.client import Problem, Reply
from grader.sandbox.protocol import Value

DIRECTIONS = 1          # a wrong gradient g' gives <g' - g, v> != 0 for almost every v
STEP = 1e-4             # central-difference step
GRAD_RTOL = 1e-4        # a float64 layer agrees to ~1e-9; a wrong gradient is off by O(1)


@record
class Probe:
    """What the extra calls on one case returned."""
    problem: Problem | None = None
    stage: str = ""
    first: dict[str, Value] = field(default_factory=dict)    # backward(G)
    again: dict[str, Value] = field(default_factory=dict)    # backward(G) once more
    zero: dict[str, Value] = field(default_factory=dict)     # backward(0)
    double: dict[str, Value] = field(default_factory=dict)   # backward(2G)
    numeric: dict[str, list[tuple[np.ndarray, float]]] = field(default_factory=dict)
    forward_nonfinite: bool = False   # some forward call of the finite differences gave NaN/inf


def direction(shape: tuple[int, ...], label: str) -> np.ndarray:
    """A fixed pseudo-random direction with entries in [-1, 1): SHA-256 in counter mode.
    (numpy.random would do, but importing it costs as much as the rest of a check.)"""
    from grader.vectors import _sha256

    count = int(np.prod(shape, dtype=np.int64))
    blocks = b"".join(_sha256(f"{label}#{i}".encode()).digest()
                      for i in range((4 * count + 31) // 32))
    words = np.frombuffer(blocks, dtype="<u4", count=count)
    return (words / 2.0**31 - 1.0).reshape(shape)


def needs_probe(comp: Component) -> list[str]:
    """The cases some check wants probed."""
    return sorted({c for ch in comp.checks if ch.kind in PROBE_KINDS for c in ch.cases})


@record
class ProbeUnit:
    """The extra calls on one case, run with the cases as part of one script."""
    comp: Component
    case: Case
    inputs: dict[str, np.ndarray]
    tags: list = field(default_factory=list)
    directions: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.comp.id

    continued: bool = False   # runs on after the case's own calls, in the same object

    def plan(self) -> list[tuple[dict, list[np.ndarray]]]:
        from grader.runner import REMEMBERED

        steps, self.tags, self.directions = REMEMBERED.plan(
            _plan, self.comp, self.case, self.inputs, continued=self.continued)
        return steps

    def finish(self, replies: list[Reply], setup: Problem | None,
               first: Reply | None = None) -> Probe:
        """The probe's result from its replies; ``first``: when it continued a case, the
        case's own backward reply (the first backward call of the probe)."""
        if setup is not None:
            return Probe(setup, "import")
        comp = self.comp
        out = Probe()
        if first is not None:
            replies = [first, *replies]
        backward_keys = [comp.backward.output, *comp.backward.stores]
        losses: dict[str, list[float]] = {}
        upstream = comp.backward.inputs   # L = sum(output * G); a scalar output is L itself
        weight = self.inputs[upstream[0]] if upstream else None
        for (tag, info), reply in zip(self.tags, replies):
            if not reply.ok:
                out.problem = reply.problem
                out.stage = comp.backward.method if tag == "backward" else \
                    comp.forward.method if tag == "loss" else info
                return out
            if tag == "backward":
                getattr(out, info).update(zip(backward_keys, [*reply.values[:1], *reply.got]))
            elif tag == "loss":
                z = reply.values[0] if reply.values else None
                loss = _loss(z, weight)
                if loss is None:
                    what = z.describe() if z else "nothing"
                    return Probe(Problem("unusable", message=f"{comp.forward.method}() "
                                                             f"returned {what}"), "probe")
                losses.setdefault(info, []).append(loss)
                out.forward_nonfinite |= not finite(z.array)
        if len(replies) < len(self.tags):
            return Probe(Problem("died"), "probe")
        for wrt, vs in self.directions.items():
            values = losses[wrt]
            out.numeric[wrt] = [(v, (values[2 * i] - values[2 * i + 1]) / (2 * STEP))
                                for i, v in enumerate(vs)]
        return out


def probe_units(comp: Component, inputs: dict[str, dict[str, np.ndarray]]) -> list[ProbeUnit]:
    """One unit per case that some consistency check of ``comp`` wants probed."""
    return [ProbeUnit(comp, comp.case(name), inputs[name]) for name in needs_probe(comp)]


def _plan(comp: Component, case: Case, inputs: dict[str, np.ndarray],
          continued: bool = False) -> tuple[list, list, dict]:
    """The probe's requests, for each a tag saying what its reply is, and the random
    directions of the finite differences. ``continued``: the case's own calls ran just
    before in the same object, its backward call being the probe's first (so the steps
    start at the second backward call; the first tag is the case's)."""
    from grader.runner import call_step, construct_step

    quiet = {"quiet": True}   # answered only if it fails: nothing is read from these
    steps: list = []
    tags: list = [("backward", "first")] if continued else [("setup", "construct")]
    fwd, bwd = comp.forward, comp.backward
    fwd_args = [inputs[n] for n in fwd.inputs]
    if not continued:
        steps.append(construct_step(comp, case, inputs, **quiet))
        for name in comp.params:
            steps.append(({"op": "set", "name": name, **quiet}, [inputs[name]]))
            tags.append(("setup", "set"))
        steps.append((call_step(fwd, **quiet), fwd_args))
        tags.append(("setup", fwd.method))
    upstream = [inputs[n] for n in bwd.inputs]
    scales = (("first", 1.0), ("again", 1.0), ("zero", 0.0), ("double", 2.0)) if upstream \
        else (("first", 1.0), ("again", 1.0))   # without an upstream gradient: no linearity
    for key, scale in scales[1:] if continued else scales:
        steps.append((call_step(bwd, get=list(bwd.stores)), [scale * g for g in upstream]))
        tags.append(("backward", key))
    directions: dict[str, list[np.ndarray]] = {}
    for wrt, _, _ in comp.gradients:
        base = inputs[wrt]
        for k in range(DIRECTIONS):
            v = direction(base.shape, f"{case.seed}/{wrt}/{k}")
            directions.setdefault(wrt, []).append(v)
            for sign in (1.0, -1.0):
                moved = base + sign * STEP * v
                if wrt in comp.params:
                    steps.append(({"op": "set", "name": wrt, **quiet}, [moved]))
                    tags.append(("setup", "set"))
                    args = fwd_args
                else:
                    args = [moved if n == wrt else inputs[n] for n in fwd.inputs]
                steps.append((call_step(fwd), args))
                tags.append(("loss", wrt))
        if wrt in comp.params:
            steps.append(({"op": "set", "name": wrt, **quiet}, [base]))
            tags.append(("setup", "set"))
    return steps, tags, directions


def _loss(z: Value | None, weight: np.ndarray | None) -> float | None:
    """sum(Z * G) (sum(Z) when there is no G: a scalar loss), or None when Z is not a
    numeric array of G's size (checked before any conversion, so an outsized reply is never
    copied)."""
    if z is None or z.kind not in ("array", "number") or (
            weight is not None and z.array.size != weight.size):
        return None
    if weight is None:   # no upstream gradient: the loss is the sum of the output itself
        values = as_float(z.array)
        with np.errstate(all="ignore"):
            return None if values is None else float(np.sum(values))
    values = as_float(z.array)
    if values is None:
        return None
    with np.errstate(all="ignore"):  # a NaN or inf output is judged later, not warned about
        return float(np.sum(values.reshape(weight.shape) * weight))
