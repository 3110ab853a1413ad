"""A submission's total wall time is bounded, whatever each call does under its own limit."""
from __future__ import annotations

import time

import yaml

from conftest import ROOT, SUBMISSIONS, by_id


def test_code_sleeping_under_every_call_limit_is_stopped_by_the_budget(tmp_path, vectors,
                                                                        zygote):
    """With a 5 s budget, a layer whose calls each sleep 2.9 s (under the 3 s call limit) is
    stopped after about 5 s, keeps what it had earned and is told why."""
    from grader import rubric as rubric_mod
    from grader.grade import grade_path

    raw = yaml.safe_load((ROOT / "rubrics" / "linear.yaml").read_text())
    raw["limits"]["total_seconds"] = 5
    raw["vectors"] = str(ROOT / "rubrics" / "linear" / "vectors")
    raw["reference"] = str(ROOT / "reference")
    path = tmp_path / "rubric.yaml"
    path.write_text(yaml.safe_dump(raw))
    rub = rubric_mod.load(path)
    start = time.monotonic()
    report = grade_path(SUBMISSIONS / "hostile" / "sleeps_under_limits", rub, vectors, zygote)
    took = time.monotonic() - start
    assert took < 5 + 3, took          # the budget, plus at most the kill and the judging
    checks = by_id(report)
    assert checks["init_W"].score > 0   # earned before the end
    assert report.score < report.max_score
    said = " ".join(m for c in report.checks for m in c.messages) + report.summary
    assert "the submission's total time ran out" in said
