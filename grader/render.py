"""Turn a Report into what people read: terminal text, HTML, Gradescope JSON, an Autolab line.

Templates only format; every decision is made in Python before they are called."""
from __future__ import annotations

import json
import os
import re
import sys
from grader.records import replace
from functools import lru_cache

from grader.report import CheckResult, Report

ICONS = {"passed": "✓", "failed": "✗", "error": "!"}
COLOURS = {"passed": "32", "failed": "31", "error": "33", "dim": "2", "bold": "1"}
GRADESCOPE_VISIBILITY = {"public": "visible"}
GRADESCOPE_OUTPUT = 2000   # characters of the student's output quoted in results.json
TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
TEMPLATE_CODE = "2"        # bump when compiled templates change meaning (e.g. finalize)

# What a terminal (or a page) would act on instead of showing: C0 controls but newline and tab
# (ESC starts colour, cursor and screen commands; CR and BS overwrite a line), DEL, C1 controls
# (U+009B is CSI on some terminals), bidirectional overrides (they reorder what is shown), and
# lone surrogates (which cannot even be written as UTF-8).
UNPRINTABLE = ("\r(?!\n)|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f"
               "\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


@lru_cache(maxsize=None)
def _unprintable() -> re.Pattern:
    """Compiled when first needed (it takes most of a millisecond, which `grade` must not pay
    where it only asks whether stdout is a terminal); environment() compiles it in advance."""
    return re.compile(UNPRINTABLE)


def printable(text: str) -> str:
    """``text`` with every character that could act on a terminal shown as an escape
    (ESC as \\x1b, CR as \\r); newlines (also as CR LF) and tabs stay layout."""
    if text.isprintable():   # no control, format or surrogate character: nothing to escape
        return text
    return _unprintable().sub(_escape, text)


def _escape(match: re.Match) -> str:
    char = match.group()
    if char == "\r":
        return "\\r"
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def printable_report(report: Report) -> Report:
    """The report with every text a student's code can put in it printable (itself when there
    is nothing to escape): done before rendering, since filters such as indent and wordwrap
    take CR for a line break."""
    texts = [report.submission, report.summary, report.details, report.output]
    for c in report.checks:
        texts += (c.title, *c.messages, *c.hints)
    if not _unprintable().search(" ".join(texts)):   # (a space: no CR meets a LF)
        return report
    return replace(report, checks=tuple(map(_printable_check, report.checks)),
                   submission=printable(report.submission),
                   summary=printable(report.summary), details=printable(report.details),
                   output=printable(report.output),
                   public_summary=printable(report.public_summary))


def _printable_check(check: CheckResult) -> CheckResult:
    return replace(check, title=printable(check.title),
                   messages=tuple(map(printable, check.messages)),
                   hints=tuple(map(printable, check.hints)))


class Styled(str):
    """Text already made printable, with the report's own colour codes around it."""


def _finalize(value: object) -> object:
    """Every text a template shows is made printable, but not the report's own styling
    (Styled) or markup Jinja built (Markup): student text cannot reach a terminal raw."""
    return printable(value) if type(value) is str else value


@lru_cache(maxsize=None)
def environment(html: bool):
    """One Jinja environment per output kind: StrictUndefined, autoescape for HTML, and every
    shown value printable (see _finalize)."""
    import jinja2

    _unprintable()   # here, where a renderer prepares while the grader works
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), bytecode_cache=_bytecode_cache(),
        undefined=jinja2.StrictUndefined, autoescape=html, finalize=_finalize,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def _bytecode_cache():
    """Compiled templates cached per user (compiling costs more than grading); the folder is
    named by what the code depends on, so an old cache is never loaded."""
    import jinja2

    from grader import cache

    folder = cache.folder(f"jinja-{jinja2.__version__}-t{TEMPLATE_CODE}")
    return jinja2.FileSystemBytecodeCache(str(folder)) if folder else None


