"""What students upload is graded as the code it holds: a lone linear.py, a zip of the whole
folder with its virtual environment, or a message saying what to upload; and a submission's
files are its own (links and hard links never lead the grader to anyone else's files)."""
from __future__ import annotations

import json
import os
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, SUBMISSIONS
from grader import render

REFERENCE = ROOT / "reference" / "mytorch"
LINEAR = (REFERENCE / "nn" / "linear.py").read_text()
CANARY = "CANARY-not-the-students-5f1d"
AS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="as an ordinary user a folder is graded "
                             "where it is, links and all (the code runs as that user anyway)")


def full(report) -> bool:
    return report.status == "graded" and report.score == report.max_score


def everything_shown(report) -> str:
    """Every text a student or TA sees of a report: terminal, HTML, results.json."""
    return "\n".join([render.terminal(report), render.html(report),
                      json.dumps(render.gradescope(report)), json.dumps(report.to_dict())])


def handout_tree(root: Path, linear: str = LINEAR) -> Path:
    shutil.copytree(REFERENCE, root / "mytorch", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "mytorch" / "nn" / "linear.py").write_text(linear)
    return root


def canary_code(folder: Path) -> Path:
    """Correct code outside the submission that prints the canary if it is ever run."""
    handout_tree(folder, f"print({CANARY!r})\n# {CANARY}\n" + LINEAR)
    (folder / "secret.txt").write_text(CANARY)
    return folder


# --- what students upload -----------------------------------------------------------------

def test_lone_linear_py_in_a_folder(grade, tmp_path):
    """A folder holding only linear.py (as Gradescope keeps an upload) earns full marks."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "linear.py").write_text(LINEAR)
    assert full(grade(tmp_path / "sub"))


def test_lone_linear_py_given_itself(grade, tmp_path):
    """`grade linear.py`: the file itself is a submission."""
    (tmp_path / "linear.py").write_text(LINEAR)
    report = grade(tmp_path / "linear.py")
    assert full(report) and report.submission == "linear.py"


def test_lone_file_keeps_its_mistake(grade, tmp_path):
    """A lone file with a planted mistake scores what the same code scores in the handout."""
    (tmp_path / "sub").mkdir()
    shutil.copy(SUBMISSIONS / "wrong/dLdW_mean/mytorch/nn/linear.py", tmp_path / "sub")
    alone, whole = grade(tmp_path / "sub"), grade(SUBMISSIONS / "wrong/dLdW_mean")
    assert alone.status == "graded" and alone.score == whole.score < alone.max_score
    assert alone.mistakes == whole.mistakes


def test_lone_file_anywhere_in_a_zip(grade, tmp_path):
    """A zip holding Linear.py two folders down, beside notes, is graded from it."""
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("hw1/code/Linear.py", LINEAR)
        zf.writestr("hw1/notes.txt", "my notes")
    assert full(grade(path))


def test_handout_layout_deep_in_a_zip(grade, tmp_path):
    """A zip made with full paths (the handout folder five levels down) is graded from it,
    helpers beside linear.py included."""
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for f in REFERENCE.rglob("*.py"):
            zf.write(f, "Users/bob/Desktop/ml/hw1/mytorch/" + f.relative_to(REFERENCE).as_posix())
    assert full(grade(path))


def test_two_lone_files_at_the_same_depth(grade, tmp_path):
    """Two candidates equally near the top: nothing is guessed; the message names both."""
    for d in ("try1", "try2"):
        (tmp_path / "sub" / d).mkdir(parents=True)
        (tmp_path / "sub" / d / "linear.py").write_text(LINEAR)
    report = grade(tmp_path / "sub")
    assert report.status == "rejected" and report.score == 0
    assert "linear.py is in 2 places (try1/linear.py, try2/linear.py)" in report.summary


def test_nothing_to_grade_says_what_to_upload(grade, tmp_path):
    """Unrelated files: a graded zero whose message says exactly what to upload."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("hello")
    (tmp_path / "sub" / "notes.pdf").write_bytes(b"%PDF-1.4")
    report = grade(tmp_path / "sub")
    assert report.status == "rejected" and report.score == 0
    assert report.summary == (
        "Not graded: No mytorch/nn/linear.py found. Upload linear.py itself, or a zip of your "
        "handout folder (the folder that holds mytorch/). Found: a.txt, notes.pdf")


