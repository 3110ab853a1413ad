"""The first script of a grading run is kept and sent to the child right behind the import on
the next run; the units' own script is compared with it, and a stale one costs only a child:
the grade is the same either way."""
from __future__ import annotations

import pytest

from conftest import ROOT
from grader import cache, grade as grade_mod, runner
from grader.vectors import VectorSet


@pytest.fixture
def counted(monkeypatch, tmp_path):
    """A private cache; how many children each run starts, and what it sent ahead."""
    monkeypatch.setenv("NN_GRADER_CACHE", str(tmp_path / "cache"))
    seen = {"starts": 0, "ahead": []}
    start, presend = runner.Submission.start, runner.Submission.presend

    def counting_start(self):
        seen["starts"] += 1
        return start(self)

    def recording_presend(self, script):
        seen["ahead"].append(script)
        return presend(self, script)

    monkeypatch.setattr(runner.Submission, "start", counting_start)
    monkeypatch.setattr(runner.Submission, "presend", recording_presend)
    return seen


def _grade(homework, zygote):
    rub = homework.only(["linear", "relu"])
    return grade_mod.grade_path(ROOT / "reference", rub, VectorSet(rub), zygote), rub


def test_second_run_sends_the_kept_script_ahead(homework, zygote, counted):
    first, rub = _grade(homework, zygote)
    assert counted["ahead"] == [] and counted["starts"] == 1
    key = grade_mod._script_key(rub, VectorSet(rub))
    assert cache.read_bytes(key)   # kept for the next run
    second, _ = _grade(homework, zygote)
    assert counted["ahead"] == [cache.read_bytes(key)] and counted["starts"] == 2  # no restart
    assert second.score == first.score == second.max_score
    assert [c.status for c in second.checks] == [c.status for c in first.checks]


def test_a_stale_kept_script_costs_a_child_not_the_grade(homework, zygote, counted):
    rub = homework.only(["linear", "relu"])
    key = grade_mod._script_key(rub, VectorSet(rub))
    cache.write_bytes(key, b"\x00\x00\x00\x02{}")   # not this run's script
    report, _ = _grade(homework, zygote)
    assert counted["starts"] == 2                    # the first child was given up
    assert report.score == report.max_score
    assert cache.read_bytes(key) != b"\x00\x00\x00\x02{}"   # the right one is kept now
