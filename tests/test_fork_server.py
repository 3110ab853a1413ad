"""The fork server's hand-over: a child asked for ahead and taken later, a child ordered and
no longer wanted given back, and a child killed without waiting (a grader that exits next)
collected later; a `grade` command leaves no sandbox process behind."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from grader.sandbox.backend import chosen
from grader.workspace import UID_BASE, UID_COUNT

from conftest import FIXTURES, run_cli

linux = pytest.mark.skipif(chosen() != "linux", reason="the Linux fork server")


@pytest.fixture
def server():
    from grader.sandbox.client import Zygote

    z = Zygote(narrow=False)
    yield z
    z.close()


@pytest.fixture
def root(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "mod.py").write_text("class Thing:\n    def one(self):\n        return 1\n")
    return tmp_path


def _children(pid: int) -> set[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return {int(p) for p in f.read().split()}


def _state(pid: int) -> str | None:
    """A process's state letter (Z: dead, not yet collected), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def _works(child) -> bool:
    if not child.ready(10).ok:
        return False
    reply = child.request({"op": "import", "classes": [
        {"key": "t", "module": "pkg.mod", "cls": "Thing"}]}, timeout=10)
    return reply.ok and not reply.failed and \
        child.request({"op": "construct", "cls": "t", "args": [], "kwargs": {}}).ok


def _until(condition, seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@linux
def test_child_ordered_ahead_is_the_one_spawned(server, root):
    """order() asks at once; spawn() with the same limits takes that child (no second fork)."""
    server.order({"output_kb": 8})
    assert _until(server.answered)
    ordered = _children(server.pid)
    assert len(ordered) == 1
    child = server.spawn(root, {"output_kb": 8})
    assert {child.pid} == ordered == _children(server.pid)
    assert _works(child)
    child.close()
    assert _children(server.pid) == set()


@linux
def test_child_ordered_and_not_wanted_is_given_back(server, root):
    """A spawn with other limits than the order's gets a child of its own; the one ordered
    is killed and collected, not left running."""
    server.order({"output_kb": 8})
    assert _until(server.answered)
    (unwanted,) = _children(server.pid)
    child = server.spawn(root, {"output_kb": 16})
    assert child.pid != unwanted and _state(unwanted) is None
    assert _children(server.pid) == {child.pid}
    assert _works(child)
    child.close()


@linux
def test_child_closed_without_waiting_dies_at_once_and_is_collected(server, root):
    """close(wait=False) kills the child from the grader at once and returns; the server
    collects it meanwhile (no zombie left for the system), and the next request still gets
    its own answer."""
    child = server.spawn(root, {})
    assert _works(child)
    assert child.close(wait=False) is None
    assert _until(lambda: _state(child.pid) is None, 2.0)
    nxt = server.spawn(root, {})
    assert _children(server.pid) == {nxt.pid}
    assert _works(nxt)
    assert nxt.close() is not None   # a reap waited for: its own answer, an exit code


@pytest.mark.skipif(os.geteuid() != 0, reason="sandbox users exist as root only")
def test_grade_command_leaves_no_sandbox_process():
    """The one-submission grader does not wait for its child to be gone, yet nothing of the
    student's is left once the command has returned (the fork server collected the child)."""
    def sandboxed() -> list[str]:
        out = subprocess.run(["ps", "-eo", "uid=,stat="], capture_output=True,
                             text=True).stdout.split("\n")
        return [line for line in out if line.split()
                and UID_BASE <= int(line.split()[0]) < UID_BASE + UID_COUNT]

    before = sandboxed()
    done = run_cli("grade", str(FIXTURES / "submissions" / "correct" / "matmul"))
    assert done.returncode == 0, done.stderr
    assert _until(lambda: sandboxed() == before, 1.0), sandboxed()
