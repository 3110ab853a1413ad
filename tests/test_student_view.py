"""What a student sees of their own code's behaviour: what it printed on public cases, shown
as inert text, and nothing of the hidden cases before grades are published."""
from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, SUBMISSIONS, expectation, run_cli
from grader import render
from grader.report import CheckResult, Report
from grader.runner import answer_spans

RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _with_output_expectations():
    for folder in sorted((SUBMISSIONS / "hostile").iterdir()):
        if {"shown", "not_shown", "staff"} & set(expectation(folder)):
            yield pytest.param(folder, id=folder.name)


def _views(folder: Path, tmp_path: Path) -> dict[str, str]:
    """The terminal report, report.html and results.json of one submission, as text."""
    page, results = tmp_path / "report.html", tmp_path / "results.json"
    result = run_cli("grade", str(folder), "--html", str(page), "--json", str(results))
    assert result.returncode == 0, result.stderr
    return {"terminal": result.stdout, "html": page.read_text(encoding="utf-8"),
            "results.json": results.read_text(encoding="utf-8")}


@pytest.mark.parametrize("folder", list(_with_output_expectations()))
def test_student_sees_public_output_as_text_and_nothing_hidden(folder, tmp_path, grade):
    """Each view shows what the code printed on public cases, control characters escaped
    (\\x1b, \\r), and nothing printed once a hidden case ran; staff get that part."""
    want = expectation(folder)
    views = _views(folder, tmp_path)
    gradescope = json.loads(views["results.json"])["output"]
    for text in want.get("shown", []):
        inert = render.printable(text)
        assert inert in views["terminal"], text
        assert html.escape(inert, quote=False) in views["html"], text
        assert inert in gradescope, text
    for name, view in views.items():
        assert not RAW_CONTROL.search(view.replace("\r\n", "\n")), name
        for text in want.get("not_shown", []):
            assert text not in view, (name, text)
    staff = grade(folder).staff_output
    for text in want.get("staff", []):
        assert text in staff, text


def _hidden_only_crash(tmp_path: Path) -> Path:
    """The reference, but forward raises on a batch larger than any public case's, with an
    exception whose type name and message carry escapes and hidden data."""
    sub = tmp_path / "sub"
    shutil.copytree(ROOT / "reference" / "mytorch", sub / "mytorch")
    linear = sub / "mytorch" / "nn" / "linear.py"
    linear.write_text(linear.read_text().replace(
        "        self.A = A\n",
        "        if A.shape[0] > 50:\n"
        "            raise type('Oops\\x1b[2J', (ValueError,), {})(f'SECRET {A.shape} {A[0, 0]}')\n"
        "        self.A = A\n", 1))
    return sub


def test_failures_on_hidden_cases_stay_hidden(tmp_path):
    """A crash on a hidden case: no message, traceback or data of it anywhere a student looks
    before publication; results.json's top text gives public points only, never the total."""
    views = _views(_hidden_only_crash(tmp_path), tmp_path)
    for name, view in views.items():
        assert "SECRET" not in view and "(96, 64)" not in view and "Oops" not in view, name
    data = json.loads(views["results.json"])
    visible = [t for t in data["tests"] if t["visibility"] == "visible"]
    shown = sum(t["score"] for t in visible)
    assert shown == sum(t["max_score"] for t in visible) and data["score"] < data["max_score"]
    top = data["output"]
    assert top.startswith(f"Public checks: {render.points(shown)} / {render.points(shown)}.")
    assert render.points(data["score"]) not in top and "hidden case" not in top
    assert "could not run" not in top and "ValueError" not in top
    assert "also failed to run on 1 hidden case" in views["terminal"]   # published views


def test_results_json_without_hidden_checks_says_the_score(tmp_path):
    """With no hidden checks (the student's handout), the top text says the score, and the
    whole results.json is plain text for Gradescope."""
    rubric = tmp_path / "public.yaml"   # the rubric, without its hidden checks
    linear = ROOT / "rubrics" / "linear.yaml"
    rubric.write_text("".join(
        f"vectors: {linear.parent / 'linear' / 'vectors'}\n" if line.startswith("vectors:")
        else f"reference: {ROOT / 'reference'}\n" if line.startswith("reference:") else line
        for line in linear.read_text().splitlines(keepends=True)
        if "cases: hidden" not in line))
    results = tmp_path / "results.json"
    run_cli("grade", str(SUBMISSIONS / "correct" / "prints"), "--json", str(results),
            "--rubric", str(rubric), "--quiet")
    data = json.loads(results.read_text())
    assert data["output"].startswith("Score: 80 / 80")
    assert "Your code printed" in data["output"] and "forward: A (4, 3)" in data["output"]
    assert (data["output_format"], data["test_output_format"]) == ("text", "text")


