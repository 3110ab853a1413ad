"""The class at a glance: statistics over many graded reports, rendered as one HTML page.

Everything is computed here (counts, histogram, pass rates, mistakes, even the chart's
coordinates); the template only formats what it is given."""
from __future__ import annotations

import math
import re
import statistics
import string
from collections import Counter
from grader.records import record
from typing import Iterable
from urllib.parse import quote

from grader.report import STATUSES
from grader.rubric import Check, Component, Rubric, shape_words

BINS = 10
TOP_MISTAKES = 10
GRADED = "graded"
REPORT_LINK = "report.html"
FULL_MARKS = "full marks"
ELIDED = "…"          # what stands for a number, a list of cases or a per-submission detail
# Fields of a feedback text that add a clause of their own: left out when unknown, not elided.
OPTIONAL_FIELDS = ("eq", "alpha", "fix")

# Histogram geometry, in SVG user units.
CHART_WIDTH, CHART_HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 24, 56


@record(frozen=True)
class Bin:
    """One histogram bin: scores in [lo, hi); or, for the last bin (``full``), exactly
    max_score: full marks have a bar of their own."""
    lo: float
    hi: float
    count: int
    full: bool = False

    @property
    def label(self) -> str:
        if self.full:
            return f"{FULL_MARKS} ({_number(self.hi)})"
        return f"{_number(self.lo)}–{_number(self.hi)}"


@record(frozen=True)
class CheckRate:
    """How many submissions passed one check."""
    id: str
    title: str
    visibility: str
    passed: int
    total: int
    component: str = ""

    @property
    def percent(self) -> float:
        return 100.0 * self.passed / self.total if self.total else 0.0


@record(frozen=True)
class ComponentRate:
    """One component across the class: how many submissions have full marks on it, its mean
    subtotal, and the pass rate of each of its checks."""
    id: str
    title: str
    max_score: float
    full: int
    total: int
    mean: float | None
    checks: tuple[CheckRate, ...]

    @property
    def percent(self) -> float:
        return 100.0 * self.full / self.total if self.total else 0.0


@record(frozen=True)
class MistakeCount:
    """A named mistake: in how many submissions, and in which checks (title, submissions)."""
    id: str
    count: int
    checks: tuple[tuple[str, int], ...]
    hint: str = ""


@record(frozen=True)
class Row:
    """One submission, as the tables show it."""
    id: str
    score: float
    max_score: float
    status: str
    summary: str
    link: str
    name: str = ""      # the folder's or archive's name, when the id is not simply that


@record(frozen=True)
class CauseGroup:
    """Submissions that did not grade cleanly for the same reason: the status and the summary
    sentence with its numbers and lists of cases elided, and the submissions."""
    status: str
    cause: str
    rows: tuple[Row, ...]

    @property
    def count(self) -> int:
        return len(self.rows)


@record(frozen=True)
class SkipCount:
    """Entries of the submissions folder that are not submissions, for one reason."""
    reason: str
    count: int
    names: str          # the first few, for display


@record(frozen=True)
class ClassSummary:
    """Everything the summary page shows about a set of reports."""
    assignment: str
    max_score: float
    submissions: int
    graded: int
    errored: int
    statuses: tuple[tuple[str, int], ...]
    mean: float | None
    median: float | None
    minimum: float | None
    maximum: float | None
    histogram: tuple[Bin, ...]
    checks: tuple[CheckRate, ...]
    mistakes: tuple[MistakeCount, ...]
    problems: tuple[Row, ...]
    rows: tuple[Row, ...]
    skipped: tuple[SkipCount, ...] = ()
    components: tuple[ComponentRate, ...] = ()
    unclean: tuple[CauseGroup, ...] = ()


@record(frozen=True)
class Bar:
    """One histogram bar placed on the chart, with its count label above it."""
    x: float
    y: float
    width: float
    height: float
    count: int
    label: str
    text_x: float
    text_y: float
    full: bool = False


@record(frozen=True)
class Mark:
    """A line on the chart (a tick or grid line) and the text beside it."""
    x1: float
    y1: float
    x2: float
    y2: float
    text_x: float
    text_y: float
    text: str


@record(frozen=True)
class Chart:
    """The histogram as SVG coordinates: axes, bars, ticks and axis labels."""
    width: int
    height: int
    x_axis: tuple[float, float, float, float]
    y_axis: tuple[float, float, float, float]
    bars: tuple[Bar, ...]
    x_ticks: tuple[Mark, ...]
    y_ticks: tuple[Mark, ...]
    x_label: tuple[float, float, str]
    y_label: tuple[float, float, str]
    full_label: tuple[float, float, str]   # under the full-marks bar


