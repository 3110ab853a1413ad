"""The Gradescope autograder zip: what it holds, and grading in Gradescope's layout with it."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, SUBMISSIONS
from grader import gradescope_pkg
from grader.errors import GraderError
from grader.rubric import load


@pytest.fixture(scope="module")
def package(rubric, tmp_path_factory) -> Path:
    return gradescope_pkg.build_package(rubric, tmp_path_factory.mktemp("pkg") / "autograder.zip")


def mode(info: zipfile.ZipInfo) -> int:
    return info.external_attr >> 16


def test_entries(package, rubric):
    """Scripts at the top (executable), the grader, the full rubric and all vectors; no solution."""
    with zipfile.ZipFile(package) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        shipped_rubric = zf.read("rubric.yaml").decode()
        contents = [zf.read(name) for name in infos]
    names = list(infos)
    assert names == sorted(names)
    for script in ("setup.sh", "run_autograder"):
        assert stat.S_ISREG(mode(infos[script])) and mode(infos[script]) & 0o111 == 0o111
    assert mode(infos["rubric.yaml"]) & 0o111 == 0
    assert {"requirements.txt", "grader/__main__.py", "grader/cli.py",
            "grader/templates/report.html.j2", "vectors/public.npz", "vectors/hidden.npz",
            "vectors/manifest.json"} <= set(names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert not any(n.startswith("reference/") or n.endswith("mistakes.py") for n in names)
    solution = (ROOT / "reference" / rubric.components[0].file).read_bytes()
    assert solution not in contents
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in infos.values())
    assert (ROOT / "rubrics" / "linear" / "vectors" / "hidden.npz").read_bytes() in contents

    raw = yaml.safe_load(shipped_rubric)
    assert "reference" not in raw and raw["vectors"] == "vectors"
    hidden = {c.id for c in rubric.checks if c.visibility == "hidden"}
    assert hidden and hidden <= {c["id"] for c in raw["checks"]}
    assert [c["name"] for c in raw["cases"]] == [c.name for c in rubric.components[0].cases]


def test_package_is_reproducible(rubric, tmp_path):
    """Building twice gives the same bytes."""
    first = gradescope_pkg.build_package(rubric, tmp_path / "1" / "autograder.zip")
    second = gradescope_pkg.build_package(rubric, tmp_path / "2" / "autograder.zip")
    assert first.read_bytes() == second.read_bytes()


def test_stale_vectors_are_refused(tmp_path):
    """A rubric whose cases no longer match the vectors is not packaged."""
    raw = yaml.safe_load((ROOT / "rubrics" / "linear.yaml").read_text())
    raw["vectors"] = str(ROOT / "rubrics" / "linear" / "vectors")
    raw["reference"] = str(ROOT / "reference")
    raw["cases"][-1]["seed"] += 1
    (tmp_path / "rubric.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(GraderError, match="run `make vectors`"):
        gradescope_pkg.build_package(load(tmp_path / "rubric.yaml"), tmp_path / "a.zip")


def unpack(package: Path, root: Path) -> Path:
    """Unzip as Gradescope does: the zip's top level becomes <root>/source (modes kept)."""
    source = root / "source"
    with zipfile.ZipFile(package) as zf:
        for info in zf.infolist():
            target = Path(zf.extract(info, source))
            target.chmod(mode(info) & 0o777)
    return source


