"""Where and as whom student code runs.

As root (as on Gradescope, or a TA's grading server) every submission is copied or extracted
into a scratch folder owned by a sandbox user of its own, and runs as that user, with the
project's secret folders covered. As an ordinary user (a student's laptop) a folder is graded
where it is, as that user: the student's own code, on the student's own machine."""
from __future__ import annotations

import contextlib
import os
import sys
from grader.records import record
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:   # staging's modules are imported where they are used: a grading run opens
    from grader.rubric import Rubric   # its sandbox (private_scratch) before it needs them

UID_BASE = 61000


@record(frozen=True)
class Staged:
    """A submission ready to be graded: its root folder, or why it was refused."""
    name: str
    root: Path | None
    refused: str = ""


UID_COUNT = 256
LEASES = "/run/nn-grader/uids"   # machine-wide, like the uids themselves


def is_root() -> bool:
    """True when grading as root (POSIX only: Windows has no uids, and grades as the user)."""
    geteuid = getattr(os, "geteuid", None)
    return geteuid is not None and geteuid() == 0


@contextlib.contextmanager
def uid_lease() -> Iterator[int | None]:
    """As root, a sandbox user id no other grader on this machine holds meanwhile (a lock file
    per uid in one folder for the whole machine, whatever NN_GRADER_SCRATCH says, so parallel
    graders, pool workers and Dask workers never share one); None otherwise."""
    if not is_root():
        yield None
        return
    import fcntl

    base = int(os.environ.get("NN_GRADER_UID_BASE", UID_BASE))
    folder = Path(LEASES)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for uid in range(base, base + UID_COUNT):
        fd = os.open(folder / str(uid), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            yield uid
        finally:
            os.close(fd)  # closing releases the lock
        return
    raise RuntimeError(f"all {UID_COUNT} sandbox uids from {base} are in use")


def scratch_base() -> str | None:
    """As root, the grader's own folder (outside the folders the sandbox covers, such as
    /tmp): sandbox uid locks, and scratch folders under ``scratch``; None otherwise."""
    if not is_root():
        return None
    base = os.environ.get("NN_GRADER_SCRATCH", "/var/cache/nn-grader")
    if base not in _made:
        for folder in (base, os.path.join(base, "scratch")):
            os.makedirs(folder, mode=0o711, exist_ok=True)
            os.chmod(folder, 0o711)  # the sandbox users may pass through, not list
        _made.add(base)
    return base


_made: set[str] = set()
_private: set[str] = set()
SCRATCH_MB = 512


def scratch_dir() -> str | None:
    """Where scratch folders go: as root, ``scratch`` in the grader's folder (a private tmpfs
    when ``private_scratch`` could mount one); otherwise the system default."""
    base = scratch_base()
    return None if base is None else os.path.join(base, "scratch")


def private_scratch() -> bool:
    """As root, before the fork server starts: a tmpfs of this process's own (at most
    SCRATCH_MB, gone when the process ends) over the scratch folder. Submissions are copied
    and extracted in memory instead of on disk, where creating and deleting thousands of
    small files is slow; and what a submission writes is bounded. Only in a process without
    other threads (a mount namespace belongs to a thread); False where it cannot be had (not
    root, a container without mount rights): the scratch folder is then on disk."""
    import threading

    from grader.sandbox import linux

    folder = scratch_dir()
    if folder is None or threading.active_count() != 1:
        return False
    if folder not in _private:
        if not linux.private_tmpfs(folder, f"size={SCRATCH_MB}m,mode=0711"):
            return False
        _private.add(folder)
    return True


def secret_paths(rubric: Rubric, extra: tuple[Path, ...] = ()) -> list[str]:
    """Folders student code must not see: the project (rubric, reference, vectors) and outputs."""
    paths = {rubric.path.resolve().parent, rubric.vectors_dir.resolve(), *extra}
    if rubric.reference_dir is not None:
        paths.add(rubric.reference_dir.resolve())
    return sorted(str(p) for p in paths)


_warned: set[str] = set()


def warn_open(paths: list[str]) -> list[str]:
    """Where only permissions keep student code out (root without a narrow view: a container
    without mount rights, or the portable sandbox), say on stderr, once per folder, which
    secret folder (rubric, vectors, reference, outputs) a sandbox user could still read. Staff
    see it; the student's report never names it. Returns the folders found open."""
    found = [p for p in paths if os.path.exists(p) and open_to_others(p)]
    for path in found:
        if path not in _warned:
            _warned.add(path)
            sys.stderr.write(
                f"grader: warning: {path} can be read by other users, and student code runs "
                f"with permissions as its only fence here (no narrow view of the machine): make "
                f"it root-only, e.g. chmod -R go-rwx {path}\n")
    return found


def open_to_others(path: str) -> bool:
    """True when a user who is neither the owner nor in the group can read ``path``: every
    folder above it can be entered, and it can be read (and entered, if a folder)."""
    import stat

    from grader.sandbox.portable_boot import reachable_by_others

    real = os.path.realpath(path)
    try:
        mode = os.stat(real).st_mode
    except OSError:
        return False
    need = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0)
    return reachable_by_others(os.path.dirname(real)) and mode & need == need