def test_empty_archive_says_so(grade, tmp_path):
    """An archive with nothing in it but a virtual environment is a submission of nothing."""
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(".venv/pyvenv.cfg", "home = /usr/bin\n")
    report = grade(path)
    assert report.status == "rejected"
    assert report.summary.endswith("Found: nothing (the submission is empty)")


def whole_folder(root: Path) -> Path:
    """A student's whole working folder: the handout, a .venv whose python is a link to the
    system's, a __MACOSX copy, caches and .DS_Store."""
    handout_tree(root / "hw1p1")
    venv = root / "hw1p1" / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (venv / "bin" / "python").symlink_to("/usr/bin/python3")
    site = venv / "lib" / "python3.11" / "site-packages" / "numpy"
    site.mkdir(parents=True)
    (site / "__init__.py").write_text("raise ImportError('not this numpy')\n")
    (root / "__MACOSX" / "hw1p1" / "mytorch" / "nn").mkdir(parents=True)
    (root / "__MACOSX" / "hw1p1" / "mytorch" / "nn" / "._linear.py").write_bytes(b"\0\5\26\7")
    (root / "hw1p1" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / "hw1p1" / "mytorch" / "__pycache__").mkdir()
    (root / "hw1p1" / "mytorch" / "__pycache__" / "x.pyc").write_bytes(b"stale")
    return root


def zip_folder(folder: Path, path: Path) -> Path:
    """Zip a folder as `zip -ry` does: links stored as links."""
    with zipfile.ZipFile(path, "w") as zf:
        for here, dirs, files in os.walk(folder):
            for name in dirs + files:
                p = Path(here) / name
                arcname = p.relative_to(folder).as_posix()
                if p.is_symlink():
                    info = zipfile.ZipInfo(arcname)
                    info.external_attr = 0o120777 << 16
                    zf.writestr(info, os.readlink(p))
                elif p.is_file():
                    zf.write(p, arcname)
    return path


def test_zip_of_whole_folder_with_venv(grade, tmp_path):
    """A zip of the whole folder, .venv (with its link) and __MACOSX included: full marks."""
    path = zip_folder(whole_folder(tmp_path / "work"), tmp_path / "s.zip")
    assert full(grade(path))


def test_tar_of_whole_folder_with_venv(grade, tmp_path):
    """The same as a .tar.gz (links stored as tar links): full marks."""
    folder = whole_folder(tmp_path / "work")
    path = tmp_path / "s.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        tf.add(folder, "work")
    assert full(grade(path))


def test_folder_with_venv_links(grade, tmp_path):
    """The whole folder itself, its .venv's links to outside included: full marks."""
    assert full(grade(whole_folder(tmp_path / "work")))


def test_folder_holding_only_a_tar(grade, tmp_path):
    """A folder holding nothing but a .tar of the handout folder (Gradescope keeps a .tar as
    it is) is graded from the tar."""
    (tmp_path / "sub").mkdir()
    with tarfile.open(tmp_path / "sub" / "hw1.tar", "w") as tf:
        tf.add(REFERENCE, "hw1/mytorch")
    assert full(grade(tmp_path / "sub"))


# --- a submission's files are its own -------------------------------------------------------

def refused(report, *words: str) -> None:
    """Rejected with a reason naming ``words``, and nothing of the canary shown anywhere."""
    assert report.status == "rejected" and report.score == 0
    for word in words:
        assert word in report.summary
    assert CANARY not in everything_shown(report)


def test_submission_that_is_a_link(grade, tmp_path):
    """A submission that is itself a link (to code outside) is refused, whoever grades."""
    canary_code(tmp_path / "elsewhere")
    (tmp_path / "alice").symlink_to(tmp_path / "elsewhere")
    refused(grade(tmp_path / "alice"), "alice is a symbolic link")