def run_autograder(root: Path) -> subprocess.CompletedProcess:
    """Run the package's run_autograder with Gradescope's layout under ``root``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["AUTOGRADER_ROOT"] = str(root)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return subprocess.run(["sh", str(root / "source" / "run_autograder")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("fixture, nested, score", [
    ("correct/matmul", False, 100),
    ("correct/matmul", True, 100),
    ("wrong/dLdW_mean", False, 85),
    ("broken/syntax_error", False, 0),
])
def test_gradescope_run(package, rubric, tmp_path, fixture, nested, score):
    """Gradescope's layout: the submission's files in <root>/submission (maybe in one folder),
    results in <root>/results/results.json with one test per check, hidden ones included."""
    root = tmp_path / "autograder"
    unpack(package, root)
    submission = root / "submission" / ("hw1p1" if nested else "")
    shutil.copytree(SUBMISSIONS / fixture / "mytorch", submission / "mytorch")
    done = run_autograder(root)
    assert done.returncode == 0, done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert (results["score"], results["max_score"]) == (score, 100)
    assert [t["number"] for t in results["tests"]] == [c.id for c in rubric.checks]
    hidden = [t for t in results["tests"] if t["number"].startswith("hidden_")]
    assert hidden and all(t["visibility"] == rubric.gradescope_hidden_visibility for t in hidden)


def test_missing_vectors_fail_the_run_without_results(package, tmp_path):
    """A broken package is reported as an autograder failure, not as a score of 0."""
    root = tmp_path / "autograder"
    source = unpack(package, root)
    (source / "vectors" / "hidden.npz").unlink()
    shutil.copytree(SUBMISSIONS / "correct/matmul/mytorch", root / "submission" / "mytorch")
    done = run_autograder(root)
    assert done.returncode != 0
    assert not (root / "results" / "results.json").exists()
    assert "hidden.npz" in done.stderr


# --- what students upload to Gradescope -------------------------------------------------------

def upload_lone(submission: Path, fixture: str = "") -> None:
    src = SUBMISSIONS / fixture if fixture else ROOT / "reference"
    submission.mkdir(parents=True)
    shutil.copy(src / "mytorch" / "nn" / "linear.py", submission / "linear.py")


def upload_zip_of_folder(submission: Path) -> None:
    from test_staging import whole_folder, zip_folder

    submission.mkdir(parents=True)
    zip_folder(whole_folder(submission.parent / "work"), submission / "hw1p1.zip")


def upload_unzipped_folder(submission: Path) -> None:
    """What Gradescope leaves of an uploaded zip: its files, links included."""
    from test_staging import whole_folder

    whole_folder(submission)


def upload_handout(submission: Path) -> None:
    shutil.copytree(ROOT / "handout" / "mytorch", submission / "mytorch")


def upload_unrelated(submission: Path) -> None:
    submission.mkdir(parents=True)
    (submission / "a.txt").write_text("hello")
    (submission / "notes.pdf").write_bytes(b"%PDF-1.4")


@pytest.mark.parametrize("upload, score", [
    (upload_lone, 100),
    (lambda s: upload_lone(s, "wrong/dLdW_mean"), 85),
    (upload_zip_of_folder, 100),
    (upload_unzipped_folder, 100),
    (upload_handout, 0),
], ids=["lone_linear_py", "lone_wrong_file", "zip_of_whole_folder", "unzipped_whole_folder",
        "handout_skeleton"])
def test_gradescope_takes_what_students_upload(package, tmp_path, upload, score):
    """Each upload gets the score its code deserves: a lone linear.py, a zip of the whole
    folder (.venv with a link to the system python, __MACOSX), the same unzipped, the
    untouched handout."""
    root = tmp_path / "autograder"
    unpack(package, root)
    upload(root / "submission")
    done = run_autograder(root)
    assert done.returncode == 0, done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert (results["score"], results["max_score"]) == (score, 100)
    assert "Not graded" not in results["output"]


def test_gradescope_unrelated_upload_says_what_to_upload(package, tmp_path):
    """Files that hold no layer: 0 points, and the message says what to upload instead."""
    root = tmp_path / "autograder"
    unpack(package, root)
    upload_unrelated(root / "submission")
    done = run_autograder(root)
    assert done.returncode == 0, done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 0
    assert results["output"].splitlines()[-1] == (
        "Not graded: No mytorch/nn/linear.py found. Upload linear.py itself, or a zip of your "
        "handout folder (the folder that holds mytorch/). Found: a.txt, notes.pdf")


# --- the image ------------------------------------------------------------------------------

def test_requirements_are_pinned_to_what_the_tests_run(package):
    """The image installs exact versions, and those that apply to this Python are the very
    versions these tests run with."""
    from importlib.metadata import version

    from packaging.markers import Marker

    with zipfile.ZipFile(package) as zf:
        lines = [ln.strip() for ln in zf.read("requirements.txt").decode().splitlines()
                 if ln.strip() and not ln.startswith("#")]
    pins = {}
    for line in lines:
        spec, _, marker = line.partition(";")
        name, _, pinned = spec.strip().partition("==")
        assert pinned, f"not pinned: {line}"
        if not marker or Marker(marker).evaluate():
            pins[name.lower()] = pinned
    assert {"numpy", "pyyaml", "jinja2"} <= set(pins)
    assert all(version(name) == pinned for name, pinned in pins.items()), pins


def fake_python(folder: Path, version: str) -> Path:
    """A python3 on PATH that reports ``version`` and pretends to install what it is asked."""
    folder.mkdir()
    script = folder / "python3"
    script.write_text(f"""#!/bin/sh
