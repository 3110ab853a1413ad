"""The class summary page: statistics a TA reads at a glance, and a page that escapes students."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from conftest import SUBMISSIONS, make_report
from grader import summary


@pytest.fixture(scope="module")
def reports(rubric):
    """Five submissions: two perfect, one averaging dLdW (85), one without bias (80), one crash."""
    return [
        make_report(rubric, "alice"),
        make_report(rubric, "bob"),
        make_report(rubric, "carol", failed={"dLdW_values": ["batch_mean"],
                                             "hidden_dLdW": ["batch_mean"], "gradcheck": []}),
        make_report(rubric, "dave", failed={"Z_values": ["bias_missing"],
                                            "hidden_Z": ["bias_missing"]}),
        make_report(rubric, "erin", status="crashed", score=0.0,
                    summary_line="Your code crashed while importing."),
    ]


def test_counts_and_statistics(reports, rubric):
    """Submissions, graded, errored, mean, median, min and max come from the scores."""
    s = summary.summarize(reports, rubric)
    assert (s.submissions, s.graded, s.errored) == (5, 4, 1)
    assert s.statuses == (("graded", 4), ("crashed", 1))
    assert s.mean == pytest.approx((100 + 100 + 85 + 80 + 0) / 5)
    assert (s.median, s.minimum, s.maximum) == (85, 0, 100)
    assert summary.stat(s.mean) == "73" and summary.stat(None) == "—"


def test_histogram_has_ten_bins_over_the_max_score(reports, rubric):
    """10 bins of 10 points; 100 lands in the last bin, 80 and 85 share one."""
    bins = summary.summarize(reports, rubric).histogram
    assert [(b.lo, b.hi) for b in bins][:2] == [(0, 10), (10, 20)] and bins[-1].hi == 100
    assert [b.count for b in bins] == [1, 0, 0, 0, 0, 0, 0, 0, 2, 2]


def test_histogram_edges_and_clamping():
    """A score on a bin edge goes up; out-of-range scores are clamped; no max is no crash."""
    assert [b.count for b in summary.histogram([0.3, 1.0, -1, 7], 1.0)] == \
        [1, 0, 0, 1, 0, 0, 0, 0, 0, 2]
    assert summary.histogram([0.0], 0.0)[0].count == 1


def test_pass_rates_in_rubric_order(reports, rubric):
    """One row per rubric check, in rubric order, with passed / total submissions."""
    rates = summary.summarize(reports, rubric).checks
    assert [r.id for r in rates] == [c.id for c in rubric.checks]
    by_id = {r.id: r for r in rates}
    assert (by_id["init_W"].passed, by_id["init_W"].total) == (4, 5)
    assert (by_id["dLdW_values"].passed, by_id["Z_values"].passed) == (3, 3)
    assert by_id["gradcheck"].passed == 3 and by_id["hidden_Z"].visibility == "hidden"
    assert by_id["init_W"].percent == pytest.approx(80)


def test_mistakes_counted_per_submission_with_their_checks(rubric):
    """A mistake named by two checks of one submission counts once; top 10, most frequent first."""
    reports = [make_report(rubric, f"s{i}", failed={"dLdW_values": ["batch_mean"],
                                                    "hidden_dLdW": ["batch_mean"]})
               for i in range(3)]
    reports.append(make_report(rubric, "t", failed={"Z_values": ["bias_missing", "transposed"]}))
    reports += [make_report(rubric, f"u{i}", failed={"Z_values": [f"m{i:02d}"]}) for i in range(12)]
    mistakes = summary.summarize(reports, rubric).mistakes
    assert len(mistakes) == 10
    first = mistakes[0]
    assert (first.id, first.count) == ("batch_mean", 3)
    assert first.checks == (("backward: values of dLdW", 3), ("hidden: dLdW", 3))
    assert [m.id for m in mistakes[1:3]] == ["bias_missing", "m00"]  # ties: by name
    assert mistakes[1].hint == rubric.hints["bias_missing"]


def test_tables_sorted_by_id_with_links(reports, rubric):
    """All submissions sorted by id; the problem table holds only what did not grade."""
    s = summary.summarize(list(reversed(reports)), rubric)
    assert [r.id for r in s.rows] == ["alice", "bob", "carol", "dave", "erin"]
    assert [(r.id, r.status, r.summary) for r in s.problems] == \
        [("erin", "crashed", "Your code crashed while importing.")]
    assert s.rows[0].link == "alice/report.html"


def test_html_shows_the_class(reports, rubric):
    """The page has an SVG histogram, every check title, the mistakes, and no JavaScript."""
    html = summary.summary_html(reports, rubric, title="Linear — week 3")
    svg = re.search(r"<svg.*?</svg>", html, re.S)
    assert svg is not None
    ET.fromstring(svg.group(0))  # well-formed
    assert html.count("<rect") == 10
    for c in rubric.checks:
        assert c.title in html
    assert "batch_mean" in html and "bias_missing" in html
    assert "Linear — week 3" in html
    outside = html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in html and "http" not in outside and "src=" not in html
    assert '<a href="erin/report.html">erin</a>' in html
    assert "4 / 5" in html


def test_student_text_is_escaped(reports, rubric):
    """An id or summary with markup is shown as text, and its link stays a relative path."""
    evil = make_report(rubric, "<script>alert(1)</script>", status="crashed", score=0.0,
                       summary_line="<img src=x onerror=alert(2)>")
    html = summary.summary_html([*reports, evil], rubric)
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    assert 'href="%3Cscript%3Ealert%281%29%3C%2Fscript%3E/report.html"' in html


def test_empty_class(rubric):
    """No reports: a page with dashes, not an exception."""
    s = summary.summarize([], rubric)
    assert (s.submissions, s.mean, s.median) == (0, None, None)
    assert "<svg" in summary.summary_html([], rubric)


def test_real_reports(grade, rubric):
    """Reports from the grader itself summarise as expected (one right, one wrong, one broken)."""
    reports = [grade(SUBMISSIONS / kind).to_dict()
               for kind in ("correct/matmul", "wrong/dLdW_mean", "broken/syntax_error")]
    s = summary.summarize(reports, rubric)
    assert (s.submissions, s.graded, s.errored) == (3, 2, 1)
    assert (s.minimum, s.median, s.maximum) == (0, 85, 100)
    assert [b.count for b in s.histogram] == [1, 0, 0, 0, 0, 0, 0, 0, 1, 1]
    assert [m.id for m in s.mistakes] == ["batch_mean"]
    assert dict(s.mistakes[0].checks)["backward: values of dLdW"] == 1
    assert s.problems[0].status == "not_importable"
    assert "SyntaxError" in s.problems[0].summary
    assert "<svg" in summary.summary_html(reports, rubric)
