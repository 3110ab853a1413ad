"""The portable sandbox (macOS, Windows, Linux hosts where the fork server cannot start): the
same results as the Linux fork server, and no Linux-only call on its path."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import (FIXTURES, ROOT, SUBMISSIONS, assert_expected, expectation, materialise,
                      run_cli)

SHIM = FIXTURES / "nolinux"   # a sitecustomize that removes fork, /proc, prctl, resource...
SLOW = {"infinite_loop_import", "infinite_loop_forward", "sleep_backward", "memory_bomb",
        "print_flood", "sleeps_under_limits"}
# What a process running as the student cannot honestly survive or must not be run as one:
# killing its parent (the grader itself, here), writing all over the machine; forking, which
# the Linux-less interpreter does not have; a memory bomb with no memory limit to stop it.
SAME_USER_UNSAFE = {"kill_parent", "writes_files", "fork_background", "fork_bomb_lite",
                    "memory_bomb"}


def _corpus(skip: set[str] = frozenset()) -> list:
    out = []
    for category in ("correct", "wrong", "broken", "hostile"):
        for folder in sorted((SUBMISSIONS / category).iterdir()):
            if folder.name in skip:
                continue
            marks = [pytest.mark.slow] if folder.name in SLOW else []
            out.append(pytest.param(folder, id=f"{category}/{folder.name}", marks=marks))
    return out


def _verdict(report) -> dict:
    """What a student and a TA see of a report: score, status, each check's points and named
    mistakes."""
    return {"score": report.score, "status": report.status,
            "checks": {c.id: (c.score, c.status, tuple(c.mistakes)) for c in report.checks}}


@pytest.fixture(scope="module")
def portable():
    from grader.sandbox.portable import PortableSandbox

    sandbox = PortableSandbox(prestart=True)
    yield sandbox
    sandbox.close()


@pytest.fixture(scope="module")
def linux():
    from grader.sandbox.backend import linux_supported
    from grader.sandbox.client import Zygote

    if not linux_supported():
        pytest.skip("the Linux fork server needs Linux")
    zygote = Zygote()
    yield zygote
    zygote.close()


@pytest.mark.parametrize("folder", _corpus(skip={"kill_parent"} if os.geteuid() != 0 else set()))
def test_backends_give_the_same_results(folder, rubric, vectors, linux, portable):
    """Every fixture: the same score, status, per-check points and named mistakes. (The fork
    server first: as root it mounts the scratch folders both use.)"""
    from grader.grade import grade_path

    if folder.name == "writes_files" and os.geteuid() != 0:
        pytest.skip("needs root, so that student code runs as a sandbox user")
    on_linux = grade_path(folder, rubric, vectors, linux)
    on_portable = grade_path(folder, rubric, vectors, portable)
    assert _verdict(on_portable) == _verdict(on_linux)
    if on_linux.status != "rejected":   # a refused upload never reaches a sandbox
        assert on_portable.sandbox.startswith("portable")
        assert on_linux.sandbox.startswith("Linux")


_DRIVER = """
import json, sys
from pathlib import Path
from grader import rubric, vectors
from grader.grade import grade_path
from grader.sandbox.backend import open_sandbox
import yaml
homework, linear = rubric.load(Path(sys.argv[1])), rubric.load(Path(sys.argv[2]))
vecs = {homework.path: vectors.load(homework), linear.path: vectors.load(linear)}
sandbox = open_sandbox()
out = {"backend": sandbox.name, "reports": {}}
for folder in sys.argv[3:]:
    want = Path(folder) / "expect.yaml"   # a fixture says which components it holds
    only = (yaml.safe_load(want.read_text()) or {}).get("only") if want.is_file() else None
    rub = homework.only(only) if only else linear
    out["reports"][folder] = grade_path(Path(folder), rub, vecs[rub.path], sandbox).to_dict()