case "$*" in
    *version_info*) printf '{version}' ;;
    *"pip install"*) echo "$*" >> "{folder}/installed" ;;
esac
exit 0
""")
    script.chmod(0o755)
    return folder


@pytest.mark.parametrize("found, ok", [("3.8.10", False), ("2.7.18", False), ("3.9.19", False),
                                       ("3.10.12", True), ("3.13.1", True)])
def test_setup_checks_python_version(package, tmp_path, found, ok):
    """setup.sh stops with one sentence naming the Python it found and what to install when
    it is older than 3.10; otherwise it installs the pinned requirements."""
    source = unpack(package, tmp_path / "autograder")
    fake = fake_python(tmp_path / "bin", found)
    env = {**os.environ, "PATH": f"{fake}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["sh", str(source / "setup.sh")], env=env, capture_output=True,
                          text=True, timeout=60)
    installed = (fake / "installed").read_text() if (fake / "installed").exists() else ""
    if ok:
        assert done.returncode == 0, done.stderr
        assert "requirements.txt" in installed
    else:
        assert done.returncode != 0 and installed == ""
        message = done.stderr.strip()
        assert f"Python {found}" in message and "needs Python 3.10 or newer" in message
        assert message.count(". ") == 0 and "\n" not in message


def test_gradescope_keeps_hidden_case_output_for_staff(package, tmp_path):
    """What the code printed on hidden cases is in the autograder's output (shown to staff
    only: stdout_visibility is hidden), never in results.json."""
    root = tmp_path / "autograder"
    unpack(package, root)
    shutil.copytree(SUBMISSIONS / "hostile" / "hidden_print", root / "submission")
    done = run_autograder(root)
    assert done.returncode == 0, done.stderr
    results = (root / "results" / "results.json").read_text()
    assert json.loads(results)["stdout_visibility"] == "hidden"
    for staff_only in ("CANARY forward A(6, 5)", "CANARY forward A(96, 64)"):
        assert staff_only in done.stdout and staff_only not in results
    assert "CANARY forward A(4, 3)" in results


def test_gradescope_grades_the_homework_from_its_files_uploaded_alone(homework, tmp_path):
    """The homework's package: the files uploaded loose are each put where the handout puts
    them; the missing ones cost their own components only; tests are named by component."""
    package = gradescope_pkg.build_package(homework, tmp_path / "pkg" / "autograder.zip")
    root = tmp_path / "autograder"
    unpack(package, root)
    (root / "submission").mkdir(parents=True)
    for name in ("linear.py", "activation.py"):   # loss.py not uploaded
        shutil.copy(ROOT / "reference" / "mytorch" / "nn" / name, root / "submission" / name)
    done = run_autograder(root)
    assert done.returncode == 0, done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    uploaded = {"linear", "identity", "sigmoid", "tanh", "relu", "gelu", "swish", "softmax"}
    losses = sum(c.points for c in homework.checks if c.component not in uploaded)
    assert results["max_score"] == homework.max_score
    assert abs(results["score"] - (homework.max_score - losses)) < 1e-4
    names = {t["name"] for t in results["tests"]}
    assert "Softmax: forward: values of A" in names and "Linear: W after __init__" in names


def test_gradescope_places_every_homework_file_uploaded_alone(homework, tmp_path):
    """All six files of the homework uploaded loose, as a student drags them into Gradescope
    (batchnorm.py, sgd.py and mlp.py included): each goes where the handout puts it —
    mlp.py under models/, sgd.py under mytorch/optim/ — and the reference earns full marks."""
    package = gradescope_pkg.build_package(homework, tmp_path / "pkg" / "autograder.zip")
    root = tmp_path / "autograder"
    unpack(package, root)
    (root / "submission").mkdir(parents=True)
    for rel in homework.files:
        shutil.copy(ROOT / "reference" / rel, root / "submission" / Path(rel).name)
    assert {p.name for p in (root / "submission").iterdir()} >= {"batchnorm.py", "sgd.py",
                                                                  "mlp.py"}
    done = run_autograder(root)
    assert done.returncode == 0, done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == results["max_score"] == homework.max_score, results["output"]
    names = {t["name"] for t in results["tests"]}
    assert "MLP4: dLdW and dLdb of every Linear layer" in names