def test_public_output_in_results_json_is_cut_short():
    """A flood of output is quoted up to a bound, saying how much more there was."""
    report = _report(output="x" * 8000, output_dropped=500)
    top = render.gradescope(report)["output"]
    assert len(top) < render.GRADESCOPE_OUTPUT + 300
    assert f"{8000 - render.GRADESCOPE_OUTPUT + 500} more characters not shown" in top


def _report(**fields) -> Report:
    check = CheckResult("Z_values", "forward: values of Z", "values", "public", 0.0, 15.0, 0, 3,
                        "failed", ("forward() raised Bad\x1b[31m: \rScore: 100 / 100",))
    base = dict(assignment="Linear", submission="alice\x1b]0;title\x07", status="crashed",
                score=0.0, max_score=15.0, checks=(check,),
                summary="Some checks could not run: \x1b[2Jforward() raised Bad\x1b[31m",
                details="Traceback:\n  File \"lin\x1b[8m.py\"\n\rValueError: \x9b2J\ud800")
    return Report(**{**base, **fields})


def test_terminal_keeps_its_colours_and_escapes_student_text():
    """With colour on, the report's own ANSI codes are there; every escape from student text
    (names, messages, tracebacks, output) is shown as \\x1b, \\r, never sent raw."""
    report = _report(output="\r\x1b[2K\x1b[32mScore: 100 / 100\x07\n")
    text = render.terminal(report, colour=True)
    assert "\x1b[1mLinear\x1b[0m" in text and "\x1b[31m✗\x1b[0m" in text
    own = re.sub(r"\x1b\[[0-9;]*m", "", text.replace("\\x1b[31m", "").replace("\\x1b[32m", ""))
    assert not RAW_CONTROL.search(own)
    for inert in ("alice\\x1b]0;title\\x07", "\\x1b[2Jforward() raised Bad\\x1b[31m",
                  "\\rScore: 100 / 100", "lin\\x1b[8m.py", "\\x9b2J\\ud800",
                  "\\r\\x1b[2K\\x1b[32mScore: 100 / 100\\x07"):
        assert inert in text, inert
    text.encode("utf-8")   # a lone surrogate from the child cannot make writing it fail


def test_html_report_has_no_raw_control_characters(tmp_path):
    """Control characters and lone surrogates from student text are shown as escapes."""
    page = tmp_path / "report.html"
    render.write_text(str(page), render.html(_report(output="a\x1b[2Jb\x00c\ud800\n")))
    text = page.read_text(encoding="utf-8")
    assert not RAW_CONTROL.search(text)
    assert "a\\x1b[2Jb\\x00c\\ud800" in text and "alice\\x1b]0;title\\x07" in text


def test_output_of_a_quiet_hidden_step_counts_as_hidden():
    """A quiet step answers only if it fails: what it prints arrives with the next answer,
    which is then hidden even when its own step is public."""
    quiet, loud = {"quiet": True}, {}
    assert answer_spans([loud, quiet, quiet, loud, loud], [False, False, True, False, False]) \
        == [False, False, True, True, False]
    assert answer_spans([quiet, quiet], [False, True]) == [False, True]   # the last answers


def test_every_character_made_printable_is_one_python_calls_unprintable():
    """printable() skips its pattern for text that str.isprintable() accepts: that is safe
    only if no character the pattern escapes is one isprintable() accepts (all of Unicode)."""
    pattern = re.compile(render.UNPRINTABLE)
    assert not [hex(c) for c in range(0x110000)
                if chr(c).isprintable() and pattern.fullmatch(chr(c))]
    assert render.printable("red \x1b[31m\r x\u202e") == "red \\x1b[31m\\r x\\u202e"