class Paint:
    """Wraps text in ANSI colour codes, or returns it unchanged."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, style: str, text: object) -> Styled:
        shown = printable(str(text))
        if not self.enabled:
            return Styled(shown)
        return Styled(f"\033[{COLOURS[style]}m{shown}\033[0m")


def points(value: float) -> str:
    """Points as a student reads them: at most two decimals (4.999998 is 5)."""
    return f"{round(value, 2):g}"


def output_heading(report: Report) -> str:
    """The line above what the student's code printed."""
    more = f", {report.output_dropped} more not shown" if report.output_dropped else ""
    where = " on public checks" if report.has_hidden else ""
    hidden = ("; what it printed once hidden checks ran is not shown"
              if report.has_hidden else "")
    return f"Your code printed{where} (first {len(report.output)} characters{more}{hidden}):"


def terminal(report: Report, colour: bool = False) -> str:
    """The report `make grade` prints."""
    return environment(False).get_template("terminal.txt.j2").render(
        r=printable_report(report), paint=Paint(colour), icon=ICONS, points=points,
        output_heading=output_heading(report))


def html(report: Report) -> str:
    """A self-contained HTML page."""
    return environment(True).get_template("report.html.j2").render(
        r=printable_report(report), icon=ICONS, points=points,
        output_heading=output_heading(report))


def gradescope(report: Report, hidden_visibility: str = "after_published") -> dict:
    """The Gradescope results.json structure; every text is plain (output_format "text") and
    printable."""
    tests = []
    titles = dict(report.components)
    for c in report.checks:
        text = "\n".join([*c.messages, *(f"Likely mistake: {h}" for h in c.hints)])
        name = f"{titles[c.component]}: {c.title}" if len(titles) > 1 else c.title
        tests.append({"name": name, "number": c.id, "score": c.score, "max_score": c.max_score,
                      "status": "passed" if c.status == "passed" else "failed",
                      "output": printable(text) or "passed", "output_format": "text",
                      "visibility": GRADESCOPE_VISIBILITY.get(c.visibility, hidden_visibility)})
    return {"score": report.score, "max_score": report.max_score, "tests": tests,
            "visibility": "visible", "stdout_visibility": "hidden",
            "output": gradescope_output(report), "output_format": "text",
            "test_output_format": "text", "test_name_format": "text"}


def gradescope_output(report: Report) -> str:
    """The text above the tests: with hidden checks, only what the public tests show (their
    points, their failures), never the total; then what the code printed on public cases."""
    if report.has_hidden:
        public = [c for c in report.checks if c.visibility == "public"]
        lines = [f"Public checks: {points(sum(c.score for c in public))} / "
                 f"{points(sum(c.max_score for c in public))}. Hidden checks are graded too; "
                 f"their results appear when grades are published."]
        if report.public_summary:
            lines.append(report.public_summary)
    else:
        lines = [report.summary or f"Score: {points(report.score)} / {points(report.max_score)}"]
    if report.output:
        shown = report.output[:GRADESCOPE_OUTPUT]
        more = report.output_dropped + len(report.output) - len(shown)
        lines.append(f"\nYour code printed{' (on public checks)' if report.has_hidden else ''}"
                     f"{f', {more} more characters not shown' if more else ''}:\n"
                     f"{shown.rstrip()}")
    return printable("\n".join(lines))


def results_json(data: dict) -> str:
    """Gradescope results as JSON text a person can read too: a line per key and per test,
    each written by the C encoder (indent= would fall back to the slow pure-Python one)."""
    lines = []
    for key, value in data.items():
        if key == "tests" and isinstance(value, list) and value:
            tests = ",\n".join(f"    {json.dumps(t)}" for t in value)
            lines.append(f'  {json.dumps(key)}: [\n{tests}\n  ]')
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n" if lines else "{}\n"


def autolab(report: Report) -> str:
    """The Autolab scores line: one JSON object, the last line on stdout."""
    return json.dumps({"scores": {c.id: c.score for c in report.checks}})


def write_text(path: str, text: str) -> None:
    """Write UTF-8 text, '-' meaning standard output."""
    if path == "-":
        sys.stdout.write(text)
        return
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
