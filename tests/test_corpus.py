"""Every fixture submission gets the result its expect.yaml says: points, failures, named mistakes."""
from __future__ import annotations

import os
import re

import pytest

from conftest import SUBMISSIONS, assert_expected, expectation

SLOW = {"infinite_loop_import", "infinite_loop_forward", "sleep_backward", "memory_bomb",
        "print_flood", "sleeps_under_limits"}
# Run only where student code gets a sandbox user of its own (as root): otherwise these
# really write files all over the machine or signal the grader's processes.
NEEDS_ROOT = {"writes_files"}


def _fixtures():
    for category in ("correct", "wrong", "broken", "hostile"):
        for folder in sorted((SUBMISSIONS / category).iterdir()):
            marks = [pytest.mark.slow] if folder.name in SLOW else []
            yield pytest.param(folder, id=f"{category}/{folder.name}", marks=marks)


@pytest.mark.parametrize("folder", list(_fixtures()))
def test_fixture_gets_expected_result(folder, grade):
    if folder.name in NEEDS_ROOT and os.geteuid() != 0:
        pytest.skip("needs root, so that student code runs as a sandbox user")
    report = grade(folder)
    assert_expected(report, expectation(folder), correct=folder.parent.name == "correct")


def test_every_wrong_fixture_names_its_mistake():
    """The corpus itself: every planted mistake comes with the mistake it must be named as."""
    for folder in (SUBMISSIONS / "wrong").iterdir():
        want = expectation(folder)
        if folder.name not in ("no_store_A", "no_store_N", "sigmoid_no_store_A"):  # said plainly
            assert want.get("mistakes"), f"{folder.name} has no mistake to name"


def test_gradient_check_is_listed_under_the_cause_that_explains_it(grade):
    """A finite-difference check that fails only on gradients whose own values check names a
    mistake is listed under that cause (said once over both rows); one that could not compare
    the gradients at all (a wrong shape) names nothing."""
    from grader import render

    from conftest import by_id

    wrong = SUBMISSIONS / "wrong"
    report = grade(wrong / "dLdW_mean")
    checks = by_id(report)
    assert checks["gradcheck"].mistakes == checks["dLdW_values"].mistakes == ("batch_mean",)
    text = " ".join(render.terminal(report).split())
    assert text.count("is divided by the batch size N") == 1   # one cause, its rows under it
    explains = re.search(r"\(explains: (.*?)\) [✓✗!] ", text).group(1)
    assert checks["dLdW_values"].title in explains and checks["gradcheck"].title in explains
    report = grade(wrong / "mlp4_debug_lists_reversed")
    assert by_id(report)["mlp4.gradcheck"].mistakes == ("mlp4_debug_lists_reversed",)
    unexplained = by_id(grade(wrong / "W_not_transposed_backward"))["gradcheck"]
    assert unexplained.status != "passed" and unexplained.mistakes == ()
