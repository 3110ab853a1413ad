"""The class summary page: statistics a TA reads at a glance, and a page that escapes students."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from conftest import SUBMISSIONS, make_report
from grader import summary

CRASH = ("Some checks could not run: Linear: forward() raised ZeroDivisionError: division by "
         "zero (mytorch/nn/linear.py, line {line}, in _scale). ({cases}) Your code also failed "
         "to run on {hidden} hidden case(s).")


@pytest.fixture(scope="module")
def reports(homework):
    """Five submissions of the 35-point assignment: two perfect, one averaging dLdW (-2.25),
    one without bias (-3), one crash."""
    return [
        make_report(homework, "alice"),
        make_report(homework, "bob"),
        make_report(homework, "carol", failed={"linear.dLdW_values": ["batch_mean"],
                                             "linear.hidden_dLdW": ["batch_mean"],
                                             "linear.gradcheck": []}),
        make_report(homework, "dave", failed={"linear.Z_values": ["bias_missing"],
                                            "linear.hidden_Z": ["bias_missing"]}),
        make_report(homework, "erin", status="crashed", score=0.0,
                    summary_line="Your code crashed while importing."),
    ]


def test_counts_and_statistics(reports, homework):
    """Submissions, graded, errored, mean, median, min and max come from the scores."""
    s = summary.summarize(reports, homework)
    assert (s.submissions, s.graded, s.errored) == (5, 4, 1)
    assert s.statuses == (("graded", 4), ("crashed", 1))
    assert s.mean == pytest.approx((100 + 100 + 97.75 + 97 + 0) / 5)
    assert (s.median, s.minimum, s.maximum) == (97.75, 0, 100)
    assert summary.stat(s.median) == "97.8" and summary.stat(None) == "—"


def test_histogram_bins_then_full_marks_alone(reports, homework):
    """Ten bins of 10 points below the max score, then full marks in a bin of their own:
    100 is there, 97 and 97.75 share the last range bin."""
    bins = summary.summarize(reports, homework).histogram
    assert len(bins) == 11
    assert [(b.lo, b.hi) for b in bins][:2] == [(0, 10), (10, 20)] and bins[-2].hi == 100
    assert [b.count for b in bins] == [1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2]
    assert bins[-1].full and not any(b.full for b in bins[:-1])
    assert bins[-1].label == "full marks (100)" and bins[0].label == "0–10"


def test_histogram_edges_and_clamping():
    """A score on a bin edge goes up; only the max score is full marks (above it is clamped
    there); no max is no crash."""
    assert [b.count for b in summary.histogram([0.3, 1.0, -1, 7, 0.99], 1.0)] == \
        [1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2]
    assert summary.histogram([0.0], 0.0)[-1].count == 1


def test_pass_rates_in_rubric_order(reports, homework):
    """One row per homework check, in homework order, with passed / total submissions."""
    rates = summary.summarize(reports, homework).checks
    assert [r.id for r in rates] == [c.id for c in homework.checks]
    by_id = {r.id: r for r in rates}
    assert (by_id["linear.init_W"].passed, by_id["linear.init_W"].total) == (4, 5)
    assert (by_id["linear.dLdW_values"].passed, by_id["linear.Z_values"].passed) == (3, 3)
    assert by_id["linear.gradcheck"].passed == 3
    assert by_id["linear.hidden_Z"].visibility == "hidden"
    assert by_id["linear.init_W"].percent == pytest.approx(80)


def test_per_component_full_marks_and_mean_subtotal(reports, homework):
    """Per component, in assignment order: how many submissions have all its points, the mean
    subtotal, and its own checks' pass rates."""
    comps = summary.summarize(reports, homework).components
    assert [c.id for c in comps] == [c.id for c in homework.components]
    linear, identity = comps[0], comps[1]
    assert (linear.full, linear.total, linear.max_score) == (2, 5, 15)
    assert linear.mean == pytest.approx((15 + 15 + 12.75 + 12 + 0) / 5)
    assert (identity.full, identity.mean, identity.percent) == (4, pytest.approx(0.8), 80)
    assert [c.id for c in linear.checks] == [c.id for c in homework.component("linear").checks]


