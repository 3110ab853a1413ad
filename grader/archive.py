"""Safe extraction of submission archives, and finding the submission root inside a folder."""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")


@dataclass(frozen=True)
class Bounds:
    """What an archive may contain at most (a zip bomb stops at these)."""
    max_bytes: int = 50 << 20
    max_files: int = 2000


class UnsafeArchive(Exception):
    """The archive was refused; the message says why, for the gradebook and the student."""


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
        if as_zip and zipfile.is_zipfile(archive):
            _extract_zip(archive, dest, bounds)
        elif not as_zip and tarfile.is_tarfile(archive):
            _extract_tar(archive, dest, bounds)
        else:
            raise UnsafeArchive(f"{archive.name} is not a readable {'zip' if as_zip else 'tar'} "
                                f"archive (damaged, or not an archive at all)")
    except UnsafeArchive:
        raise
    except tarfile.FilterError as exc:
        raise UnsafeArchive(f"{archive.name}: refused member: {exc}") from None
    except Exception as exc:  # damaged data fails in zlib, lzma, bz2, zipfile, tarfile...
        raise UnsafeArchive(f"{archive.name} is damaged or unreadable: "
                            f"{type(exc).__name__}: {exc}") from None


def _check_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchive(f"refused member {name!r}: absolute path")
    if ".." in path.parts:
        raise UnsafeArchive(f"refused member {name!r}: '..' in its path")
    return path


def _extract_zip(archive: Path, dest: Path, bounds: Bounds) -> None:
    import zipfile

    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        if len(infos) > bounds.max_files:
            raise UnsafeArchive(f"{archive.name} has {len(infos)} entries "
                                f"(limit {bounds.max_files})")
        total = 0
        for info in infos:
            rel = _check_name(info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise UnsafeArchive(f"refused member {info.filename!r}: a symbolic link")
            if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise UnsafeArchive(f"refused member {info.filename!r}: not a regular file")
            target = dest.joinpath(*rel.parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                while chunk := src.read(1 << 16):  # count real bytes: headers can lie
                    total += len(chunk)
                    if total > bounds.max_bytes:
                        raise UnsafeArchive(f"{archive.name} expands to more than "
                                            f"{_size(bounds.max_bytes)}")
                    out.write(chunk)


def _extract_tar(archive: Path, dest: Path, bounds: Bounds) -> None:
    import tarfile

    with tarfile.open(archive) as tf:
        members, total = [], 0
        for member in tf:
            members.append(member)
            if len(members) > bounds.max_files:
                raise UnsafeArchive(f"{archive.name} has more than {bounds.max_files} entries")
            _check_name(member.name)
            if member.isdev() or member.isfifo():
                raise UnsafeArchive(f"refused member {member.name!r}: a device or pipe")
            total += member.size
            if total > bounds.max_bytes:
                raise UnsafeArchive(f"{archive.name} expands to more than "
                                    f"{_size(bounds.max_bytes)}")
        # the "data" filter refuses absolute names, '..', and links that point outside dest
        tf.extractall(dest, members=members, filter="data")


def _size(n: int) -> str:
    return f"{n / (1 << 20):g} MB" if n >= 1 << 20 else f"{n} bytes"


def locate_root(folder: Path, layer_file: str) -> Path:
    """The folder that holds ``layer_file`` (e.g. mytorch/nn/linear.py), searching a few levels
    down so that an archive with one top-level folder works; ``folder`` itself if none does."""
    if (folder / layer_file).is_file():
        return folder
    parts = PurePosixPath(layer_file).parts
    best = None
    for here, dirs, _ in os.walk(folder):
        depth = len(Path(here).relative_to(folder).parts)
        dirs[:] = sorted(d for d in dirs if d not in ("__MACOSX", "__pycache__")
                         and not d.startswith("."))
        if depth > 3:
            dirs[:] = []
            continue
        if (Path(here).joinpath(*parts)).is_file():
            best = Path(here)
            break
    return best or folder


def copy_tree(src: Path, dest: Path, bounds: Bounds = Bounds()) -> None:
    """Copy a submission folder within the same bounds as an archive; links are not followed
    (one that points outside the folder is refused)."""
    import shutil

    total, count = 0, 0
    real_src = os.path.realpath(src)
    for here, dirs, files in os.walk(src):
        rel = Path(here).relative_to(src)
        dirs[:] = [d for d in dirs if d not in ("__pycache__", ".git")]
        (dest / rel).mkdir(parents=True, exist_ok=True)
        for name in dirs + files:
            path = Path(here) / name
            if path.is_symlink() and not os.path.realpath(path).startswith(real_src + os.sep):
                raise UnsafeArchive(f"refused {rel / name}: a link pointing outside the submission")
            if path.is_symlink() and not path.exists():
                raise UnsafeArchive(f"refused {rel / name}: a link to a file that does not exist")
        for name in files:
            path = Path(here) / name
            count += 1
            total += path.stat().st_size
            if count > bounds.max_files or total > bounds.max_bytes:
                raise UnsafeArchive(f"{src.name} holds more than {bounds.max_files} files or "
                                    f"{_size(bounds.max_bytes)}")
            if path.is_file():
                shutil.copyfile(path, dest / rel / name)