def summarize(reports: list[dict], rubric: Rubric,
              skipped: Iterable[tuple[str, int, list[str]]] = ()) -> ClassSummary:
    """Compute the class summary from ``Report.to_dict()`` dictionaries (and what the batch
    skipped: reason, count, names)."""
    scores = [float(r["score"]) for r in reports]
    graded = sum(1 for r in reports if r["status"] == GRADED)
    rows = tuple(sorted((_row(r) for r in reports), key=lambda row: (row.id.casefold(), row.id)))
    checks = pass_rates(reports, rubric)
    problems = tuple(row for row in rows if row.status != GRADED)
    return ClassSummary(
        assignment=rubric.assignment, max_score=rubric.max_score, submissions=len(reports),
        graded=graded, errored=len(reports) - graded, statuses=_statuses(reports),
        mean=statistics.fmean(scores) if scores else None,
        median=statistics.median(scores) if scores else None,
        minimum=min(scores, default=None), maximum=max(scores, default=None),
        histogram=histogram(scores, rubric.max_score), checks=checks,
        mistakes=mistake_counts(reports, rubric), rows=rows, problems=problems,
        skipped=tuple(SkipCount(reason, n, _some(names)) for reason, n, names in skipped),
        components=component_rates(reports, rubric, checks),
        unclean=unclean_groups(problems, rubric))


def histogram(scores: list[float], max_score: float, bins: int = BINS) -> tuple[Bin, ...]:
    """Count scores in ``bins`` equal bins over [0, max_score), then full marks (a score equal
    to max_score) in a bin of their own; out-of-range scores are clamped."""
    counts = [0] * bins
    full = 0
    for score in scores:
        if _full(score, max_score):
            full += 1
            continue
        # multiply before dividing, plus a hair: 0.3 of 1 point must land in bin 3, not 2
        index = math.floor(score * bins / max_score + 1e-9) if max_score > 0 else 0
        counts[min(bins - 1, max(0, index))] += 1
    width = max_score / bins
    return (*(Bin(i * width, (i + 1) * width, n) for i, n in enumerate(counts)),
            Bin(max_score, max_score, full, full=True))


def _full(score: float, max_score: float) -> bool:
    """Full marks, allowing for the rounding of a sum of fractional points."""
    return score >= max_score - 1e-6


def pass_rates(reports: list[dict], rubric: Rubric) -> tuple[CheckRate, ...]:
    """Per check, in rubric order (then any check the rubric lacks): submissions passing it."""
    titles = {c.id: c.title for c in rubric.checks}
    visibility = {c.id: c.visibility for c in rubric.checks}
    component = {c.id: c.component for c in rubric.checks}
    passed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for report in reports:
        for check in report["checks"]:
            titles.setdefault(check["id"], check["title"])
            visibility.setdefault(check["id"], check["visibility"])
            component.setdefault(check["id"], check.get("component") or "")
            total[check["id"]] += 1
            passed[check["id"]] += check["status"] == "passed"
    return tuple(CheckRate(cid, title, visibility[cid], passed[cid], total[cid], component[cid])
                 for cid, title in titles.items())


def component_rates(reports: list[dict], rubric: Rubric,
                    checks: tuple[CheckRate, ...]) -> tuple[ComponentRate, ...]:
    """Per component, in assignment order: submissions with full marks on it (every check of
    a component worth no points passed), its mean subtotal, and its checks' pass rates."""
    owner = {c.id: c.component for c in rubric.checks}
    full: Counter[str] = Counter()
    subtotals: dict[str, list[float]] = {comp.id: [] for comp in rubric.components}
    for report in reports:   # one pass: each report is read once, whatever the components
        score: Counter[str] = Counter()
        seen: Counter[str] = Counter()
        passed: Counter[str] = Counter()
        for c in report["checks"]:
            comp = owner.get(c["id"])
            if comp is not None:
                score[comp] += float(c["score"])
                seen[comp] += 1
                passed[comp] += c["status"] == "passed"
        for comp in rubric.components:
            subtotal = round(score[comp.id], 4)
            subtotals[comp.id].append(subtotal)
            if comp.max_score > 0:
                full[comp.id] += _full(subtotal, comp.max_score)
            else:   # worth no points: full when every one of its checks passed
                full[comp.id] += passed[comp.id] == seen[comp.id] == len(comp.checks)
    return tuple(ComponentRate(comp.id, comp.title, comp.max_score, full[comp.id], len(reports),
                               statistics.fmean(subtotals[comp.id]) if reports else None,
                               tuple(c for c in checks if c.component == comp.id))
                 for comp in rubric.components)


