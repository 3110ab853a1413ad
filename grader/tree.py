"""Submission trees: what in them is not the student's code, and removing them whatever they hold.

Both are used on archives' member names and on folders alike, so a virtual environment or a
cache is left out the same way wherever it comes from."""
from __future__ import annotations

import os
import stat
from collections import deque
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator

# Never the student's code: left out before any link or size rule sees them (a student's own
# virtual environment, full of links and megabytes of packages, is no reason to refuse a
# submission).
SKIP_DIRS = frozenset({".venv", "venv", "__pycache__", "__MACOSX", ".git", "site-packages",
                       ".ipynb_checkpoints", ".pytest_cache", ".mypy_cache"})
SKIP_FILES = frozenset({".DS_Store", "Thumbs.db"})
VENV_MARK = "pyvenv.cfg"
# What `python -m venv DIR` puts in DIR: all of it is left out when DIR is named like a
# virtual environment, only these when DIR may also hold code (`python -m venv .`).
VENV_PARTS = frozenset({VENV_MARK, "bin", "Scripts", "lib", "lib64", "Lib", "include",
                        "Include", "share", "etc"})
VENV_NAMES = frozenset({".venv", "venv", "env", ".env"})


def skipped_name(name: str, is_dir: bool) -> bool:
    """A file or folder left out by its name alone (caches, version control, macOS extras)."""
    if is_dir:
        return name in SKIP_DIRS
    return name in SKIP_FILES or name.startswith("._")  # AppleDouble files of macOS tar


def venv_skips(names: Iterable[str]) -> frozenset[str]:
    """Of a folder's entries, those that belong to a virtual environment made in it."""
    names = set(names)
    return frozenset(names & VENV_PARTS) if VENV_MARK in names else frozenset()


class MemberFilter:
    """Which members of an archive to leave out, from the names along each one's path."""

    def __init__(self, paths: Iterable[tuple[str, ...]]) -> None:
        self.venvs: set[tuple[str, ...]] = {p[:-1] for p in paths if p and p[-1] == VENV_MARK}

    def skipped(self, parts: tuple[str, ...], is_dir: bool) -> bool:
        """Left out: by a name along its path, or as part of a virtual environment."""
        if any(skipped_name(d, True) for d in parts[:-1]) or \
                (parts and skipped_name(parts[-1], is_dir)):
            return True
        for i in range(len(parts)):
            if parts[:i] in self.venvs:
                if i > 0 and parts[i - 1] in VENV_NAMES:
                    return True
                if parts[i] in VENV_PARTS:
                    return True
        return False


def walk(folder: Path, max_depth: int, max_entries: int) -> Iterator[tuple[PurePosixPath, str]]:
    """(path relative to ``folder``, kind) of each entry a student's code could be in, breadth
    first, never following links: kind is "dir", "file", "link" or "other". Stops quietly after
    ``max_entries`` entries or below ``max_depth`` folders (a tree of any size costs little)."""
    queue, seen = deque([PurePosixPath()]), 0
    while queue:
        rel = queue.popleft()
        try:
            with os.scandir(folder.joinpath(*rel.parts)) as it:
                found = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        names = [e.name for e in found]
        venv = venv_skips(names)
        for entry in found:
            what = kind(entry)
            if entry.name in venv or skipped_name(entry.name, what == "dir"):
                continue
            if what == "dir" and holds_venv(entry):
                continue
            seen += 1
            if seen > max_entries:
                return
            yield rel / entry.name, what
            if what == "dir" and len(rel.parts) + 1 < max_depth:
                queue.append(rel / entry.name)


def kind(entry: os.DirEntry) -> str:
    """"dir", "file", "link" or "other" (a pipe, socket, device), never following a link."""
    try:
        if entry.is_symlink():
            return "link"
        if entry.is_dir(follow_symlinks=False):
            return "dir"
        return "file" if entry.is_file(follow_symlinks=False) else "other"
    except OSError:
        return "other"


def holds_venv(entry: os.DirEntry) -> bool:
    """A folder named like a virtual environment that is one."""
    return entry.name in VENV_NAMES and os.path.lexists(os.path.join(entry.path, VENV_MARK))


# --- removal ----------------------------------------------------------------------------------

_FD_OPS = ({os.open, os.unlink, os.rmdir, os.rename, os.stat, os.chmod} <= os.supports_dir_fd
           and os.scandir in os.supports_fd)
_DIR_FLAGS = (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
              | getattr(os, "O_CLOEXEC", 0))
MAX_REMOVALS = 10_000_000   # a tree something keeps filling is given up on, not chased forever


