"""The grader keeps to the oldest Python it promises (3.10), which this machine cannot run:
every module must parse as 3.10 and use no library name that 3.10 lacks."""
from __future__ import annotations

import ast
import sys

import pytest

from conftest import ROOT

OLDEST = (3, 10)
# Names added after 3.10 that an innocent edit could use.
NEWER = {"tomllib", "ExceptionGroup", "BaseExceptionGroup", "TaskGroup", "StrEnum",
         "Self", "LiteralString", "Never", "assert_never", "reveal_type", "override",
         "UTC", "batched", "add_note"}
SOURCES = sorted([*(ROOT / "grader").rglob("*.py"), ROOT / "grader" / "assets" /
                  "student-grade.py"])


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_parses_as_the_oldest_supported_python(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path), feature_version=OLDEST)
    used = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    used |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    used |= {a.name.split(".")[0] for n in ast.walk(tree)
             if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    assert not used & NEWER, f"{path.name} uses {sorted(used & NEWER)}, newer than 3.10"


def test_student_entry_point_parses_on_any_python():
    """grade.py must reach its version check on old Pythons: no syntax newer than 3.6 (we
    cannot parse as 2.7 with this ast, but f-strings and walrus are what would break)."""
    text = (ROOT / "grader" / "assets" / "student-grade.py").read_text()
    tree = ast.parse(text, feature_version=(3, 6))
    assert not any(isinstance(n, ast.JoinedStr) for n in ast.walk(tree))
    assert sys.version_info >= OLDEST
