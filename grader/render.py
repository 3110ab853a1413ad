"""Turn a Report into what people read: terminal text, HTML, Gradescope JSON, an Autolab line.

Templates only format; every decision is made in Python before they are called."""
from __future__ import annotations

import json
import os
import sys
from functools import lru_cache
from typing import TextIO

from grader.report import Report

ICONS = {"passed": "✓", "failed": "✗", "error": "!"}
COLOURS = {"passed": "32", "failed": "31", "error": "33", "dim": "2", "bold": "1"}
GRADESCOPE_VISIBILITY = {"public": "visible"}
TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")


@lru_cache(maxsize=None)
def environment(html: bool):
    """One Jinja environment per output kind: StrictUndefined, autoescape for HTML."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), bytecode_cache=_bytecode_cache(),
        undefined=jinja2.StrictUndefined, autoescape=html,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def _bytecode_cache():
    """Compiled templates cached per user (compiling costs more than grading)."""
    import jinja2

    from grader import cache

    folder = cache.folder(f"jinja-{jinja2.__version__}")
    return jinja2.FileSystemBytecodeCache(str(folder)) if folder else None


def use_colour(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


class Paint:
    """Wraps text in ANSI colour codes, or returns it unchanged."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, style: str, text: object) -> str:
        if not self.enabled:
            return str(text)
        return f"\033[{COLOURS[style]}m{text}\033[0m"


def points(value: float) -> str:
    return f"{value:g}"


def terminal(report: Report, colour: bool = False) -> str:
    """The report `make grade` prints."""
    return environment(False).get_template("terminal.txt.j2").render(
        r=report, paint=Paint(colour), icon=ICONS, points=points)


def html(report: Report) -> str:
    """A self-contained HTML page."""
    return environment(True).get_template("report.html.j2").render(
        r=report, icon=ICONS, points=points)


def gradescope(report: Report, hidden_visibility: str = "after_published") -> dict:
    """The Gradescope results.json structure."""
    tests = []
    for c in report.checks:
        text = "\n".join([*c.messages, *(f"Likely mistake: {h}" for h in c.hints)])
        tests.append({"name": c.title, "number": c.id, "score": c.score, "max_score": c.max_score,
                      "status": "passed" if c.status == "passed" else "failed",
                      "output": text or "passed",
                      "visibility": GRADESCOPE_VISIBILITY.get(c.visibility, hidden_visibility)})
    out = {"score": report.score, "max_score": report.max_score, "tests": tests,
           "visibility": "visible", "stdout_visibility": "hidden"}
    summary = report.summary or f"{points(report.score)} / {points(report.max_score)}"
    out["output"] = summary
    return out


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
