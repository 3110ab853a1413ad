"""From what a student uploaded to a folder laid out like the handout.

Students upload the handout folder, a zip of it with whatever else their folder held, or only
the file they edited (Gradescope keeps an upload as it is). Each becomes a folder that holds
the layer's file where the handout puts it; when nothing can, the message says what to upload."""
from __future__ import annotations

import os
from grader.records import record, replace
from pathlib import Path, PurePosixPath

from grader import archive, tree
from grader.archive import UnsafeArchive
from grader.rubric import Rubric

SEARCH_DEPTH = 8         # folders down from the top that are searched for a handout file
SEARCH_ENTRIES = 20_000  # entries looked at, at most (a folder of any size costs little)
SHOWN = 8                # files named in the message when nothing could be graded


@record(frozen=True)
class Found:
    """What a submission holds: a folder laid out like the handout, or handout files found by
    their names alone, and what else it holds (for the message when neither)."""
    root: Path | None = None
    lone: tuple[tuple[str, Path], ...] = ()  # (where the handout puts it, the file found)
    seen: tuple[str, ...] = ()
    more: int = 0
    boundary: Path | None = None             # links may lead anywhere inside this folder
    staged: bool = False                     # already in the scratch folder (extracted)


def handout_files(rubric: Rubric) -> tuple[str, ...]:
    """Where the handout puts each file a student edits (the first one locates the rest)."""
    return rubric.files


def gather(src: Path, scratch: Path, rubric: Rubric) -> Found:
    """Find the handout files in a folder, an archive (extracted into ``scratch``) or a lone
    file; a folder holding nothing but one archive (as Gradescope keeps a .tar) is unpacked."""
    if src.is_symlink():
        raise UnsafeArchive(f"{src.name} is a symbolic link: submit the folder or archive itself")
    if archive.is_archive(src):
        return _unpack(src, scratch / "submission", rubric)
    if src.is_dir():
        folder = src.resolve()
        found = find(folder, rubric)
        inner = _only_archive(folder, found)
        return found if inner is None else _unpack(inner, scratch / "unpacked", rubric)
    if src.is_file():
        return _match_file(src, rubric)
    if not src.exists():
        raise UnsafeArchive(f"{src} does not exist")
    raise UnsafeArchive(f"{src.name} is neither a folder, a file nor a .zip/.tar/.tar.gz "
                        f"archive")


def _unpack(path: Path, dest: Path, rubric: Rubric) -> Found:
    """Extract an archive into the scratch folder and look there."""
    archive.extract(path, dest)
    return replace(find(dest, rubric), boundary=dest, staged=True)


def _only_archive(folder: Path, found: Found) -> Path | None:
    """The one archive at a folder's top, when nothing else in the folder can be graded."""
    if found.root is not None or found.lone:
        return None
    inner = [folder.joinpath(*p.parts) for p, kind in tree.walk(folder, 1, SEARCH_ENTRIES)
             if kind == "file" and archive.is_archive(folder.joinpath(*p.parts))]
    return inner[0] if len(inner) == 1 else None


def find(folder: Path, rubric: Rubric) -> Found:
    """The handout layout in ``folder`` (its top, a few levels down, or deeper), else each
    handout file found by its name alone: at the top, or the shallowest elsewhere."""
    files = handout_files(rubric)
    for file in files:   # any handout file locates the layout
        root = archive.locate_root(folder, file)
        if (root / file).is_file():
            return Found(root=root, boundary=folder)
    entries = [(p, kind) for p, kind in tree.walk(folder, SEARCH_DEPTH, SEARCH_ENTRIES)
               if kind in ("file", "link")]
    for file in files:
        deep = _deep_root(folder, file, entries)
        if deep is not None:
            return Found(root=deep, boundary=folder)
    lone = tuple((f, folder.joinpath(*p.parts)) for f in files
                 if (p := _pick(PurePosixPath(f).name, entries)) is not None)
    seen = sorted(str(p) for p, _ in entries)
    return Found(None, lone, tuple(seen[:SHOWN]), max(0, len(seen) - SHOWN), folder)


def _deep_root(folder: Path, file: str, entries: list) -> Path | None:
    """A handout layout deeper than locate_root looks (a zip made with full paths)."""
    parts = PurePosixPath(file).parts
    deep = sorted((p for p, _ in entries if p.parts[-len(parts):] == parts),
                  key=lambda p: len(p.parts))
    return folder.joinpath(*deep[0].parts[:-len(parts)]) if deep else None


def _pick(name: str, entries: list) -> PurePosixPath | None:
    """The file named ``name`` (in any case if not exactly): the shallowest, if only one is."""
    found = [p for p, _ in entries if p.name == name] or \
        [p for p, _ in entries if p.name.lower() == name.lower()]
    if not found:
        return None
    depth = min(len(p.parts) for p in found)
    best = [p for p in found if len(p.parts) == depth]
    if len(best) > 1:
        raise UnsafeArchive(f"{name} is in {len(best)} places ({', '.join(map(str, best[:4]))})"
                            f": submit only the one to grade")
    return best[0]


def _match_file(path: Path, rubric: Rubric) -> Found:
    """A lone file given as the submission itself."""
    for f in handout_files(rubric):
        if path.name.lower() == PurePosixPath(f).name.lower():
            return Found(lone=((f, path),), seen=(path.name,), boundary=path.parent.resolve())
    return Found(seen=(path.name,))


def place(found: Found, out: Path) -> Path:
    """``out``, holding each handout file found by its name where the handout puts it, with an
    empty ``__init__.py`` in each package folder on the way (the handout's own may import
    modules the student did not upload)."""
    for handout_path, path in found.lone:
        rel = PurePosixPath(handout_path)
        for i in range(1, len(rel.parts)):
            package = out.joinpath(*rel.parts[:i])
            package.mkdir(parents=True, exist_ok=True)
            (package / "__init__.py").touch()
        out.mkdir(parents=True, exist_ok=True)
        inside = found.boundary or path.parent
        shown = path.relative_to(inside).as_posix()
        archive.copy_file(path, out.joinpath(*rel.parts), shown, os.path.realpath(inside))
    return out


def missing(rubric: Rubric, found: Found) -> str:
    """What to upload, when nothing in the submission is a handout file."""
    files = [PurePosixPath(f) for f in handout_files(rubric)]
    file = files[0]
    listing = ", ".join(found.seen) or "nothing (the submission is empty)"
    if found.more:
        listing += f" and {found.more} more"
    holds = f" (the folder that holds {file.parts[0]}/)" if len(file.parts) > 1 else ""
    if len(files) == 1:
        return (f"No {file} found. Upload {file.name} itself, or a zip of your handout "
                f"folder{holds}. Found: {listing}")
    names = ", ".join(map(str, files[:-1])) + f" or {files[-1]}"
    return (f"None of {names} found. Upload those files themselves, or a zip of your "
            f"handout folder{holds}. Found: {listing}")