def test_mistakes_counted_per_submission_with_their_checks(homework):
    """A mistake named by two checks of one submission counts once; top 10, most frequent first;
    each with its explanation, never a bare id."""
    reports = [make_report(homework, f"s{i}", failed={"linear.dLdW_values": ["batch_mean"],
                                                    "linear.hidden_dLdW": ["batch_mean"]})
               for i in range(3)]
    reports.append(make_report(homework, "t", failed={"linear.Z_values": ["bias_missing",
                                                                        "transposed"]}))
    reports += [make_report(homework, f"u{i}", failed={"linear.Z_values": [f"m{i:02d}"]})
                for i in range(12)]
    mistakes = summary.summarize(reports, homework).mistakes
    assert len(mistakes) == 10
    first = mistakes[0]
    assert (first.id, first.count) == ("batch_mean", 3)
    assert first.checks == (("Linear: backward: values of dLdW", 3), ("Linear: hidden: dLdW", 3))
    assert first.hint.startswith("dLdW is divided by the batch size N: this layer sums")
    assert [m.id for m in mistakes[1:3]] == ["bias_missing", "m00"]  # ties: by name
    assert mistakes[1].hint == homework.hints["bias_missing"]
    assert "hints:" in mistakes[2].hint   # no text anywhere: says where to write one


def test_built_in_explanations_are_filled_from_the_check(homework):
    """A built-in text says what the check knows (quantity, shape, equation) and elides what
    differs between submissions; a homework text with fields is filled the same way."""
    checks = {c.id: c for c in homework.checks}

    def text(mistake, cid):
        check = checks[cid]
        return summary.explain(mistake, homework, homework.component(check.component), check)

    assert text("transposed", "linear.Z_values") == \
        "Z is transposed: Table 1 says Z is N x C_out. Check the order of the operands " \
        "(Z = A W^T + 1_N b^T)."
    assert text("keepdims", "linear.dLdb_values").startswith(
        "dLdb lost an axis: it must be C_out x 1 = …, not ….")
    tanh = text("forbidden_call", "tanh.no_np_tanh")
    assert "{" not in tanh and tanh.startswith("the handout asks for tanh written with np.exp")


def test_unclean_submissions_grouped_by_cause(homework):
    """Crashes that differ only in line numbers, counts and cases group together, with their
    links; another status or another error is a group of its own; the largest first."""
    crash = [make_report(homework, sid, status="crashed", score=3.0, summary_line=CRASH.format(
        line=line, cases=cases, hidden=hidden)) for sid, line, cases, hidden in
        [("zed", 6, "cases large, small, wide", 4), ("amy", 12, "case small", 20),
         ("kim", 7, "cases wide, large", 1)]]
    other = make_report(homework, "lou", status="crashed", score=0.0,
                        summary_line=CRASH.format(line=6, cases="case small", hidden=4)
                        .replace("ZeroDivisionError", "KeyError"))
    rejected = make_report(homework, "max", status="rejected", score=0.0,
                           summary_line="Not graded: the grader failed on this submission: "
                                        "boom")
    s = summary.summarize([*crash, other, rejected, make_report(homework, "ok")], homework)
    groups = s.unclean
    assert [(g.status, g.count) for g in groups] == [("crashed", 3), ("crashed", 1),
                                                     ("rejected", 1)]
    assert [r.id for r in groups[0].rows] == ["amy", "kim", "zed"]
    assert groups[0].cause == CRASH.format(line="…", cases="cases …", hidden="…")
    assert "KeyError" in groups[1].cause and groups[1].rows[0].link == "lou/report.html"
    html = summary.summary_html([*crash, other, rejected], homework)
    table = html[html.index('id="unclean"'):html.index('id="submissions"')]
    assert table.count('<tr class="cause">') == 3
    assert '<a href="amy/report.html">amy</a> <a href="kim/report.html">kim</a>' in table
    assert "line …, in _scale" in table and "line 12" not in table


