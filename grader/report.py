"""The one result object every output format is rendered from."""
from __future__ import annotations

from grader.records import record, fields


STATUSES = ("graded", "crashed", "not_importable", "rejected")


@record(frozen=True)
class CheckResult:
    """One rubric row, judged."""
    id: str
    title: str
    kind: str
    visibility: str
    score: float
    max_score: float
    passed: int
    total: int
    status: str                      # passed | failed | error
    messages: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()
    mistakes: tuple[str, ...] = ()
    component: str = ""              # the component's id (one section of the report each)

    def to_dict(self) -> dict:
        # the fields are plain values and tuples of strings: no deep copy needed (asdict's
        # recursion costs more than judging a check)
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in ("messages", "hints", "mistakes"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "CheckResult":
        fields = dict(data)
        for key in ("messages", "hints", "mistakes"):
            fields[key] = tuple(fields.get(key, ()))
        return cls(**fields)


@record(frozen=True)
class Report:
    """A graded submission."""
    assignment: str
    submission: str
    status: str                       # one of STATUSES
    score: float
    max_score: float
    checks: tuple[CheckResult, ...]
    summary: str = ""                 # one sentence at the top: what happened overall
    details: str = ""                 # e.g. the traceback of an import failure
    output: str = ""                  # what the student's code printed (truncated) on
    output_dropped: int = 0           # public cases, before any hidden case ran
    has_hidden: bool = False
    public_summary: str = ""          # the summary without hidden cases: what a student sees
                                      # while hidden results are not published
    staff_output: str = ""            # printed once a hidden case ran: course staff only
    staff_output_dropped: int = 0
    sandbox: str = ""                 # which sandbox ran the code, for the log line
    components: tuple[tuple[str, str], ...] = ()   # (id, title) of each section, in order

    @property
    def mistakes(self) -> list[str]:
        return sorted({m for c in self.checks for m in c.mistakes})

    @property
    def sections(self) -> list["Section"]:
        """One section per component, in the assignment's order, with its subtotal and each
        likely cause said once with the checks it explains."""
        titles = dict(self.components) or {c.component: c.component for c in self.checks}
        out = []
        for cid, title in titles.items():
            checks = tuple(c for c in self.checks if c.component == cid)
            if not checks and self.components:
                continue
            causes: dict[str, tuple[str, list[str]]] = {}
            for c in checks:
                for mistake, text in zip(c.mistakes, c.hints):
                    causes.setdefault(text, (mistake, []))[1].append(c.title)
            out.append(Section(cid, title, round(sum(c.score for c in checks), 4),
                               round(sum(c.max_score for c in checks), 4), checks,
                               tuple(Cause(m, t, tuple(ts)) for t, (m, ts) in causes.items())))
        return out

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["checks"] = [c.to_dict() for c in self.checks]
        data["components"] = [list(c) for c in self.components]
        data["mistakes"] = self.mistakes
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Report":
        fields = {k: v for k, v in data.items() if k != "mistakes"}
        fields["checks"] = tuple(CheckResult.from_dict(c) for c in data["checks"])
        fields["components"] = tuple(tuple(c) for c in data.get("components", ()))
        return cls(**fields)


@record(frozen=True)
class Cause:
    """One likely mistake, said once, with the titles of the checks it explains."""
    mistake: str
    text: str
    checks: tuple[str, ...]


@record(frozen=True)
class Section:
    """One component's part of a report."""
    id: str
    title: str
    score: float
    max_score: float
    checks: tuple[CheckResult, ...]
    causes: tuple[Cause, ...]

    @property
    def not_started(self) -> bool:
        """Nothing earned and the code says it is not written yet (the handout's skeleton)."""
        return self.score == 0 and not any(c.status == "passed" and c.max_score > 0
                                           for c in self.checks) and any(
            "not implemented yet" in m for c in self.checks for m in c.messages)


def rejected(rubric, submission: str, reason: str) -> Report:
    """A submission that could not be graded at all (e.g. an unsafe archive): every check 0."""
    checks = tuple(CheckResult(c.id, c.title, c.kind, c.visibility, 0.0, c.points, 0,
                               len(c.cases), "error", (f"not run: {reason}",),
                               component=c.component)
                   for c in rubric.checks)
    return Report(rubric.assignment, submission, "rejected", 0.0, rubric.max_score, checks,
                  summary=f"Not graded: {reason}", public_summary=f"Not graded: {reason}",
                  has_hidden=any(c.visibility == "hidden" for c in rubric.checks),
                  components=tuple((c.id, c.title) for c in rubric.components))