def remove_tree(path: str | os.PathLike) -> int:
    """Remove ``path`` and all it holds; never raises, never follows a link. Returns how many
    entries are left (0: all gone).

    Folders nested thousands deep, folders without permissions (a sandbox user may chmod its
    own 000) and names too long for a path are all removed: each subfolder is first moved up
    into ``path`` itself, so no path is ever more than two names long and nothing recurses."""
    path = os.fspath(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return 0
    except OSError:
        return 1
    if not stat.S_ISDIR(st.st_mode):
        return _retry(lambda: os.unlink(path), lambda: None)
    try:
        left = (_FdRemover if _FD_OPS else _PathRemover)(path).run()
    except OSError:
        left = 1
    return left + _retry(lambda: os.rmdir(path), lambda: os.chmod(path, 0o700))


def _retry(op, fix) -> int:
    """Run ``op``; after a permission error, ``fix`` (give permissions back) and run it again.
    0 if it worked or there was nothing to do, 1 if not."""
    for attempt in (0, 1):
        try:
            op()
            return 0
        except FileNotFoundError:
            return 0
        except PermissionError:
            if attempt:
                return 1
            try:
                fix()
            except OSError:
                return 1
        except OSError:
            return 1
    return 1


class _Remover:
    """Empty a folder: remove its files, move its subfolders up into it and empty those in
    turn. Subclasses say how to reach a folder (by open folder, or by path)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.done = 0
        self.left = 0

    def run(self) -> int:
        top = self.enter(None)
        if top is None:
            return 1
        try:
            pending = self.empty(top, top, move=False)
            while pending and self.done < MAX_REMOVALS:
                name = pending.pop()
                folder = self.enter(name, top)
                if folder is None:
                    self.left += 1
                    continue
                try:
                    pending += self.empty(folder, top, move=True)
                finally:
                    self.leave(folder)
                self.left += _retry(lambda: self.rmdir(name, top), lambda: self.unlock(top))
            return self.left + len(pending)
        finally:
            self.leave(top)

    def empty(self, folder, top, move: bool) -> list[str]:
        """Remove the files of ``folder``; return its subfolders' names in ``top`` (moved there
        first unless ``folder`` is ``top``)."""
        self.unlock(folder)
        found = []
        try:
            entries = self.entries(folder)
        except OSError:
            self.left += 1
            return found
        for entry in entries:
            self.done += 1
            name = entry.name
            if kind(entry) != "dir":
                self.left += _retry(lambda: self.unlink(name, folder),
                                    lambda: self.unlock(folder))
            elif not move:
                found.append(name)
            else:
                new = self.fresh(top)
                if _retry(lambda: self.move(name, folder, new, top),
                          lambda: self.unlock_child(name, folder)):
                    self.left += 1
                else:
                    found.append(new)
        return found

    def fresh(self, top) -> str:
        """A name not yet used in ``top``."""
        while True:
            self.done += 1
            name = f".removing-{self.done}"
            if not self.exists(name, top):
                return name


class _FdRemover(_Remover):
    """By open folders (Linux, macOS): a folder swapped for a link meanwhile is not followed."""

    def enter(self, name: str | None, top: int | None = None) -> int | None:
        """Open a folder (never a link to one), giving it back its permissions if need be."""
        path, dir_fd = (self.path, None) if name is None else (name, top)
        for attempt in (0, 1):
            try:
                return os.open(path, _DIR_FLAGS, dir_fd=dir_fd)
            except PermissionError:
                if attempt:
                    return None
                try:
                    if not stat.S_ISDIR(os.stat(path, dir_fd=dir_fd,
                                                follow_symlinks=False).st_mode):
                        return None
                    os.chmod(path, 0o700, dir_fd=dir_fd)
                except OSError:
                    return None
            except OSError:
                return None
        return None

    def leave(self, folder: int) -> None:
        os.close(folder)

    def entries(self, folder: int) -> list[os.DirEntry]:
        with os.scandir(folder) as it:
            return list(it)

    def unlock(self, folder: int) -> None:
        try:
            os.fchmod(folder, 0o700)
        except OSError:
            pass

    def unlock_child(self, name: str, folder: int) -> None:
        """Moving a folder rewrites its "..": it must be writable itself."""
        if stat.S_ISDIR(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode):
            os.chmod(name, 0o700, dir_fd=folder)

    def unlink(self, name: str, folder: int) -> None:
        os.unlink(name, dir_fd=folder)

    def rmdir(self, name: str, top: int) -> None:
        os.rmdir(name, dir_fd=top)

    def move(self, name: str, folder: int, new: str, top: int) -> None:
        os.rename(name, new, src_dir_fd=folder, dst_dir_fd=top)

    def exists(self, name: str, top: int) -> bool:
        try:
            os.stat(name, dir_fd=top, follow_symlinks=False)
        except FileNotFoundError:
            return False
        except OSError:
            return True
        return True


class _PathRemover(_Remover):
    """By paths, where folders cannot be opened (Windows): the paths stay two names long."""

    def enter(self, name: str | None, top: str | None = None) -> str | None:
        return self.path if name is None else os.path.join(self.path, name)

    def leave(self, folder: str) -> None:
        pass

    def entries(self, folder: str) -> list[os.DirEntry]:
        for attempt in (0, 1):
            try:
                with os.scandir(folder) as it:
                    return list(it)
            except PermissionError:
                if attempt:
                    raise
                self.unlock(folder)
        return []

    def unlock(self, folder: str) -> None:
        try:
            os.chmod(folder, 0o700)
        except OSError:
            pass

    def unlock_child(self, name: str, folder: str) -> None:
        self.unlock(os.path.join(folder, name))

    def unlink(self, name: str, folder: str) -> None:
        path = os.path.join(folder, name)
        try:
            os.unlink(path)
        except PermissionError:  # a read-only file (Windows)
            os.chmod(path, stat.S_IWRITE)
            os.unlink(path)

    def rmdir(self, name: str, top: str) -> None:
        os.rmdir(os.path.join(self.path, name))

    def move(self, name: str, folder: str, new: str, top: str) -> None:
        os.rename(os.path.join(folder, name), os.path.join(self.path, new))

    def exists(self, name: str, top: str) -> bool:
        return os.path.lexists(os.path.join(self.path, name))