@record
class Lease:
    """A submission staged for grading, and the sandbox uid it was staged for."""
    staged: Staged
    uid: int | None


@contextlib.contextmanager
def staging(path: Path, rubric: Rubric) -> Iterator[Lease]:
    """Stage a submission folder or archive for grading (as root: for a sandbox user of its
    own, in a scratch folder); the scratch folder is removed afterwards, as far as possible,
    whatever the student's code left there."""
    from grader.trace import mark

    with uid_lease() as uid:
        # always a scratch folder: an archive is extracted there, a lone file put where the
        # handout puts it, and as root every submission is copied there for its sandbox user
        scratch = make_folder(scratch_dir() or temp_dir(), "grader-")
        try:
            staged = stage(path, scratch, rubric, uid)
            mark("staged")
            yield Lease(staged, uid)
        finally:
            # folders thousands deep, folders chmod 000: removed as far as possible, and
            # never an exception in place of the result
            from grader import tree

            left = tree.remove_tree(scratch)
            if left:
                print(f"grader: note: {left} entries left in {scratch}", file=sys.stderr)


def temp_dir() -> str:
    """The system's folder for temporary files, as tempfile finds it: TMPDIR, TEMP or TMP
    (macOS and Windows always set one), else /tmp; tempfile itself only where none of these
    is a writable folder."""
    for candidate in (*(os.environ.get(v) for v in ("TMPDIR", "TEMP", "TMP")),
                      None if os.name == "nt" else "/tmp"):
        if candidate and os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK):
            return candidate
    import tempfile

    return tempfile.gettempdir()


def make_folder(parent: str | Path, prefix: str) -> Path:
    """A new folder of a random name in ``parent``, readable by this user alone (what
    tempfile.mkdtemp makes; importing tempfile costs a grading run milliseconds)."""
    for _ in range(100):
        path = Path(parent) / f"{prefix}{os.urandom(8).hex()}"
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no unused folder name in {parent}")


def stage(src: Path, scratch: Path, rubric: Rubric, uid: int | None) -> Staged:
    """Make ``src`` (a folder, an archive, or the one file a student edits) a folder laid out
    like the handout, or say why it cannot be.

    As root, whatever is graded is first copied or extracted into ``scratch``, as plain files
    (a link only to a file inside the submission, never a file with other hard links), and
    handed to the sandbox user ``uid``. As an ordinary user a folder laid out like the handout
    is graded where it is, links and all: the code runs as that user, so a link reaches nothing
    the user could not read anyway. Either way a submission that is itself a link is refused
    (a batch entry must not lead to the grader's files)."""
    from grader import archive, intake

    name = archive.student_id(src)
    try:
        found = intake.gather(src, scratch, rubric)
        if found.root is None and not found.lone:
            raise archive.UnsafeArchive(intake.missing(rubric, found))
        if found.root is None:
            root = intake.place(found, scratch / "placed")
        elif uid is not None and not found.staged:
            root = _copy_code(found.root, scratch / "submission", rubric, found.boundary)
        else:
            root = found.root
    except archive.UnsafeArchive as exc:
        return Staged(name, None, str(exc))
    if uid is not None:
        _give(scratch, uid)
    return Staged(name, root)


def _copy_code(root: Path, target: Path, rubric: Rubric, boundary: Path | None) -> Path:
    """Copy what the layer's import can reach: its top-level package and top-level modules
    (not data, virtual environments or the grader a student keeps beside them)."""
    from grader import archive

    packages = set(rubric.packages)
    archive.copy_tree(root, target, boundary=boundary,
                      top=lambda name: name in packages or name.endswith(".py"))
    return target


def _give(folder: Path, uid: int) -> None:
    """Hand a scratch folder to the sandbox user, closed to everyone else (never following a
    link, and without recursion: the tree is as deep as an archive's names allow)."""
    os.chown(folder, uid, uid)
    os.chmod(folder, 0o700)
    from grader import tree

    for rel, _ in tree.walk(folder, max_depth=1 << 20, max_entries=1 << 62):
        os.chown(folder.joinpath(*rel.parts), uid, uid, follow_symlinks=False)
