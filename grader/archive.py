"""Safe extraction of submission archives, and safe copies of submission folders.

Whatever an archive's headers announce, memory stays bounded: a zip's entry count is read from
its end record before its directory is, a tar's headers are read one at a time with their
names bounded. Only regular files and folders are ever written, as plain files; virtual
environments, caches and macOS extras are left out before any other rule applies."""
from __future__ import annotations

import errno
import functools
import os
import stat
import struct
from grader.records import record
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable

from grader import tree

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
MAX_EXTENDED_HEADER = 64 << 10   # a tar's long-name or pax header: a few hundred bytes in practice
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
BINARY = getattr(os, "O_BINARY", 0)
NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # opening a pipe must not wait for a writer
FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


@record(frozen=True)
class Bounds:
    """What a submission may hold at most (a zip bomb, or a header announcing millions of
    entries, stops at these)."""
    max_bytes: int = 50 << 20         # the student's files, unpacked
    max_files: int = 2000             # the student's files (not what is left out)
    max_entries: int = 100_000        # every entry an archive holds, left-out ones too
    max_name: int = 1024              # characters in a path inside the submission
    max_directory: int = 32 << 20     # bytes of a zip's central directory
    max_scanned: int = 2 << 30        # bytes a tar's members hold, left-out ones too


class UnsafeArchive(Exception):
    """The submission was refused or could not be unpacked; the message says why, for the
    gradebook and the student."""


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


def student_id(path: Path) -> str:
    """The id a submission is named by: the file name without its archive suffix."""
    name = path.name
    for suffix in ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def extract(archive: Path, dest: Path, bounds: Bounds = Bounds()) -> None:
    """Extract into ``dest`` or raise UnsafeArchive; nothing is ever written outside ``dest``."""
    import tarfile  # here, not at the top: grading a plain folder must not pay for them
    import zipfile

    dest.mkdir(parents=True, exist_ok=True)
    name = archive.name.lower()
    as_zip = name.endswith(".zip") or (not name.endswith((".tar", ".tar.gz", ".tgz"))
                                       and zipfile.is_zipfile(archive))
    try:
        if as_zip:
            _extract_zip(archive, dest, bounds)
        else:
            _extract_tar(archive, dest, bounds)
    except UnsafeArchive:
        raise
    except (tarfile.ReadError, tarfile.CompressionError):
        raise UnsafeArchive(f"{archive.name} is not a readable tar archive (damaged, or not an "
                            f"archive at all)") from None
    except OSError as exc:
        raise UnsafeArchive(_unpack_error(archive.name, exc)) from None
    except Exception as exc:  # damaged data fails in zlib, lzma, bz2, zipfile, tarfile...
        raise UnsafeArchive(f"{archive.name} is damaged or unreadable: "
                            f"{type(exc).__name__}: {exc}") from None


def _unpack_error(name: str, exc: OSError, verb: str = "unpacked") -> str:
    if exc.errno in FULL:
        return (f"{name} could not be {verb}: the grader ran out of space ({exc.strerror}). "
                f"This is not your fault: submit again, or tell your course staff")
    return f"{name} could not be {verb}: {exc.strerror or exc}"


def _check_name(name: str, bounds: Bounds) -> tuple[str, ...]:
    """The names along a member's path, or UnsafeArchive (tuples of str: an archive may have
    100,000 members, and path objects would double what they cost)."""
    if len(name) > bounds.max_name:
        raise UnsafeArchive(f"refused member {name[:60]!r}...: a name of {len(name):,} "
                            f"characters (limit {bounds.max_name:,})")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchive(f"refused member {name!r}: absolute path")
    parts = tuple(p for p in name.replace("\\", "/").split("/") if p not in ("", "."))
    if ".." in parts:
        raise UnsafeArchive(f"refused member {name!r}: '..' in its path")
    if any(len(part) > 255 for part in parts):
        raise UnsafeArchive(f"refused member {name!r}: a file name longer than 255 characters")
    return parts


# --- zip --------------------------------------------------------------------------------------

EOCD, EOCD64, LOCATOR64 = b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07"