def test_lone_file_linked_outside(grade, tmp_path):
    """A lone linear.py that is a link to a file outside the submission is refused."""
    canary_code(tmp_path / "elsewhere")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "linear.py").symlink_to(tmp_path / "elsewhere/mytorch/nn/linear.py")
    refused(grade(tmp_path / "sub"), "linear.py: a link pointing outside the submission")


@AS_ROOT
def test_package_folder_linked_outside(grade, tmp_path):
    """mytorch/ as a link to someone else's package is refused, naming it."""
    canary_code(tmp_path / "elsewhere")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "mytorch").symlink_to(tmp_path / "elsewhere" / "mytorch")
    refused(grade(tmp_path / "sub"), "mytorch: a link pointing outside the submission")


@AS_ROOT
def test_layer_file_linked_outside(grade, tmp_path):
    """mytorch/nn/linear.py as a link to a file outside the submission is refused."""
    canary_code(tmp_path / "elsewhere")
    sub = handout_tree(tmp_path / "sub")
    (sub / "mytorch/nn/linear.py").unlink()
    (sub / "mytorch/nn/linear.py").symlink_to(tmp_path / "elsewhere/mytorch/nn/linear.py")
    refused(grade(sub), "mytorch/nn/linear.py: a link pointing outside the submission")


@AS_ROOT
def test_data_file_linked_outside(grade, tmp_path):
    """Any file of the package linked outside (a data file the code would read) is refused."""
    canary_code(tmp_path / "elsewhere")
    sub = handout_tree(tmp_path / "sub")
    (sub / "mytorch/nn/weights.txt").symlink_to(tmp_path / "elsewhere/secret.txt")
    refused(grade(sub), "mytorch/nn/weights.txt: a link pointing outside")


@AS_ROOT
def test_hard_linked_file(grade, tmp_path):
    """A file with another hard link (the other may be the grader's) is refused, naming it."""
    canary_code(tmp_path / "elsewhere")
    sub = handout_tree(tmp_path / "sub")
    (sub / "mytorch/nn/linear.py").unlink()
    os.link(tmp_path / "elsewhere/mytorch/nn/linear.py", sub / "mytorch/nn/linear.py")
    refused(grade(sub), "mytorch/nn/linear.py: a file with 2 hard links")


@AS_ROOT
def test_link_inside_the_submission_is_copied(grade, tmp_path):
    """A link to a file inside the submission is copied as that file: full marks."""
    sub = handout_tree(tmp_path / "sub")
    (sub / "impl.py").write_text(LINEAR)
    (sub / "mytorch/nn/linear.py").unlink()
    (sub / "mytorch/nn/linear.py").symlink_to("../../impl.py")
    assert full(grade(sub))


def test_batch_entry_that_is_a_link(tmp_path):
    """A batch entry that is a link to a folder outside the class folder is refused."""
    from grader import batch

    canary_code(tmp_path / "elsewhere")
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "mallory").symlink_to(tmp_path / "elsewhere")
    batch.run_batch(tmp_path / "class", tmp_path / "out", ROOT / "rubric.yaml", jobs=1,
                    progress=False)
    results = (tmp_path / "out" / "mallory" / "results.json").read_text()
    assert json.loads(results)["score"] == 0 and "symbolic link" in results
    assert CANARY not in results
    assert CANARY not in (tmp_path / "out" / "mallory" / "report.html").read_text()


def test_scratch_folders_are_private_and_follow_tmpdir(tmp_path, monkeypatch):
    """A scratch folder is new, named at random, readable by this user alone; without a
    folder of the grader's own (not root), it goes where TMPDIR says."""
    from grader import workspace

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    assert workspace.temp_dir() == str(tmp_path)
    a, b = (workspace.make_folder(workspace.temp_dir(), "grader-") for _ in range(2))
    assert a != b and a.parent == b.parent == tmp_path and a.name.startswith("grader-")
    assert (a.stat().st_mode & 0o777) == 0o700
