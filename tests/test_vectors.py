"""Test vectors: reproducible from the reference, verified before use."""
from __future__ import annotations

import json
import shutil

import pytest

from conftest import ROOT, run_cli
from grader import rubric as rubric_mod
from grader import vectors as vectors_mod
from grader.errors import GraderError


@pytest.fixture()
def project(tmp_path):
    """A copy of the project's assignment files to regenerate vectors in."""
    for name in ("rubric.yaml",):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "reference", tmp_path / "reference")
    shutil.copytree(ROOT / "vectors", tmp_path / "vectors")
    return tmp_path


def test_make_vectors_reproduces_the_committed_files(project):
    """Regenerating gives byte-identical files: the committed vectors match the reference."""
    before = {p.name: p.read_bytes() for p in (project / "vectors").iterdir()}
    result = run_cli("vectors", "--rubric", str(project / "rubric.yaml"))
    assert result.returncode == 0, result.stderr
    after = {p.name: p.read_bytes() for p in (project / "vectors").iterdir()}
    assert after == before
    committed = {p.name: p.read_bytes() for p in (ROOT / "vectors").iterdir()}
    assert after == committed


def test_tampered_vectors_are_refused(project):
    """A vector file whose bytes do not match the manifest's sha256 stops grading."""
    path = project / "vectors" / "public.npz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    rub = rubric_mod.load(project / "rubric.yaml")
    with pytest.raises(GraderError, match="sha256"):
        vectors_mod.load(rub)


def test_vectors_for_another_rubric_are_refused(project):
    """Changing a case's seed without `make vectors` is caught, with the fix in the message."""
    path = project / "rubric.yaml"
    path.write_text(path.read_text().replace("seed: 11", "seed: 99"))
    rub = rubric_mod.load(path)
    with pytest.raises(GraderError, match="make vectors"):
        vectors_mod.load(rub)


def test_hidden_vectors_are_a_separate_file(project):
    """Public and hidden cases live in different files, so the public one can be shipped."""
    manifest = json.loads((project / "vectors" / "manifest.json").read_text())
    public, hidden = manifest["files"]["public.npz"]["cases"], manifest["files"]["hidden.npz"]["cases"]
    assert {"linear/large", "linear/small", "linear/wide", "softmax/large_logits"} <= set(public)
    assert {"linear/hidden_large", "linear/hidden_small", "mseloss/hidden_small"} <= set(hidden)
    assert not set(public) & set(hidden) and all("hidden" not in c for c in public)


def test_grading_does_not_need_the_reference(project, tmp_path):
    """With reference/ gone, grading still works from the vectors alone."""
    sub = tmp_path / "sub"
    shutil.copytree(project / "reference", sub)
    shutil.rmtree(project / "reference")
    result = run_cli("grade", str(sub), "--rubric", str(project / "rubric.yaml"))
    assert "Score: 100 / 100" in result.stdout, result.stderr


def test_a_failing_reference_is_reported(project):
    """`make vectors` on a broken reference says which case and stage failed."""
    linear = project / "reference" / "mytorch" / "nn" / "linear.py"
    linear.write_text(linear.read_text().replace("dLdA = dLdZ @ self.W\n", "dLdA = 1 / 0\n"))
    result = run_cli("vectors", "--rubric", str(project / "rubric.yaml"))
    assert result.returncode == 2
    assert "reference" in result.stderr and "backward" in result.stderr