def _zip_directory(archive: Path) -> tuple[int, int]:
    """(entries, bytes) of the central directory, as the end record announces them: read before
    the directory itself, which zipfile would load whole. The same record zipfile reads."""
    with open(archive, "rb") as fp:
        size = fp.seek(0, os.SEEK_END)
        tail_at = max(0, size - (22 + 0xFFFF))
        fp.seek(tail_at)
        tail = fp.read()
        at = len(tail) - 22 if tail[-22:-18] == EOCD and tail[-2:] == b"\0\0" \
            else tail.rfind(EOCD)
        if at < 0 or len(tail) - at < 22:
            raise UnsafeArchive(f"{archive.name} is not a readable zip archive (damaged, or not "
                                f"an archive at all)")
        entries, directory = struct.unpack("<2xHL", tail[at + 8: at + 16])
        locator_at = tail_at + at - 20
        if locator_at >= 56:
            fp.seek(locator_at - 56)
            record = fp.read(76)
            if record[56:60] == LOCATOR64 and record[:4] == EOCD64:
                entries, directory = struct.unpack("<QQ", record[32:48])
    return entries, directory


def _extract_zip(archive: Path, dest: Path, bounds: Bounds) -> None:
    import zipfile

    entries, directory = _zip_directory(archive)
    _check_count(archive.name, entries, bounds, "announces")
    if directory > bounds.max_directory:
        raise UnsafeArchive(f"{archive.name} announces a directory of {_size(directory)} "
                            f"(limit {_size(bounds.max_directory)})")
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        _check_count(archive.name, len(infos), bounds, "has")
        skip = tree.MemberFilter(_check_name(info.filename, bounds) for info in infos)
        kept = [(i, p) for i in infos if (p := _check_name(i.filename, bounds))
                and not skip.skipped(p, _zip_is_dir(i))]
        files = [(i, p) for i, p in kept if not _zip_is_dir(i)]
        if len(files) > bounds.max_files:
            raise UnsafeArchive(f"{archive.name} has {len(files)} files (limit "
                                f"{bounds.max_files})")
        for info, _ in files:
            _check_zip_kind(info)
        budget = _Budget(bounds.max_bytes, f"{archive.name} expands to more than "
                                           f"{_size(bounds.max_bytes)}")
        for info, rel in kept:
            if _zip_is_dir(info):
                os.makedirs(dest.joinpath(*rel), exist_ok=True)
                continue
            with zf.open(info) as src:  # real bytes are counted: headers can lie
                _write(dest.joinpath(*rel), src, budget)


def _zip_is_dir(info) -> bool:
    return info.is_dir() or stat.S_ISDIR(info.external_attr >> 16)


def _check_zip_kind(info) -> None:
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise UnsafeArchive(f"refused member {info.filename!r}: a symbolic link (put the file "
                            f"itself in the archive)")
    if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
        raise UnsafeArchive(f"refused member {info.filename!r}: not a regular file")


def _check_count(name: str, count: int, bounds: Bounds, verb: str) -> None:
    if count > bounds.max_entries:
        raise UnsafeArchive(f"{name} {verb} {count:,} entries (limit {bounds.max_entries:,}): "
                            f"submit only your handout folder")


# --- tar --------------------------------------------------------------------------------------

def _extract_tar(archive: Path, dest: Path, bounds: Bounds) -> None:
    import tarfile

    with tarfile.open(archive, tarinfo=_bounded_tarinfo()) as tf:
        members = _tar_members(tf, archive.name, bounds)
        skip = tree.MemberFilter(p for _, p in members)
        kept = [(m, p) for m, p in members if p and not skip.skipped(p, m.isdir())]
        files = [m for m, _ in kept if not m.isdir()]
        if len(files) > bounds.max_files:
            raise UnsafeArchive(f"{archive.name} has {len(files)} files (limit "
                                f"{bounds.max_files})")
        for member in files:
            _check_tar_kind(member)
        if sum(m.size for m in files) > bounds.max_bytes:
            raise UnsafeArchive(f"{archive.name} expands to more than "
                                f"{_size(bounds.max_bytes)}")
        budget = _Budget(bounds.max_bytes, f"{archive.name} expands to more than "
                                           f"{_size(bounds.max_bytes)}")
        for member, rel in kept:
            if member.isdir():
                os.makedirs(dest.joinpath(*rel), exist_ok=True)
                continue
            with tf.extractfile(member) as src:
                _write(dest.joinpath(*rel), src, budget)


