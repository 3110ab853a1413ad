"""The sandbox users' narrow view: what is covered stays covered, what the interpreter needs
stays visible, wherever it lives (a virtual environment inside the project, under /tmp...)."""
from __future__ import annotations

import os

import pytest

from grader.sandbox import linux

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mount namespaces need root")


def _in_child(check) -> int:
    """Run ``check`` in a forked child with a mount namespace of its own; its exit code."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if check() else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_cover_keeps_an_interpreter_folder_inside_the_covered_one(tmp_path):
    """Covering a project hides its files but not a virtual environment kept inside it."""
    project = tmp_path / "project"
    venv = project / ".venv" / "lib" / "site-packages"
    venv.mkdir(parents=True)
    (venv / "numpy_stub.py").write_text("x = 1\n")
    (project / "hidden.npz").write_text("secret")

    def check() -> bool:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(linux.CLONE_NEWNS) != 0:
            return False
        libc.mount(b"none", b"/", None, linux.MS_REC | linux.MS_PRIVATE, None)
        linux.cover([str(project)], [str(venv)])
        return (venv / "numpy_stub.py").is_file() and not (project / "hidden.npz").exists()

    assert _in_child(check) == 0


def test_narrow_view_hides_the_machine_but_not_the_interpreter(tmp_path):
    """In the narrow view, folders outside the system ones are empty, /tmp is not writable,
    the interpreter still imports, and the scratch folder is writable."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")

    def check() -> bool:
        ok = linux.narrow_view(linux.python_paths(), str(scratch))
        import json  # noqa: F401  (stdlib still importable)
        import numpy.testing  # noqa: F401  (a lazily imported package still importable)
        (scratch / "written").write_text("ok")
        try:
            (tmp_path / "outside").write_text("no")
            return False
        except OSError:
            pass
        return ok and not secret.exists() and (scratch / "written").is_file()

    assert _in_child(check) == 0


def test_private_scratch_is_in_memory_and_stays_private(tmp_path, monkeypatch):
    """The scratch folder becomes a tmpfs of the grading process (and of what it forks, such
    as the fork server in its narrow view), bounded in size; the machine never sees it, and
    a folder staged there by the grader is what a sandboxed child finds."""
    monkeypatch.setenv("NN_GRADER_SCRATCH", str(tmp_path / "base"))

    def check() -> bool:
        from grader import workspace

        if not workspace.private_scratch():
            return False
        scratch = workspace.scratch_dir()
        mounts = open("/proc/self/mountinfo").read()
        line = next(m for m in mounts.splitlines() if f" {scratch} " in m)
        (tmp_path / "base" / "scratch" / "staged.py").write_text("x = 1\n")
        pid = os.fork()
        if pid == 0:  # like the fork server: narrow view, then a sandbox user's read
            linux.narrow_view(linux.python_paths(), str(tmp_path / "base"))
            os._exit(0 if open(os.path.join(scratch, "staged.py")).read() == "x = 1\n" else 4)
        _, status = os.waitpid(pid, 0)
        return " - tmpfs " in line and f"size={workspace.SCRATCH_MB * 1024}k" in line \
            and os.waitstatus_to_exitcode(status) == 0

    assert _in_child(check) == 0
    assert not (tmp_path / "base" / "scratch" / "staged.py").exists()   # gone with the process
    assert str(tmp_path / "base" / "scratch") not in open("/proc/self/mountinfo").read()
