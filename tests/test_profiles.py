"""The other conventions of the source documents, served by rubric files alone."""
from __future__ import annotations

import shutil
import tarfile

import pytest

from conftest import FIXTURES, ROOT, assert_expected, by_id, expectation, run_cli
from grader import handout
from grader import rubric as rubric_mod
from grader import vectors as vectors_mod

PROFILES = ["prebias", "mean-reduction", "previous-handout"]


@pytest.fixture(scope="module", params=PROFILES)
def profile(request):
    rub = rubric_mod.load(ROOT / "rubrics" / f"{request.param}.yaml")
    return request.param, rub, vectors_mod.load(rub)


def _fixtures():
    for name in PROFILES:
        for folder in sorted((FIXTURES / "profiles" / name).iterdir()):
            yield pytest.param(name, folder, id=f"{name}/{folder.name}")


@pytest.mark.parametrize("name, folder", list(_fixtures()))
def test_profile_fixture_gets_expected_result(name, folder, grade):
    """Each profile's fixture submissions get what their expect.yaml says."""
    rub = rubric_mod.load(ROOT / "rubrics" / f"{name}.yaml")
    report = grade(folder, rub, vectors_mod.load(rub))
    assert_expected(report, expectation(folder), correct=folder.name == "seed_code")


def test_reference_full_marks_and_skeleton_zero(profile, grade):
    """The profile's reference earns every point; its derived skeleton earns none."""
    name, rub, vecs = profile
    assert grade(rub.reference_dir, rub, vecs).score == rub.max_score
    skeleton = grade(rub.handout_dir, rub, vecs)
    assert skeleton.score == 0
    scored = [c for c in skeleton.checks if c.max_score and c.visibility == "public"]
    assert all("not implemented yet" in " ".join(c.messages) or "not run" in " ".join(c.messages)
               for c in scored)


def test_published_prebias_code_loses_DA_DB_DX_and_is_told_why(grade):
    """Graded as published, the pre-bias layer keeps DW and forward, loses DA, DB and DX (m != n),
    and the report says why."""
    rub = rubric_mod.load(ROOT / "rubrics" / "prebias.yaml")
    report = grade(FIXTURES / "profiles" / "prebias" / "published", rub, vectors_mod.load(rub))
    checks = by_id(report)
    assert checks["DW_values"].status == checks["Y_values"].status == "passed"
    for cid in ("DA_values", "DB_values", "DX_values"):
        assert checks[cid].score == 0
    assert "not from the upstream gradient DY" in checks["DA_values"].hints[0]
    assert "extra term" in checks["DB_values"].hints[0]
    assert "constant factor" in checks["DX_values"].hints[0]
    assert "Your forward is right, but backward disagrees" in checks["gradcheck"].messages[0]


def test_a_correct_random_init_passes_every_time(grade):
    """The statistical init check does not fail a correct He initialisation (five fresh draws)."""
    rub = rubric_mod.load(ROOT / "rubrics" / "mean-reduction.yaml")
    vecs = vectors_mod.load(rub)
    for _ in range(5):
        report = grade(FIXTURES / "profiles" / "mean-reduction" / "seed_code", rub, vecs)
        assert by_id(report)["init_W"].status == "passed"