def _tar_members(tf, name: str, bounds: Bounds) -> list:
    """Every member's header with its checked path, read one at a time: the entry count and
    the name are checked before anything further is read."""
    members, scanned = [], 0
    while True:
        member = tf.next()
        if member is None:
            return members
        if len(members) == bounds.max_entries:
            raise UnsafeArchive(f"{name} has more than {bounds.max_entries:,} entries: submit "
                                f"only your handout folder")
        members.append((member, _check_name(member.name, bounds)))
        scanned += member.size  # the left-out members are read past too
        if scanned > bounds.max_scanned:
            raise UnsafeArchive(f"{name} holds more than {_size(bounds.max_scanned)} in all")


def _check_tar_kind(member) -> None:
    if member.issym():
        raise UnsafeArchive(f"refused member {member.name!r}: a symbolic link (put the file "
                            f"itself in the archive)")
    if member.islnk():
        raise UnsafeArchive(f"refused member {member.name!r}: a hard link (put the file itself "
                            f"in the archive)")
    if member.isdev() or member.isfifo():
        raise UnsafeArchive(f"refused member {member.name!r}: a device or pipe")
    if not member.isreg():
        raise UnsafeArchive(f"refused member {member.name!r}: not a regular file")


@functools.cache
def _bounded_tarinfo() -> type:
    """tarfile's TarInfo, refusing an extended header (long name, pax attributes) bigger than
    MAX_EXTENDED_HEADER before tarfile reads it into memory, and old GNU sparse members (whose
    extension blocks tarfile collects without limit)."""
    import tarfile

    extended = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE,
                tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)

    class BoundedTarInfo(tarfile.TarInfo):
        def _proc_member(self, tf):
            if self.type in extended and self.size > MAX_EXTENDED_HEADER:
                raise UnsafeArchive(f"{os.path.basename(str(tf.name))}: a member's header "
                                    f"announces a name or attributes of {self.size:,} bytes "
                                    f"(limit {MAX_EXTENDED_HEADER:,})")
            if self.type == tarfile.GNUTYPE_SPARSE:
                raise UnsafeArchive(f"refused member {self.name!r}: an old-style GNU sparse "
                                    f"file")
            return super()._proc_member(tf)

    # tarfile's hook for processing one header (3.10-3.13); without it, plain TarInfo
    return BoundedTarInfo if hasattr(tarfile.TarInfo, "_proc_member") else tarfile.TarInfo


# --- writing ----------------------------------------------------------------------------------

