"""The student handout: derived from the reference, and gradable wherever it is unpacked."""
from __future__ import annotations

import os
import subprocess
import sys
import tarfile

import pytest

from conftest import ROOT, run_cli
from grader import handout
from grader.errors import GraderError


def test_handout_folder_matches_the_reference(homework):
    """handout/ is exactly what `make handout` derives from reference/ (no drift)."""
    derived = handout.skeleton(homework)
    on_disk = {p.relative_to(ROOT / "handout").as_posix(): p.read_text()
               for p in (ROOT / "handout").rglob("*") if p.is_file()
               and "__pycache__" not in p.parts}
    assert on_disk == derived, "run `make handout` and commit handout/"


def test_skeleton_keeps_signatures_and_docstrings_but_no_solution(homework):
    """The skeleton has every method and docstring, TODOs, and none of the solution lines."""
    rubric = homework
    text = handout.skeleton(rubric)["mytorch/nn/linear.py"]
    for needle in ("def __init__(self, in_features, out_features, debug=False):",
                   "def forward(self, A):", "def backward(self, dLdZ):", ":param A:", "# TODO"):
        assert needle in text
    for solution in ("np.zeros((out_features, in_features))", "dLdZ @ self.W", "BEGIN SOLUTION",
                     "#>"):
        assert solution not in text
    assert "mistakes" not in " ".join(handout.skeleton(rubric))
    activation = handout.skeleton(rubric)["mytorch/nn/activation.py"]
    for needle in ("class Softmax:", "def backward(self, dLdA):", "# TODO"):
        assert needle in activation
    assert "np.outer" not in activation and "BEGIN SOLUTION" not in activation


def public_zero(homework) -> str:
    """What the untouched handout scores with the public checks: 0 of the public points."""
    from grader.render import points

    return f"Score: 0 / {points(sum(c.points for c in homework.checks if c.visibility == 'public'))}"


@pytest.mark.parametrize("bad, message", [
    ("# BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("x = 1\n# END SOLUTION\n", "without BEGIN"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n", "inside the region"),
])
def test_broken_markers_name_file_and_line(bad, message):
    """A malformed solution region is an error naming the file and line."""
    with pytest.raises(GraderError, match=message):
        handout.strip_solutions(bad, "ref.py")


def test_student_archive_grades_the_skeleton_anywhere(tmp_path, homework):
    """Unpacked anywhere, the archive's `make grade` grades the skeleton with public checks only."""
    archive = tmp_path / "handout.tar.gz"
    result = run_cli("handout", "--out", str(tmp_path / "skel"), "--archive", str(archive))
    assert result.returncode == 0, result.stderr
    with tarfile.open(archive) as tf:
        names = tf.getnames()
        tf.extractall(tmp_path / "unpacked", filter="data")
    assert not any("hidden" in n or "reference" in n or "mistakes.py" in n for n in names)
    top = tmp_path / "unpacked" / "handout"
    env = dict(os.environ, NO_COLOR="1")
    for var in ("PYTHONPATH", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"):  # a fresh shell, not ours
        env.pop(var, None)
    done = subprocess.run(["make", "-s", "grade", f"PYTHON={sys.executable}"], cwd=top, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert public_zero(homework) in done.stdout
    assert "hidden checks run when your submission is graded" in done.stdout
    assert done.stdout.count("not implemented yet") == len(homework.components)
    readme = (top / "README.md").read_text()   # says which files to fill in, and --only
    assert all(f"`{f}`" in readme for f in homework.files) and "--only" in readme
    assert "{" not in readme


def test_archive_is_reproducible(tmp_path):
    """Building the archive twice gives the same bytes."""
    first, second = tmp_path / "1" / "handout.tar.gz", tmp_path / "2" / "handout.tar.gz"
    for out in (first, second):
        run_cli("handout", "--out", str(tmp_path / "skel"), "--archive", str(out))
    assert first.read_bytes() == second.read_bytes()


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory):
    """The student archive, unpacked as a student would."""
    tmp = tmp_path_factory.mktemp("student")
    archive = tmp / "handout.tar.gz"
    result = run_cli("handout", "--out", str(tmp / "skel"), "--archive", str(archive))
    assert result.returncode == 0, result.stderr
    with tarfile.open(archive) as tf:
        tf.extractall(tmp / "unpacked", filter="data")
    return tmp / "unpacked" / "handout"


def _student_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "NN_GRADER_SANDBOX", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return dict(env, NO_COLOR="1", **extra)


@pytest.mark.parametrize("backend", ["", "portable"])
def test_grade_py_does_what_make_grade_does(unpacked, backend, homework):
    """`python grade.py` (no make: macOS, Windows) grades the skeleton, with either sandbox."""
    env = _student_env(**({"NN_GRADER_SANDBOX": backend} if backend else {}))
    done = subprocess.run([sys.executable, "grade.py"], cwd=unpacked, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert public_zero(homework) in done.stdout
    assert done.stdout.count("not implemented yet") == len(homework.components)
    if backend:
        assert "Sandbox: portable" in done.stdout


def test_grade_py_without_linux_only_calls(unpacked, homework):
    """Where fork, /proc, prctl, resource and fcntl do not exist, grade.py still grades, in
    the portable sandbox, from any working directory."""
    shim = ROOT / "tests" / "fixtures" / "nolinux"
    done = subprocess.run([sys.executable, str(unpacked / "grade.py")], cwd=unpacked.parent,
                          env=_student_env(PYTHONPATH=str(shim)), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert public_zero(homework) in done.stdout and "Sandbox: portable" in done.stdout


def test_grade_py_tells_an_old_python_what_to_install(unpacked):
    """macOS's own python3 is 3.9: one sentence saying what to install, no traceback."""
    run = ("import runpy, sys\n"
           "sys.version_info = (3, 9, 6, 'final', 0)\n"
           f"runpy.run_path({str(unpacked / 'grade.py')!r}, run_name='__main__')\n")
    done = subprocess.run([sys.executable, "-c", run], env=_student_env(), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1
    assert "needs Python 3.10 or newer, but this is Python 3.9" in done.stderr
    assert "https://www.python.org/downloads/" in done.stderr
    assert "Traceback" not in done.stderr
