"""The pages a TA and a student open, opened in a real browser (headless Chromium): each loads
without a console error and shows every section it promises.

Skipped only when no Chromium is installed; with NN_GRADER_REQUIRE_BROWSER=1 (as in .ci/run)
a missing browser is a failure instead."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import ROOT, SUBMISSIONS, run_cli

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
# How Chromium logs what a page sent to its console (`CONSOLE(12)` in older versions,
# `INFO:CONSOLE:12` in newer ones), and an uncaught exception.
CONSOLE = re.compile(r"CONSOLE[(:]|Uncaught")
# A small class: full marks (the reference), one correct file of three, one wrong softmax,
# one syntax error: graded with the default assignment.
CLASS = {"reference": ROOT / "reference",
         "vectorised": SUBMISSIONS / "correct" / "activation_vectorised",
         "no_shift": SUBMISSIONS / "wrong" / "softmax_no_shift",
         "syntax": SUBMISSIONS / "broken" / "activation_syntax_error"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


def _browser() -> str | None:
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


@pytest.fixture(scope="module")
def browser() -> str:
    path = _browser()
    if path is None:
        reason = f"no headless browser found (looked for {', '.join(BROWSERS)} on PATH)"
        if os.environ.get("NN_GRADER_REQUIRE_BROWSER"):
            pytest.fail(reason + ", and NN_GRADER_REQUIRE_BROWSER is set")
        pytest.skip(reason)
    return path


class Page:
    """A page as Chromium left it: the DOM it dumped, parsed just enough to find sections by
    id with their text and links, and what the page wrote to the console."""

    def __init__(self, dom: str, console: list[str]) -> None:
        self.dom, self.console = dom, console
        self.text: dict[str, str] = {}
        self.links: dict[str, list[tuple[str, str]]] = {}
        _Sections(self).feed(dom)

    def section(self, sid: str) -> str:
        assert sid in self.text, f"no element with id {sid!r} in the page"
        return " ".join(self.text[sid].split())


class _Sections(HTMLParser):
    def __init__(self, page: Page) -> None:
        super().__init__()
        self.page = page
        self.open: list[str | None] = []       # the id of each open element (None: none)
        self.href: str | None = None
        self.anchor = ""

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if tag == "a":
            self.href, self.anchor = attrs.get("href"), ""
        if tag in VOID:
            return
        sid = attrs.get("id")
        if sid:
            self.page.text.setdefault(sid, "")
            self.page.links.setdefault(sid, [])
        self.open.append(sid)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.href is not None:
            for sid in filter(None, self.open):
                self.page.links[sid].append((self.anchor, self.href))
            self.href = None
        if tag not in VOID and self.open:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        if self.href is not None:
            self.anchor += data
        for sid in filter(None, self.open):
            self.page.text[sid] += data


def load(browser: str, path: Path, profile: Path) -> Page:
    """Open ``path`` in headless Chromium, let it run, and return the DOM and the console."""
    result = subprocess.run(
        [browser, "--headless", "--disable-gpu", "--no-sandbox", "--disable-dev-shm-usage",
         "--enable-logging=stderr", "--v=0", f"--user-data-dir={profile}",
         "--virtual-time-budget=3000", "--dump-dom", path.resolve().as_uri()],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "<body" in result.stdout, f"{path}: nothing loaded\n{result.stderr[-2000:]}"
    console = [line for line in result.stderr.splitlines() if CONSOLE.search(line)]
    return Page(result.stdout, console)


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    """The small class graded by `python -m grader batch`: its OUT folder."""
    subs = tmp_path_factory.mktemp("browser-class")
    out = tmp_path_factory.mktemp("browser-out")
    for name, src in CLASS.items():
        for package in ("mytorch", "models"):
            if (src / package).is_dir():
                shutil.copytree(src / package, subs / name / package)
    result = run_cli("batch", str(subs), "--out", str(out), "--rubric", str(ROOT / "rubric.yaml"),
                     "--jobs", "2", "--no-progress",
                     timeout=600)
    assert result.returncode == 0, result.stderr
    return out


def test_console_errors_are_caught(browser, tmp_path):
    """The check itself: a page whose script throws is seen as one with a console error."""
    page = tmp_path / "broken.html"
    page.write_text('<!doctype html><html><body><section id="s">x</section>'
                    "<script>notDefined();</script></body></html>")
    loaded = load(browser, page, tmp_path / "profile")
    assert loaded.section("s") == "x"
    assert any("notDefined" in line for line in loaded.console), loaded.console


def test_student_report_has_a_section_per_component(browser, graded, homework, tmp_path):
    """A report with failures in one component and code missing for others: loads cleanly,
    one section per component with its title and subtotal, the likely cause said in the
    softmax section, and what went wrong at the top."""
    page = load(browser, graded / "no_shift" / "report.html", tmp_path / "profile")
    assert page.console == []
    for comp in homework.components:
        text = page.section(f"component-{comp.id}")
        assert text.startswith(comp.title), (comp.id, text[:80])
        assert f"/ {comp.max_score:g}" in text
    softmax = page.section("component-softmax")
    assert "Likely cause:" in softmax and "subtract each row's maximum" in softmax
    assert "Likely cause" not in page.section("component-linear")
    assert "linear.py was not found" in page.dom


def test_class_summary_shows_every_section(browser, graded, homework, tmp_path):
    """The class summary loads cleanly and shows the histogram with its full-marks bar, the
    per-component rates, the mistakes explained, and the submissions that did not grade
    cleanly grouped by cause with links to their reports."""
    page = load(browser, graded / "summary.html", tmp_path / "profile")
    assert page.console == []
    scores = page.section("scores")
    assert "full marks" in scores and "score (out of 100)" in scores
    assert page.dom.count('class="bar full"') == 1 and page.dom.count('class="bar"') == 10
    rates = page.section("components")
    for comp in homework.components:
        row = page.section(f"rate-{comp.id}")
        assert row.startswith(comp.title) and row in rates
    assert page.section("rate-linear").startswith("Linear 1 / 4 (25%)")     # the reference
    assert page.section("rate-sigmoid").startswith("Sigmoid 2 / 4 (50%)")   # + vectorised
    mistakes = page.section("mistakes")
    assert "subtract each row's maximum from Z before np.exp" in mistakes
    assert "softmax_no_shift" in mistakes
    unclean = page.section("unclean")
    links = {text: href for text, href in page.links["unclean"]}
    assert set(links) == {"vectorised", "no_shift", "syntax"}, links
    assert links["syntax"] == "syntax/report.html" and "SyntaxError" in unclean
    assert "line …" in unclean   # numbers elided, so that the same cause groups
    assert "mytorch/nn/loss.py was not found" in unclean
    for name in CLASS:
        assert (name, f"{name}/report.html") in page.links["submissions"]