sandbox.close()
print(json.dumps(out))
"""


def _without_linux(folders: list[Path], timeout: float = 600) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "NN_GRADER_SANDBOX"}
    env["PYTHONPATH"] = os.pathsep.join([str(SHIM), str(ROOT)])
    done = subprocess.run([sys.executable, "-c", _DRIVER, str(ROOT / "rubric.yaml"),
                           str(ROOT / "rubrics" / "linear.yaml"), *map(str, folders)], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_the_shim_takes_the_linux_calls_away():
    """The emulation is real: under it the grader's interpreter has none of those calls."""
    probe = ("import os, socket, ctypes\n"
             "missing = [not hasattr(os, 'fork'), not hasattr(socket, 'send_fds'),\n"
             "           not hasattr(os, 'writev'), not hasattr(os, 'readv'),\n"
             "           not hasattr(socket, 'SOCK_SEQPACKET'), not hasattr(os, 'geteuid')]\n"
             "for name in ('resource', 'fcntl'):\n"
             "    try: __import__(name); missing.append(False)\n"
             "    except ImportError: missing.append(True)\n"
             "try: open('/proc/self/statm'); missing.append(False)\n"
             "except OSError: missing.append(True)\n"
             "try: ctypes.CDLL(None); missing.append(False)\n"
             "except OSError: missing.append(True)\n"
             "print(all(missing))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SHIM), str(ROOT)]))
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.stdout.strip() == "True", done.stderr


def test_corpus_graded_without_linux_only_calls():
    """With fork, SOCK_SEQPACKET, send_fds, prctl, /proc, resource and fcntl unavailable, the
    portable sandbox is chosen on its own and every fixture a same-user process can honestly
    handle gets its expected result."""
    folders = [p.values[0] for p in _corpus(skip=SAME_USER_UNSAFE | SLOW)]
    out = _without_linux([materialise(f) for f in folders])
    assert out["backend"] == "portable"
    from grader.report import Report

    for folder in folders:
        report = Report.from_dict(out["reports"][str(materialise(folder))])
        assert report.status == "rejected" or report.sandbox.startswith("portable")
        assert_expected(report, expectation(folder), correct=folder.parent.name == "correct")


@pytest.mark.slow
def test_loops_and_floods_without_linux_only_calls():
    """Infinite loops at import and in a call, a sleeping backward and a print flood are
    stopped by the parent's wall-time limit and the child's capture alone."""
    folders = [SUBMISSIONS / "hostile" / n for n in sorted(SLOW - {"memory_bomb"})]
    out = _without_linux(folders)
    for folder in folders:
        from grader.report import Report

        report = Report.from_dict(out["reports"][str(folder)])
        assert_expected(report, expectation(folder))


def test_forced_backend_is_named_in_the_report(tmp_path):
    """NN_GRADER_SANDBOX=portable is obeyed, and the report says which sandbox ran."""
    done = run_cli("grade", "reference", env={"NN_GRADER_SANDBOX": "portable"})
    assert done.returncode == 0, done.stderr
    assert "Score: 100 / 100" in done.stdout
    assert "Sandbox: portable (a fresh Python per submission" in done.stdout


def test_unknown_backend_is_a_configuration_error():
    done = run_cli("grade", "reference", env={"NN_GRADER_SANDBOX": "jail"})
    assert done.returncode == 2
    assert "NN_GRADER_SANDBOX='jail': use one of linux, portable" in done.stderr


def test_a_python_that_cannot_start_the_sandbox_is_the_graders_fault(tmp_path, monkeypatch,
                                                                     rubric, vectors):
    """The sandbox's interpreter failing before any student code ran (numpy missing) is a
    grader error that says why, never a student's 0."""
    from grader.errors import GraderError
    from grader.grade import grade_path
    from grader.sandbox import portable, portable_boot

    (tmp_path / "numpy.py").write_text("raise ImportError('numpy is not installed here')\n")
    monkeypatch.setattr(portable_boot, "child_env",
                        lambda: {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])})
    sandbox = portable.PortableSandbox(prestart=False)
    try:
        with pytest.raises(GraderError, match="could not start: ImportError: numpy is not "
                                              "installed here"):
            grade_path(ROOT / "reference", rubric, vectors, sandbox)
    finally:
        sandbox.close()


def test_child_environment_holds_nothing_of_the_graders(monkeypatch):
    """Only what the interpreter needs reaches the portable child's environment."""
    from grader.sandbox import portable_boot

    monkeypatch.setenv("NN_GRADER_CANARY", "s3cret")
    env = portable_boot.child_env()
    assert "NN_GRADER_CANARY" not in env
    assert set(env) <= set(portable_boot.KEEP_ENV) | {"PYTHONPATH"}


def test_a_slow_interpreter_start_is_not_the_students_time(tmp_path, monkeypatch,
                                                          homework_vectors):
    """On a slow laptop the sandbox's Python may take seconds to start. That time counts
    against no limit of the student's: not the import's, not a call's, not the submission's
    total, even when the requests (over a pipe's size) wait for the child to start reading."""
    import yaml

    from grader import rubric as rubric_mod
    from grader.grade import grade_path
    from grader.sandbox import portable, portable_boot

    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / "sitecustomize.py").write_text("import time\ntime.sleep(4)\n")
    env = portable_boot.child_env()
    monkeypatch.setattr(portable_boot, "child_env", lambda: dict(
        env, PYTHONPATH=os.pathsep.join([str(slow), env["PYTHONPATH"]])))
    raw = yaml.safe_load((ROOT / "rubric.yaml").read_text())
    raw["limits"].update(call_seconds=1, import_seconds=1, total_seconds=3)
    raw["vectors"], raw["reference"] = str(ROOT / "vectors"), str(ROOT / "reference")
    (tmp_path / "rubric.yaml").write_text(yaml.safe_dump(raw))
    rub = rubric_mod.load(tmp_path / "rubric.yaml")
    sandbox = portable.PortableSandbox(prestart=False)
    try:
        report = grade_path(ROOT / "reference", rub, homework_vectors, sandbox)
    finally:
        sandbox.close()
    assert report.score == report.max_score, report.summary
