"""Every fixture submission gets the result its expect.yaml says: points, failures, named mistakes."""
from __future__ import annotations

import os

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