class _Budget:
    """Bytes still allowed; ``message`` once they are spent."""

    def __init__(self, limit: int, message: str) -> None:
        self.left, self.message = limit, message

    def spend(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise UnsafeArchive(self.message)


def _write(target: Path, src: BinaryIO, budget: _Budget) -> None:
    """Write ``src`` to a new plain file at ``target`` (never through a link)."""
    os.makedirs(target.parent, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | NOFOLLOW | BINARY, 0o644)
    with open(fd, "wb") as out:
        while chunk := src.read(1 << 16):
            budget.spend(len(chunk))
            out.write(chunk)


def _size(n: int) -> str:
    return f"{n / (1 << 20):g} MB" if n >= 1 << 20 else f"{n} bytes"


# --- folders ----------------------------------------------------------------------------------

def locate_root(folder: Path, layer_file: str) -> Path:
    """The folder that holds ``layer_file`` (e.g. mytorch/nn/linear.py), searching a few levels
    down so that an archive with one top-level folder works; ``folder`` itself if none does."""
    if (folder / layer_file).is_file():
        return folder
    parts = PurePosixPath(layer_file).parts
    for rel, kind in tree.walk(folder, max_depth=4, max_entries=20_000):
        if kind == "dir" and not any(p.startswith(".") for p in rel.parts) and \
                folder.joinpath(*rel.parts, *parts).is_file():
            return folder.joinpath(*rel.parts)
    return folder


def copy_tree(src: Path, dest: Path, bounds: Bounds = Bounds(), boundary: Path | None = None,
              top: Callable[[str], bool] | None = None) -> None:
    """Copy a submission folder as plain files, within the same bounds as an archive.

    Virtual environments and caches are left out. A link is copied as the file it points to
    when that lies inside ``boundary`` (default: ``src``), and refused otherwise; so is a file
    with other hard links (it may be anyone's). ``top`` chooses among ``src``'s own entries."""
    try:
        _copy_tree(src, dest, bounds, os.path.realpath(boundary or src), top)
    except OSError as exc:
        raise UnsafeArchive(_unpack_error(src.name, exc, "copied")) from None


def _copy_tree(src: Path, dest: Path, bounds: Bounds, inside: str,
               top: Callable[[str], bool] | None) -> None:
    limit = f"{src.name} holds more than {bounds.max_files} files or {_size(bounds.max_bytes)}"
    budget, files = _Budget(bounds.max_bytes, limit), 0
    dest.mkdir(parents=True, exist_ok=True)
    queue = [PurePosixPath()]
    while queue:
        rel = queue.pop()
        for shown, kind in _listing(src, rel, bounds):
            if not rel.parts and top is not None and not top(shown.name):
                continue
            if kind == "dir":
                (dest.joinpath(*shown.parts)).mkdir()
                queue.append(shown)
                continue
            if kind == "other":
                raise UnsafeArchive(f"refused {shown}: not a regular file (a pipe, socket or "
                                    f"device)")
            files += 1
            if files > bounds.max_files:
                raise UnsafeArchive(limit)
            copy_file(src.joinpath(*shown.parts), dest.joinpath(*shown.parts), str(shown),
                      inside, budget)


def _listing(src: Path, rel: PurePosixPath, bounds: Bounds) -> list[tuple[PurePosixPath, str]]:
    """The entries of one folder of a copy, without what is left out, paths checked."""
    try:
        with os.scandir(src.joinpath(*rel.parts)) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        raise UnsafeArchive(f"could not read {rel if rel.parts else src.name}: "
                            f"{exc.strerror}") from None
    venv = tree.venv_skips(e.name for e in entries)
    out = []
    for entry in entries:
        kind = tree.kind(entry)
        if entry.name in venv or tree.skipped_name(entry.name, kind == "dir") or \
                (kind == "dir" and tree.holds_venv(entry)):
            continue
        shown = rel / entry.name
        if len(str(shown)) > bounds.max_name:
            raise UnsafeArchive(f"refused {str(shown)[:60]}...: a path longer than "
                                f"{bounds.max_name} characters")
        out.append((shown, kind))
    return out


def copy_file(path: Path, target: Path, shown: str, inside: str,
              budget: _Budget | None = None) -> None:
    """Copy one file of a submission as plain content into a new file ``target``: through a
    link only to a file inside the folder ``inside``, and never a file with other hard links
    (it may be anyone's: the grader's vectors, another student's work)."""
    source = os.fspath(path)
    if os.path.islink(source):
        source = os.path.realpath(source)
        if not _within(source, inside):
            raise UnsafeArchive(f"refused {shown}: a link pointing outside the submission")
        if not os.path.exists(source):
            raise UnsafeArchive(f"refused {shown}: a link to a file that does not exist")
    try:
        fd = os.open(source, os.O_RDONLY | NOFOLLOW | NONBLOCK | BINARY)
    except OSError as exc:
        raise UnsafeArchive(f"could not read {shown}: {exc.strerror}") from None
    try:
        _check_plain(os.fstat(fd), shown)
        src = open(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with src:
        try:
            _write(target, src, budget or _Budget(1 << 62, ""))
        except OSError as exc:
            raise UnsafeArchive(_unpack_error(shown, exc, "copied")) from None


def _check_plain(st: os.stat_result, shown: str) -> None:
    """A regular file with no other name, or UnsafeArchive."""
    if stat.S_ISDIR(st.st_mode):
        raise UnsafeArchive(f"refused {shown}: a link to a folder (put the folder itself in the "
                            f"submission)")
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeArchive(f"refused {shown}: not a regular file")
    if st.st_nlink > 1:
        raise UnsafeArchive(f"refused {shown}: a file with {st.st_nlink} hard links (it may be "
                            f"someone else's file): submit a copy of it")


def _within(path: str, folder: str) -> bool:
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:  # another drive (Windows)
        return False