def test_handout_matches_reference(profile):
    """Each profile's handout folder is what its reference derives (no drift)."""
    name, rub, _ = profile
    on_disk = {p.relative_to(rub.handout_dir).as_posix(): p.read_text()
               for p in rub.handout_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert on_disk == handout.skeleton(rub), f"run make handout RUBRIC=rubrics/{name}.yaml"


def test_make_vectors_and_handout_work_for_the_profile(profile, tmp_path):
    """`vectors` reproduces the committed files and `handout` builds a public-only archive."""
    name, rub, _ = profile
    work = tmp_path / "rubrics"
    shutil.copytree(ROOT / "rubrics", work)
    result = run_cli("vectors", "--rubric", str(work / f"{name}.yaml"))
    assert result.returncode == 0, result.stderr
    for path in rub.vectors_dir.iterdir():
        assert (work / name / "vectors" / path.name).read_bytes() == path.read_bytes()
    archive = tmp_path / "h.tar.gz"
    result = run_cli("handout", "--rubric", str(work / f"{name}.yaml"), "--archive", str(archive))
    assert result.returncode == 0, result.stderr
    with tarfile.open(archive) as tf:
        names = tf.getnames()
    assert any(n.endswith("mytorch/nn/linear.py") for n in names)
    assert not any("hidden" in n or "mistakes.py" in n for n in names)


def test_previous_handout_files_are_told_so_under_the_current_one(grade, homework):
    """A submission written for the previous handout, graded under the current one, is told
    which convention it follows, component by component."""
    folder = FIXTURES / "profiles" / "previous-handout" / "reference_style"
    report = grade(folder, homework, only=["linear", "activation", "loss"])
    checks = by_id(report)
    assert "linear_previous_handout" in checks["linear.dLdW_values"].mistakes
    assert "mse_previous_handout" in checks["mseloss.L_values"].mistakes
    assert "ce_previous_handout" in checks["crossentropyloss.dLdA_values"].mistakes
    sigmoid = next(s for s in report.sections if s.id == "sigmoid")
    assert any("follows the previous handout" in c.text for c in sigmoid.causes)
    assert report.score < report.max_score


def test_current_handout_mlps_are_told_so_under_the_previous_one(grade):
    """The current handout's MLPs (ReLUs between the Linear layers in self.layers, backward(dLdA)
    on each), graded under the previous handout, are told what this one does instead: its
    activations' backward() takes no argument, and self.layers holds the Linear layers only."""
    rub = rubric_mod.load(ROOT / "rubrics" / "previous-handout.yaml")
    folder = FIXTURES / "profiles" / "previous-handout" / "v3_mlp"
    checks = by_id(grade(folder, rub, vectors_mod.load(rub)))
    told = " ".join(checks["mlp0.backward_debug"].hints)
    assert "f[i].backward()" in told and "follows the newer handout" in told
    for model in ("mlp1", "mlp4"):
        row = checks[f"{model}.layers_linear_only"]
        assert "self.f" in row.title and "self.layers[1].W is not set" in " ".join(row.messages)


def test_previous_handout_mlps_on_a_wrong_linear_are_told_they_are_composed_right(grade,
                                                                                 tmp_path):
    """Under the previous handout too, a model is checked against the student's own layers,
    its ReLUs' backward() (no argument: the derivative dA/dZ) multiplied into the gradient:
    models right in composition but built on a Linear whose dLdW is twice too large are told
    that fixing Linear should fix them; a model that adds to its ReLU's output is not."""
    rub = rubric_mod.load(ROOT / "rubrics" / "previous-handout.yaml")
    sub = tmp_path / "sub"
    shutil.copytree(ROOT / "rubrics" / "previous-handout" / "reference", sub,
                    ignore=shutil.ignore_patterns("__pycache__"))
    linear = sub / "mytorch" / "nn" / "linear.py"
    text = linear.read_text()
    assert "self.dLdW = dLdZ.T @ self.A / self.N" in text
    linear.write_text(text.replace("self.dLdW = dLdZ.T @ self.A / self.N",
                                   "self.dLdW = 2 * dLdZ.T @ self.A / self.N"))
    report = grade(sub, rub, vectors_mod.load(rub))
    checks = by_id(report)
    assert checks["linear.dLdW_values"].status == "failed"
    for model in ("mlp0", "mlp1", "mlp4"):
        assert checks[f"{model}.composition"].status == "passed", model
        told = " ".join(checks[f"{model}.layer_gradients"].hints)
        assert "your Linear fails its own checks" in told and "composed right" in told, told
    mlp = sub / "mytorch" / "models" / "mlp.py"
    source = mlp.read_text()
    marker = "A1 = self.f[0].forward(Z0)"
    assert marker in source
    mlp.write_text(source.replace(marker, "A1 = self.f[0].forward(Z0) + 1.0", 1))
    composed = by_id(grade(sub, rub, vectors_mod.load(rub)))["mlp0.composition"]
    assert composed.status == "failed"
