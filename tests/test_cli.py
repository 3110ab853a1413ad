"""What a student or TA sees from `python -m grader grade`: the terminal report and the files."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import shutil
import tarfile
import zipfile

from conftest import ROOT, SUBMISSIONS, run_cli


def test_reference_gets_full_marks_on_the_terminal():
    """The reference earns every point, and the report says so."""
    result = run_cli("grade", "reference")
    assert result.returncode == 0, result.stderr
    assert "Score: 100 / 100" in result.stdout
    assert "✗" not in result.stdout and "!" not in result.stdout.replace("!=", "")


def test_skeleton_gets_zero_and_each_check_says_not_implemented():
    """Every scored check of the untouched handout says it is not implemented yet."""
    result = run_cli("grade", "handout", "--json", "-", "--quiet")
    data = json.loads(result.stdout)
    assert data["score"] == 0
    for test in data["tests"]:
        if test["max_score"] and test["visibility"] == "visible":
            assert "not implemented yet" in test["output"] or "not run" in test["output"], test


def test_gradescope_json_schema(tmp_path):
    """--json writes Gradescope's results.json: score, max_score, and a test per check."""
    out = tmp_path / "results.json"
    run_cli("grade", str(SUBMISSIONS / "wrong" / "dLdb_keepdims"), "--json", str(out), "--quiet")
    data = json.loads(out.read_text())
    assert data["score"] == 95 and data["max_score"] == 100
    names = {t["number"]: t for t in data["tests"]}
    assert names["dLdb_shape"]["score"] == 0
    assert "dLdb should be C_out x 1 = (5, 1), got (5,)" in names["dLdb_shape"]["output"]
    for test in data["tests"]:
        assert set(test) >= {"name", "score", "max_score", "output", "visibility"}
        assert test["visibility"] in ("visible", "hidden", "after_due_date", "after_published")
    lines = out.read_text().splitlines()   # readable as text too: a line per test
    assert [json.loads(line.strip().rstrip(",")) for line in lines if '"number"' in line] == \
        data["tests"]


def test_hidden_checks_never_show_expected_values(tmp_path):
    """A failed hidden check names the mistake but gives no numbers."""
    out = tmp_path / "results.json"
    run_cli("grade", str(SUBMISSIONS / "wrong" / "dLdW_mean"), "--json", str(out), "--quiet")
    hidden = [t for t in json.loads(out.read_text())["tests"] if t["number"] == "hidden_dLdW"][0]
    assert hidden["score"] == 0
    assert "divided by the batch size N" in hidden["output"]
    assert "expected -" not in hidden["output"] and "max abs diff" not in hidden["output"]


def test_html_report_escapes_student_output(tmp_path):
    """The HTML report is written, and text from student code cannot inject markup."""
    sub = tmp_path / "sub"
    shutil.copytree(ROOT / "reference" / "mytorch", sub / "mytorch")
    linear = sub / "mytorch" / "nn" / "linear.py"
    linear.write_text(linear.read_text().replace(
        '"""mytorch.nn.linear', 'print("<script>alert(1)</script>")\n"""mytorch.nn.linear', 1))
    out = tmp_path / "report.html"
    run_cli("grade", str(sub), "--html", str(out), "--quiet")
    page = out.read_text()
    assert "Score: 100 / 100" in page
    assert "<script>alert" not in page and "&lt;script&gt;" in page


def test_autolab_line_is_last(tmp_path):
    """--autolab prints the scores object as the very last line of stdout."""
    result = run_cli("grade", "reference", "--autolab")
    last = result.stdout.strip().splitlines()[-1]
    scores = json.loads(last)["scores"]
    assert scores["Z_values"] == 15 and sum(scores.values()) == 100


def test_archives_are_graded_like_folders(tmp_path):
    """A .zip or .tar.gz holding the package (even inside one top folder) grades the same."""
    src = ROOT / "reference" / "mytorch"
    zpath = tmp_path / "alice.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in src.rglob("*.py"):
            zf.write(f, "hw1/mytorch/" + f.relative_to(src).as_posix())
    tpath = tmp_path / "bob.tar.gz"
    with tarfile.open(tpath, "w:gz") as tf:
        tf.add(src, "mytorch")
    for path in (zpath, tpath):
        result = run_cli("grade", str(path))
        assert "Score: 100 / 100" in result.stdout, result.stdout + result.stderr