def test_tables_sorted_by_id_with_links(reports, homework):
    """All submissions sorted by id; the problem table holds only what did not grade."""
    s = summary.summarize(list(reversed(reports)), homework)
    assert [r.id for r in s.rows] == ["alice", "bob", "carol", "dave", "erin"]
    assert [(r.id, r.status, r.summary) for r in s.problems] == \
        [("erin", "crashed", "Your code crashed while importing.")]
    assert s.rows[0].link == "alice/report.html"


def test_html_shows_the_class(reports, homework):
    """The page has an SVG histogram with a full-marks bar, every component's rates, every
    check title, the mistakes explained, and no JavaScript."""
    html = summary.summary_html(reports, homework, title="Linear — week 3")
    svg = re.search(r"<svg.*?</svg>", html, re.S)
    assert svg is not None
    ET.fromstring(svg.group(0))  # well-formed
    assert html.count("<rect") == 11 and html.count('class="bar full"') == 1
    assert ">full marks</text>" in svg.group(0)
    for c in homework.checks:
        assert c.title in html
    rates = html[html.index('id="components"'):html.index('id="checks"')]
    for comp in homework.components:
        assert f'<tr id="rate-{comp.id}">' in rates and comp.title in rates
    linear_mean = summary.stat((15 + 15 + 12.75 + 12 + 0) / 5)
    assert "2 / 5 (40%)" in rates and f"{linear_mean} / 15" in rates   # Linear
    assert "batch_mean" in html and "bias_missing" in html
    assert homework.hints["bias_missing"] in html
    assert "dLdW is divided by the batch size N" in html
    assert "Linear — week 3" in html
    outside = html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in html and "http" not in outside and "src=" not in html
    assert '<a href="erin/report.html">erin</a>' in html
    assert "4 / 5" in html


def test_student_text_is_escaped(reports, homework):
    """An id or summary with markup is shown as text, and its link stays a relative path."""
    evil = make_report(homework, "<script>alert(1)</script>", status="crashed", score=0.0,
                       summary_line="<img src=x onerror=alert(2)>")
    html = summary.summary_html([*reports, evil], homework)
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(…)&gt;" in html   # the cause, numbers elided
    assert 'href="%3Cscript%3Ealert%281%29%3C%2Fscript%3E/report.html"' in html


def test_empty_class(homework):
    """No reports: a page with dashes, not an exception."""
    s = summary.summarize([], homework)
    assert (s.submissions, s.mean, s.median) == (0, None, None)
    assert s.components[0].mean is None and s.unclean == ()
    assert "<svg" in summary.summary_html([], homework)


def test_real_reports(grade, homework):
    """Reports from the grader itself summarise as expected (one right, one wrong, one broken),
    graded with Linear alone (15 points)."""
    linear = homework.only(["linear"])
    reports = [grade(SUBMISSIONS / kind, linear).to_dict()
               for kind in ("correct/matmul", "wrong/dLdW_mean", "broken/syntax_error")]
    s = summary.summarize(reports, linear)
    assert (s.submissions, s.graded, s.errored) == (3, 2, 1)
    assert (s.minimum, s.median, s.maximum) == (0, 12.75, 15)
    assert [b.count for b in s.histogram] == [1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1]
    assert [m.id for m in s.mistakes] == ["batch_mean"]
    assert dict(s.mistakes[0].checks)["backward: values of dLdW"] == 1
    assert s.problems[0].status == "not_importable"
    assert "SyntaxError" in s.problems[0].summary
    (group,) = s.unclean
    assert "SyntaxError" in group.cause and "line …" in group.cause
    assert [c.full for c in s.components] == [1]
    assert "<svg" in summary.summary_html(reports, linear)
