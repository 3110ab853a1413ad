"""A model built from the student's own layers (an MLP) is checked against those very layers
applied in order: a model right in composition but built on a wrong layer is told so; one in
the wrong order is told that; a rubric that describes a composition wrongly is refused."""
from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import HOMEWORK, ROOT, SUBMISSIONS
from grader import rubric as rubric_mod
from grader.errors import GraderError

MODELS = ["linear", "relu", "mlp0"]


def _checks(report) -> dict:
    return {c.id: c for c in report.checks}


def test_model_on_a_wrong_layer_is_told_its_composition_is_right(grade):
    """The Linear divides dLdW by N: MLP0's gradient checks fail, and their cause says both
    that the Linear fails its own checks and that MLP0 itself is composed right."""
    report = grade(SUBMISSIONS / "wrong" / "mlp_on_wrong_linear", only=MODELS)
    checks = _checks(report)
    assert checks["mlp0.composition"].status == "passed"
    cause = checks["mlp0.layer_gradients"].hints[0]
    assert checks["mlp0.layer_gradients"].mistakes[0] == "built_on_failing"
    assert "your Linear fails its own checks" in cause
    assert "MLP0 itself is composed right" in cause


def test_model_in_the_wrong_order_fails_composition_under_its_named_mistake(grade):
    """The composition check fails, and is explained by the same named cause as the values
    (one cause, said once), not by a second, generic one."""
    report = grade(SUBMISSIONS / "wrong" / "mlp0_layers_wrong_order", only=MODELS)
    checks = _checks(report)
    comp = checks["mlp0.composition"]
    assert comp.status == "failed" and comp.mistakes == ("mlp0_layers_wrong_order",)
    assert "A1 is not what your own layers give applied in order (Linear(2, 3), ReLU())" \
        in comp.messages[0]
    assert comp.hints == checks["mlp0.output_values"].hints


def test_layers_that_raise_in_the_chain_are_reported_not_crashed(grade, tmp_path):
    """A model that does not use the student's Linear (its own copy) passes its values, while
    the student's Linear raises: the composition check says it could not check, and why."""
    sub = tmp_path / "own_copy"
    shutil.copytree(ROOT / "reference", sub, ignore=shutil.ignore_patterns("mistakes.py"))
    linear = (ROOT / "reference" / "mytorch" / "nn" / "linear.py").read_text()
    mlp = (sub / "models" / "mlp.py").read_text()
    (sub / "models" / "mlp.py").write_text(
        linear + "\n\n" + mlp.replace("from mytorch.nn.linear import Linear\n", ""))
    (sub / "mytorch" / "nn" / "linear.py").write_text(linear.replace(
        "    def forward(self, A):", "    def forward(self, A):\n        raise NotImplementedError('todo')"))
    checks = _checks(grade(sub, only=MODELS))
    assert checks["mlp0.output_values"].status == "passed"
    comp = checks["mlp0.composition"]
    assert comp.status == "error" and comp.score == comp.max_score == 0
    assert comp.messages[0].startswith("could not check: your own layers applied in order "
                                       "(Linear(2, 3), ReLU()) raised NotImplementedError")


def _homework_with(change) -> dict:
    data = yaml.safe_load(HOMEWORK.read_text())
    data = copy.deepcopy(data)
    change({c["id"]: c for c in data["components"]})
    return data


@pytest.mark.parametrize("change, words", [
    (lambda c: c["mlp0"]["composition"]["layers"][0].update(component="lineer"),
     "components[13].composition.layers[0].component: layer 'lineer' is not a component"),
    (lambda c: c["mlp0"].update(uses=["linear", "relu6"]),
     "components[13].uses: 'relu6' is not a component of this assignment"),
    (lambda c: c["mlp0"].pop("composition"),
     "a composition check needs the component's composition"),
    (lambda c: c["mlp0"]["composition"]["layers"][0]["set"].update(W="layers.9.W"),
     "'layers.9.W' is not one of the component's params or inputs"),
    (lambda c: c["mlp0"]["composition"].update(gradient="dLdA9"),
     "'dLdA9' is neither returned nor stored by a call"),
])
def test_a_wrong_composition_is_refused_with_its_key(change, words):
    with pytest.raises(GraderError) as err:
        rubric_mod.parse(_homework_with(change), HOMEWORK)
    assert words in str(err.value)


def test_a_model_graded_alone_still_imports_its_layers(grade):
    """`--only mlp0`: the model's file imports mytorch's Linear and ReLU, which are staged
    with it (every package of the assignment), so the reference earns full marks."""
    report = grade(ROOT / "reference", only=["mlp0"])
    assert report.score == report.max_score == 10, [c.messages for c in report.checks]