def mistake_counts(reports: list[dict], rubric: Rubric,
                   top: int = TOP_MISTAKES) -> tuple[MistakeCount, ...]:
    """The ``top`` mistakes named in most submissions, each with what it means and the checks
    that named it."""
    order = {c.id: i for i, c in enumerate(rubric.checks)}
    titles = _qualified_titles(rubric)
    submissions: Counter[str] = Counter()
    by_check: dict[str, Counter[str]] = {}
    for report in reports:
        named = set()
        for check in report["checks"]:
            titles.setdefault(check["id"], check["title"])
            for mistake in set(check.get("mistakes", ())):
                named.add(mistake)
                by_check.setdefault(mistake, Counter())[check["id"]] += 1
        submissions.update(named)
    ranked = sorted(submissions.items(), key=lambda item: (-item[1], item[0]))[:top]
    checks = {c.id: c for c in rubric.checks}
    out = []
    for mistake, count in ranked:
        # explained as the check that named it most often said it
        cid = min(by_check[mistake], key=lambda c: (-by_check[mistake][c],
                                                    order.get(c, len(order)), c))
        check = checks.get(cid)
        comp = rubric.component(check.component) if check and check.component else None
        out.append(MistakeCount(mistake, count, _where(by_check[mistake], order, titles),
                                explain(mistake, rubric, comp, check)))
    return tuple(out)


def explain(mistake: str, rubric: Rubric, comp: Component | None = None,
            check: Check | None = None) -> str:
    """What a named mistake means, for the class as a whole: the rubric's text for it (the
    component's own, else any) or the built-in one, with what the check tells (the quantity,
    its shape and equation, a forbidden function) filled in and what differs from one
    submission to the next elided."""
    from grader.diagnose import DEFAULT_HINTS

    hints = comp.hints if comp else {}
    template = hints.get(mistake) or rubric.hints.get(mistake) or DEFAULT_HINTS.get(mistake)
    if not template:
        return ("a wrong variant of the reference with no explanation yet: write one under "
                "hints: in the rubric")
    values = _Fields({k: "" for k in OPTIONAL_FIELDS})
    if check and comp and len(check.targets) == 1:
        name = check.targets[0]
        values["name"] = name
        table = dict(comp.table1)
        if name in table:
            values["shape"] = shape_words(table[name])
        eq = comp.equation(name)
        values["eq"] = f" ({eq})" if eq else ""
    if check and check.forbid:
        values["function"] = " or ".join(check.forbid)
    try:
        return string.Formatter().vformat(template, (), values).strip()
    except (IndexError, KeyError, ValueError, AttributeError, TypeError):
        return template   # a text with braces that are not fields: shown as written


class _Fields(dict):
    """Format values: a field nobody knows here stands elided."""

    def __missing__(self, key: str) -> str:
        return ELIDED


def _qualified_titles(rubric: Rubric) -> dict[str, str]:
    """Check titles, each prefixed with its component's title when there are several (every
    activation has a "backward: values of dLdZ")."""
    if len(rubric.components) < 2:
        return {c.id: c.title for c in rubric.checks}
    return {c.id: f"{comp.title}: {c.title}" for comp in rubric.components for c in comp.checks}


def _where(counts: Counter[str], order: dict[str, int],
           titles: dict[str, str]) -> tuple[tuple[str, int], ...]:
    """(check title, submissions) for one mistake, in rubric order."""
    ids = sorted(counts, key=lambda cid: (order.get(cid, len(order)), cid))
    return tuple((titles[cid], counts[cid]) for cid in ids)


_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)*(?:[eE][-+]?\d+)?(?!\w)")


def cause_of(summary: str, case_names: Iterable[str] = ()) -> str:
    """A summary sentence with what differs between submissions failing the same way elided:
    numbers (line numbers, shapes, counts) and the lists of cases it happened on."""
    names = sorted(set(case_names), key=len, reverse=True)
    text = " ".join(summary.split())
    if names:
        one = "|".join(map(re.escape, names))
        text = re.sub(rf"\(cases? (?:{one})(?:, (?:{one}))*\)", f"(cases {ELIDED})", text)
    return _NUMBER.sub(ELIDED, text)


