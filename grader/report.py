"""The one result object every output format is rendered from."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from grader.checks import CheckResult

STATUSES = ("graded", "crashed", "not_importable", "rejected")


@dataclass(frozen=True)
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
    output: str = ""                  # what the student's code printed (truncated)
    output_dropped: int = 0
    has_hidden: bool = False

    @property
    def mistakes(self) -> list[str]:
        return sorted({m for c in self.checks for m in c.mistakes})

    def to_dict(self) -> dict:
        data = asdict(self)
        data["mistakes"] = self.mistakes
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Report":
        fields = {k: v for k, v in data.items() if k != "mistakes"}
        fields["checks"] = tuple(CheckResult.from_dict(c) for c in data["checks"])
        return cls(**fields)


def rejected(assignment: str, submission: str, reason: str, checks: tuple[CheckResult, ...]
             ) -> Report:
    """A submission that could not be graded at all (e.g. an unsafe archive): every check 0."""
    zeroed = tuple(CheckResult(c.id, c.title, c.kind, c.visibility, 0.0, c.max_score, 0, c.total,
                               "error", (reason,)) for c in checks)
    return Report(assignment, submission, "rejected", 0.0, sum(c.max_score for c in checks),
                  zeroed, summary=reason)
