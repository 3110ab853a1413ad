"""A component is data: a class nobody wrote grader code for is graded from a rubric entry and a
reference alone, with keyword arguments in its calls and a scalar it stores."""
from __future__ import annotations

from pathlib import Path

import pytest

from grader import rubric as rubric_mod
from grader import vectors as vectors_mod

REFERENCE = '''import numpy as np


class Scale:
    """A = factor * Z; backward returns factor * dLdA and stores the scalar sum(dLdA * Z)."""

    def forward(self, Z, factor=1.0):
        self.Z, self.factor = Z, factor
        return factor * Z

    def backward(self, dLdA):
        self.dLdfactor = float(np.sum(dLdA * self.Z))
        return self.factor * dLdA
'''

WRONG = REFERENCE.replace("return factor * Z", "return Z")   # ignores the keyword argument

RUBRIC = '''assignment: "one new component"
vectors: vectors
reference: reference
components:
  - id: scale
    file: mytorch/scale.py
    module: mytorch.scale
    class: Scale
    calls:
      - {method: forward, inputs: [Z], kwargs: {factor: 2.5}, output: A}
      - {method: backward, inputs: [dLdA], output: dLdZ, stores: [dLdfactor]}
    gradients: {Z: dLdZ}
    table: {Z: [N, C], A: [N, C], dLdA: [N, C], dLdZ: [N, C], dLdfactor: scalar}
    points: 10
    cases:
      - {name: small, dims: {N: 4, C: 3}, seed: 1}
      - {name: hidden, dims: {N: 6, C: 5}, seed: 2, visibility: hidden}
    checks:
      - {id: A_values, kind: values, target: A, points: 2}
      - {id: dLdZ_values, kind: values, target: dLdZ, points: 2}
      - {id: dLdfactor, kind: values, target: dLdfactor, points: 1}
      - {id: hidden_A, kind: values, target: A, cases: hidden, points: 1}
      - {id: gradcheck, kind: gradcheck, points: 0}
'''


def _submission(root: Path, text: str) -> Path:
    (root / "mytorch").mkdir(parents=True)
    (root / "mytorch" / "__init__.py").write_text("")
    (root / "mytorch" / "scale.py").write_text(text)
    return root


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course folder with the rubric, the reference and its vectors (`make vectors`)."""
    root = tmp_path_factory.mktemp("course")
    _submission(root / "reference", REFERENCE)
    (root / "rubric.yaml").write_text(RUBRIC)
    rub = rubric_mod.load(root / "rubric.yaml")
    vectors_mod.generate(rub)
    return rub


def test_a_new_component_is_graded_from_data_alone(course, grade, tmp_path):
    """The reference earns every point (keyword argument passed, stored scalar compared); a
    submission that ignores the keyword argument fails A and is told by how much."""
    vecs = vectors_mod.load(course)
    right = grade(_submission(tmp_path / "right", REFERENCE), course, vecs)
    assert right.score == right.max_score == 10, [c.messages for c in right.checks]
    wrong = grade(_submission(tmp_path / "wrong", WRONG), course, vecs)
    checks = {c.id: c for c in wrong.checks}
    assert checks["A_values"].score == 0 and checks["hidden_A"].score == 0
    assert "scaled" in checks["A_values"].mistakes          # off by a constant factor (0.4x)
    assert checks["dLdZ_values"].status == "passed" and checks["dLdfactor"].status == "passed"
    assert "0.4x" in " ".join(checks["A_values"].hints)