def unclean_groups(problems: Iterable[Row], rubric: Rubric) -> tuple[CauseGroup, ...]:
    """The submissions that did not grade cleanly, grouped by status and cause, the largest
    group first."""
    names = [case.name for comp in rubric.components for case in comp.cases]
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in problems:
        groups.setdefault((row.status, cause_of(row.summary, names)), []).append(row)
    return tuple(CauseGroup(status, cause, tuple(rows)) for (status, cause), rows in
                 sorted(groups.items(), key=lambda item: (-len(item[1]), item[0])))


def chart(summary: ClassSummary) -> Chart:
    """Place the histogram's bars, ticks and labels on an SVG canvas: the score ranges, then
    the full-marks bar, labelled under it."""
    bins = summary.histogram
    left, right, top = LEFT, CHART_WIDTH - RIGHT, TOP
    baseline = CHART_HEIGHT - BOTTOM
    highest = max((b.count for b in bins), default=0)
    step = max(1, math.ceil(highest / 4))
    y_max = step * max(1, math.ceil(highest / step))
    scale = (baseline - top) / y_max
    slot = (right - left) / len(bins)
    bars = tuple(
        Bar(x=_r(left + i * slot + 2), y=_r(baseline - b.count * scale), width=_r(slot - 4),
            height=_r(b.count * scale), count=b.count, label=b.label,
            text_x=_r(left + (i + 0.5) * slot), text_y=_r(baseline - b.count * scale - 4),
            full=b.full)
        for i, b in enumerate(bins))
    ranges = [b for b in bins if not b.full]
    xs = [_r(left + i * slot) for i in range(len(ranges) + 1)]
    # the edge at max_score is not labelled: the full-marks bar right of it says it
    x_ticks = tuple(Mark(x, baseline, x, baseline + 4, x, baseline + 18,
                         _number(i * summary.max_score / len(ranges)) if i < len(ranges)
                         else "") for i, x in enumerate(xs))
    ys = {v: _r(baseline - v * scale) for v in range(0, y_max + 1, step)}
    y_ticks = tuple(Mark(left, y, right, y, left - 6, _r(y + 4), str(v)) for v, y in ys.items())
    return Chart(CHART_WIDTH, CHART_HEIGHT, (left, baseline, right, baseline),
                 (left, top, left, baseline), bars, x_ticks, y_ticks,
                 (_r((left + right) / 2), CHART_HEIGHT - 10,
                  f"score (out of {_number(summary.max_score)})"),
                 (14, _r((top + baseline) / 2), "submissions"),
                 (_r(left + (len(bins) - 0.5) * slot), baseline + 18, FULL_MARKS))


def summary_html(reports: list[dict], rubric: Rubric, title: str | None = None,
                 skipped: Iterable[tuple[str, int, list[str]]] = ()) -> str:
    """A self-contained HTML page (inline SVG and CSS, no JavaScript) summarising the class."""
    from grader import render

    summary = summarize(reports, rubric, skipped)
    return render.environment(True).get_template("summary.html.j2").render(
        s=summary, chart=chart(summary), title=title or f"{summary.assignment} — class summary",
        points=render.points, stat=stat)


def stat(value: float | None) -> str:
    """A statistic for display: one decimal at most, a dash when there is no data."""
    return "—" if value is None else _number(round(value, 1))


def _number(value: float) -> str:
    return f"{value:g}"


def _r(value: float) -> float:
    """A coordinate rounded for compact SVG."""
    return round(value, 2)


def _some(names: list[str], shown: int = 10) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _row(report: dict) -> Row:
    sid = str(report["submission"])
    name = str(report.get("name") or sid)
    # quote() makes any id a single relative path segment: no scheme, no '/', no markup
    return Row(sid, float(report["score"]), float(report["max_score"]), report["status"],
               report.get("summary", ""), f"{quote(sid, safe='')}/{REPORT_LINK}",
               name if name != sid else "")


def _statuses(reports: list[dict]) -> tuple[tuple[str, int], ...]:
    counts = Counter(r["status"] for r in reports)
    known = [(s, counts[s]) for s in STATUSES if counts[s]]
    return tuple(known + sorted((s, n) for s, n in counts.items() if s not in STATUSES))
