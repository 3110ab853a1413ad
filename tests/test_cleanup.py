"""The grader always writes a result and removes its scratch folder, whatever is left in it:
folders thousands deep, folders without permissions, a full scratch space."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, SUBMISSIONS
from grader import workspace
from grader.tree import remove_tree

REFERENCE = ROOT / "reference" / "mytorch"


def chain(top: Path, depth: int, every: int = 0, outside: Path | None = None) -> None:
    """A folder chain ``depth`` deep under ``top`` (made relative to open folders: its paths
    outgrow PATH_MAX), with a file and a link to ``outside`` every ``every`` levels."""
    fd = os.open(top, os.O_RDONLY)
    try:
        for i in range(depth):
            os.mkdir("d" * 40, dir_fd=fd)
            if every and i % every == 0:
                os.close(os.open("f", os.O_CREAT | os.O_WRONLY, 0o600, dir_fd=fd))
                if outside is not None:
                    os.symlink(outside, "link", dir_fd=fd)
            child = os.open("d" * 40, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)


def test_remove_tree_deeper_than_any_path(tmp_path):
    """A chain 3000 folders deep (120 KB of path) goes entirely; links in it are removed,
    not followed."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not the grader's to remove")
    top = tmp_path / "scratch"
    top.mkdir()
    chain(top, 3000, every=100, outside=outside)
    assert remove_tree(top) == 0
    assert not top.exists()
    assert (outside / "keep.txt").read_text() == "not the grader's to remove"


def test_remove_tree_of_nothing(tmp_path):
    """A path that is not there, or a plain file, is no error."""
    assert remove_tree(tmp_path / "missing") == 0
    (tmp_path / "file").write_text("x")
    assert remove_tree(tmp_path / "file") == 0 and not (tmp_path / "file").exists()


def as_other_user(fn) -> int:
    """Run ``fn`` as an unprivileged user (forked and setuid to nobody when root); its result
    is the exit status, 99 for an exception."""
    if os.geteuid() != 0:
        return fn()
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(65534)
            os.setuid(65534)
            os._exit(fn())
        except BaseException:  # noqa: BLE001 (a forked child must never return into pytest)
            os._exit(99)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@pytest.fixture
def shared_tmp():
    """A folder an unprivileged user can reach (tmp_path lies under a folder only root may)."""
    folder = Path(tempfile.mkdtemp())
    if os.geteuid() == 0:
        os.chown(folder, 65534, 65534)
    yield folder
    remove_tree(folder)


def test_remove_tree_restores_permissions(shared_tmp):
    """As the user who owns the tree, folders chmod 000 (the top one too), read-only and
    search-only folders are all removed."""
    top = shared_tmp / "scratch"

    def run() -> int:
        top.mkdir()
        chain(top, 500, every=50)
        deep = top.joinpath(*["d" * 40] * 10)
        os.chmod(deep, 0)
        os.chmod(top.joinpath(*["d" * 40] * 5), 0o100)
        os.chmod(top.joinpath(*["d" * 40] * 2), 0o500)
        os.chmod(top, 0)
        return min(remove_tree(top), 98) or (top.exists() and 97) or 0

    assert as_other_user(run) == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a folder of another user inside the tree")
def test_remove_tree_removes_what_it_can(shared_tmp):
    """A folder it may not empty (another user's) is counted as left, not raised; the rest
    goes."""
    top = shared_tmp / "scratch"
    top.mkdir()
    os.chown(top, 65534, 65534)
    (top / "roots").mkdir()
    (top / "roots" / "locked.txt").write_text("x")
    (top / "mine").mkdir()
    os.chown(top / "mine", 65534, 65534)

    def run() -> int:
        (top / "mine" / "a.txt").write_text("x")
        return min(remove_tree(top), 98)

    assert as_other_user(run) > 0
    assert sorted(p.name for p in top.iterdir()) == ["roots"]


def leftovers() -> set[str] | None:
    """What is in the scratch folder now, when it is this process's own (a private tmpfs):
    elsewhere other graders on the machine share it."""
    folder = workspace.scratch_dir()
    if folder is None or not os.path.ismount(folder):
        return None
    return {n for n in os.listdir(folder) if n.startswith("grader-")}


def test_deep_tree_then_next_submission(grade):
    """A submission whose code buries its scratch folder (3000 deep, chmod 000) gets full
    marks; the scratch folder is gone; the next submission is graded normally."""
    before = leftovers()
    first = grade(SUBMISSIONS / "hostile" / "deep_tree")
    second = grade(SUBMISSIONS / "correct" / "matmul")
    assert (first.status, first.score) == ("graded", first.max_score)
    assert (second.status, second.score) == ("graded", second.max_score)
    if before is not None:
        assert leftovers() == before


def test_archive_with_deep_paths(grade, tmp_path):
    """An archive whose junk is nested 500 folders deep grades, and leaves nothing behind."""
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for f in REFERENCE.rglob("*.py"):
            zf.write(f, "hw1/mytorch/" + f.relative_to(REFERENCE).as_posix())
        zf.writestr("hw1/" + "n/" * 500 + "notes.txt", "deep")
    before = leftovers()
    report = grade(path)
    assert (report.status, report.score) == ("graded", report.max_score)
    if before is not None:
        assert leftovers() == before


FULL_SCRATCH = """
import json, os, subprocess, sys
from pathlib import Path
from grader import rubric, vectors, workspace
from grader.grade import grade_path
from grader.sandbox.client import Zygote

zygote = Zygote()        # as root: a private tmpfs on the scratch folder, shared with it
folder = workspace.scratch_dir()
if not os.path.ismount(folder):
    print(json.dumps("no private scratch"))
    sys.exit(0)
# the same tmpfs, now too small for a 1 MB file (a size change reaches every view of it)
subprocess.run(["mount", "-o", "remount,size=256k", folder], check=True)
rub = rubric.load(Path(sys.argv[1]))
vecs = vectors.load(rub)
out = []
for path in sys.argv[2:]:
    report = grade_path(Path(path), rub, vecs, zygote)
    out.append([report.status, report.score, report.summary])
out.append(sorted(os.listdir(folder)))
print(json.dumps(out))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a small scratch space")
def test_full_scratch_space(tmp_path):
    """ENOSPC while extracting or copying: the submission is rejected with a sentence saying
    so (not a traceback), its scratch folder is removed, and the next one is graded."""
    big = os.urandom(1 << 20)
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in REFERENCE.rglob("*.py"):
            zf.write(f, "mytorch/" + f.relative_to(REFERENCE).as_posix())
        zf.writestr("mytorch/nn/weights.bin", big)
    folder = tmp_path / "bigfolder"
    shutil.copytree(REFERENCE, folder / "mytorch")
    (folder / "mytorch" / "nn" / "weights.bin").write_bytes(big)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NN_GRADER_SCRATCH": str(tmp_path / "base")}
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", sys.executable, "-c", FULL_SCRATCH,
         str(ROOT / "rubrics" / "linear.yaml"), str(archive), str(folder),
         str(SUBMISSIONS / "correct" / "matmul")],
        env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    if out == "no private scratch":
        pytest.skip("the kernel refuses a private tmpfs here")
    (zipped, copied, normal, left) = out
    assert zipped[:2] == ["rejected", 0] and "big.zip could not be unpacked: the grader ran " \
        "out of space (No space left on device). This is not your fault" in zipped[2]
    assert copied[:2] == ["rejected", 0] and "could not be copied: the grader ran out of " \
        "space" in copied[2]
    assert normal[:2] == ["graded", 100]
    assert [n for n in left if n.startswith("grader-")] == []
    assert "Traceback" not in done.stderr