def test_unsafe_archive_is_a_graded_zero_not_a_crash(tmp_path):
    """An archive escaping its folder is refused with the reason, and scored 0."""
    bad = tmp_path / "mallory.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../../evil.py", "x = 1")
    result = run_cli("grade", str(bad))
    assert result.returncode == 0
    assert "Not graded" in result.stdout and "'..'" in result.stdout
    assert "Score: 0 / 100" in result.stdout
    assert not (tmp_path.parent / "evil.py").exists()


def test_configuration_errors_are_one_clear_line(tmp_path):
    """A missing submission or a broken rubric exits 2 with a message, not a traceback."""
    result = run_cli("grade", str(tmp_path / "nope"))
    assert result.returncode == 2 and "no such folder or archive" in result.stderr
    bad = tmp_path / "rubric.yaml"
    bad.write_text("assignment: x\nlayer: 3\n")
    result = run_cli("grade", "reference", "--rubric", str(bad))
    assert result.returncode == 2
    assert str(bad) in result.stderr and "layer" in result.stderr
    assert "Traceback" not in result.stderr


def test_colour_only_on_a_terminal():
    """Piped output has no ANSI escapes (NO_COLOR or not, a pipe is not a terminal)."""
    result = run_cli("grade", str(SUBMISSIONS / "wrong" / "Z_sign"), env={"NO_COLOR": ""})
    assert "\033[" not in result.stdout


def test_student_prints_cannot_forge_the_report():
    """What student code prints is quoted in its own section, after the checks."""
    result = run_cli("grade", str(SUBMISSIONS / "hostile" / "forged_stdout"))
    report, _, printed = result.stdout.partition("Your code printed")
    assert "all checks passed" not in report
    assert "all checks passed" in printed


def test_a_grader_bug_still_writes_the_submissions_result(tmp_path):
    """Whatever a submission sets off inside the grader, results.json is written (exit 0, the
    traceback for staff on stderr), never a bare traceback with exit status 1."""
    driver = ("import sys, grader.grade\n"
              "def broken(*a, **k):\n"
              "    raise KeyError('a grader bug')\n"
              "grader.grade.evaluate = broken\n"
              "from grader.cli import main\n"
              "sys.exit(main(sys.argv[1:]))\n")
    out = tmp_path / "results.json"
    done = subprocess.run([sys.executable, "-c", driver, "grade", "reference", "--json", str(out),
                           "--quiet"], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())
    assert results["score"] == 0 and "the grader failed on this submission" in results["output"]
    assert "KeyError: 'a grader bug'" in done.stderr


def test_only_grades_some_components_out_of_their_points():
    """--only relu grades ReLU alone, out of its own points; an unknown name is a one-line
    configuration error listing the known ones."""
    done = run_cli("grade", "reference", "--rubric", "rubric.yaml", "--only", "relu")
    assert done.returncode == 0, done.stderr
    assert "Score: 1.5 / 1.5" in done.stdout and "W after __init__" not in done.stdout
    done = run_cli("grade", "reference", "--rubric", "rubric.yaml", "--only", "loss")
    assert "Score: 10 / 10" in done.stdout and "MSELoss" in done.stdout
    bad = run_cli("grade", "reference", "--rubric", "rubric.yaml", "--only", "relu6")
    assert bad.returncode == 2 and "no component 'relu6'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_rubric_check_summarises_every_component():
    """`make rubric` validates the homework and lists each component with its points."""
    done = run_cli("rubric", "--rubric", "rubric.yaml")
    assert done.returncode == 0, done.stderr
    assert "ok — 16 component(s)" in done.stdout and "100 points" in done.stdout
    assert "crossentropyloss" in done.stdout and "mytorch/nn/loss.py" in done.stdout


def test_readme_lists_the_homework_as_the_rubric_has_it():
    """The README's list of the homework (every component, its checks, its named mistakes) is
    what `python -m grader rubric --markdown` prints for rubric.yaml: regenerate it with that
    command when the rubric changes."""
    done = run_cli("rubric", "--rubric", "rubric.yaml", "--markdown")
    assert done.returncode == 0, done.stderr
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- homework: python -m grader rubric --markdown -->\n")
    end = readme.index("<!-- end of homework -->")
    listed = readme[start:end].split("\n", 1)[1]
    assert listed == done.stdout
    for comp in ("**BatchNorm1d** (20 points", "**SGD with momentum** (6 points", "**MLP4** (15"):
        assert comp in listed
