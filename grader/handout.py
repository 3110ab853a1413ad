"""Derive the student skeleton from the reference, and pack the archive students receive.

In reference files, a region between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` is replaced by
its ``#>`` lines with the marker removed (``#> Z = None  # TODO`` becomes ``Z = None  # TODO``);
a region without such lines becomes ``pass  # TODO``. Everything else is kept as written.
"""
from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
from pathlib import Path

from grader.errors import GraderError
from grader.rubric import Rubric
from grader.schema import flat
from grader.vectors import FILES, MANIFEST

BEGIN = re.compile(r"^(\s*)# BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
SKELETON = re.compile(r"^(\s*)#> ?(.*)$")
ASSETS = Path(__file__).parent / "assets"
SKIP_DIRS = {"__pycache__", ".pytest_cache"}


def strip_solutions(text: str, where: str) -> str:
    """Replace every solution region by its skeleton lines."""
    out, region, indent, start = [], None, "", 0
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        if region is None:
            m = BEGIN.match(line)
            if m:
                region, indent, start = [], m.group(1), number
            elif END.match(line):
                raise GraderError(f"{where}:{number}: END SOLUTION without BEGIN SOLUTION")
            else:
                out.append(line)
            continue
        if BEGIN.match(line):
            raise GraderError(f"{where}:{number}: BEGIN SOLUTION inside the region opened at "
                              f"line {start}")
        if END.match(line):
            out.extend(region or [f"{indent}pass  # TODO\n"])
            region = None
            continue
        m = SKELETON.match(line)
        if m:
            region.append(f"{m.group(1)}{m.group(2)}".rstrip() + "\n")
    if region is not None:
        raise GraderError(f"{where}:{start}: BEGIN SOLUTION is never closed")
    return "".join(out)


def reference_files(rubric: Rubric) -> list[Path]:
    """The reference files that make up a submission: the assignment's own files, the package
    __init__ files and any non-Python file (a reference folder shared by several assignments
    holds modules another one grades; the mistake variants are never part of it)."""
    ref = _reference(rubric)
    own = {ref / f for f in rubric.files}
    return sorted(p for p in ref.rglob("*") if p.is_file()
                  and not SKIP_DIRS.intersection(p.relative_to(ref).parts)
                  and (p in own or p.name == "__init__.py" or p.suffix != ".py"))


def skeleton(rubric: Rubric) -> dict[str, str]:
    """Relative path -> text of every handout file, derived from the reference."""
    ref = _reference(rubric)
    out = {}
    for path in reference_files(rubric):
        rel = path.relative_to(ref).as_posix()
        text = path.read_text(encoding="utf-8")
        out[rel] = strip_solutions(text, str(path)) if path.suffix == ".py" else text
    return out


def generate(rubric: Rubric, out: Path) -> list[Path]:
    """Write the skeleton into ``out`` (the handout folder)."""
    written = []
    for rel, text in skeleton(rubric).items():
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


def student_rubric(rubric: Rubric) -> str:
    """The rubric students receive: no hidden cases or checks, no reference."""
    import yaml

    raw = dict(rubric.raw)
    for key in ("reference", "handout", "templates"):   # templates may hold hidden cases
        raw.pop(key, None)
    raw["vectors"] = "vectors"
    if "components" in raw:
        raw["components"] = [_public_part(dict(c), raw.get("cases"), comp)
                             for c, comp in zip(raw["components"], rubric.components)]
        if "cases" in raw:
            raw["cases"] = _public_cases(raw["cases"])
    else:
        raw.update(_public_part(raw, raw["cases"]))
    header = "# Public part of the assignment's rubric (hidden checks run when you submit).\n"
    return header + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, width=100)


def _public_cases(cases: list) -> list:
    return [c for c in flat(cases) if c.get("visibility", "public") == "public"]


def _public_part(holder: dict, shared_cases: list | None, comp=None) -> dict:
    """A component (or a one-layer rubric) with its hidden cases and checks left out; a
    component's points become each check's own, so that a public check is worth what it is
    worth in the full rubric."""
    cases = _public_cases(holder.get("cases", shared_cases or []))
    if "cases" in holder:
        holder["cases"] = cases
    public = {c["name"] for c in cases}
    kept = []
    for check in flat(holder["checks"]):
        chosen = check.get("cases", "public")
        if chosen == "hidden" or check.get("visibility") == "hidden" or (
                isinstance(chosen, list) and not set(chosen) <= public):
            continue
        if comp is not None and "points" in holder:
            check = dict(check, points=next(c.points for c in comp.checks
                                            if c.id.rsplit(".", 1)[-1] == check["id"]))
        kept.append(check)
    holder.pop("points", None)
    holder["checks"] = kept
    return holder


def student_readme(rubric: Rubric) -> str:
    """The students' README, naming this assignment's files and classes."""
    files = [f"`{f}`" for f in rubric.files]
    names = [f"`{Path(f).name}`" for f in rubric.files]

    def words(items: list[str]) -> str:
        return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]

    text = (ASSETS / "student-README.md").read_text(encoding="utf-8")
    return (text.replace("{assignment}", rubric.assignment).replace("{files}", words(files))
            .replace("{names}", ", ".join(f"`{c.id}`" for c in rubric.components))
            .replace("{uploads}", words(names)))


def build_archive(rubric: Rubric, handout_dir: Path, dest: Path) -> Path:
    """A .tar.gz students unpack anywhere and run `make grade` in: the skeleton, the grader,
    the public rubric and the public vectors only."""
    files: dict[str, bytes] = {}
    for path in sorted(handout_dir.rglob("*")):
        if path.is_file() and not SKIP_DIRS.intersection(path.parts):
            files[path.relative_to(handout_dir).as_posix()] = path.read_bytes()
    package = Path(__file__).parent
    for path in sorted(package.rglob("*")):
        if path.is_file() and not SKIP_DIRS.intersection(path.parts) and path.suffix != ".pyc":
            files["grader/" + path.relative_to(package).as_posix()] = path.read_bytes()
    files["rubric.yaml"] = student_rubric(rubric).encode()
    public = FILES["public"]
    manifest = json.loads((rubric.vectors_dir / MANIFEST).read_text())
    files[f"vectors/{public}"] = (rubric.vectors_dir / public).read_bytes()
    files[f"vectors/{MANIFEST}"] = (json.dumps(
        {"files": {public: manifest["files"][public]}}, indent=2, sort_keys=True) + "\n").encode()
    files["Makefile"] = (ASSETS / "student.mk").read_bytes()
    files["grade.py"] = (ASSETS / "student-grade.py").read_bytes()
    files["README.md"] = student_readme(rubric).encode()
    files["requirements.txt"] = (ASSETS / "student-requirements.txt").read_bytes()
    dest.parent.mkdir(parents=True, exist_ok=True)
    top = dest.name.split(".")[0]
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for rel, data in sorted(files.items()):  # fixed order and times: reproducible bytes
            info = tarfile.TarInfo(f"{top}/{rel}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tf.addfile(info, io.BytesIO(data))
    dest.write_bytes(buf.getvalue())
    return dest


def _reference(rubric: Rubric) -> Path:
    if rubric.reference_dir is None or not rubric.reference_dir.is_dir():
        raise GraderError(f"{rubric.path}: `reference` must name the reference solution's folder")
    return rubric.reference_dir
