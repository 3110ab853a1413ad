"""The autograder zip uploaded to Gradescope: the grader, the full rubric and every vector.

Gradescope unpacks the zip into /autograder/source, runs ``setup.sh`` once to build its image,
then ``run_autograder`` for each submission (found in /autograder/submission), which writes
/autograder/results/results.json. The zip carries no reference code: grading needs only the
vectors, which ``make vectors`` made from the reference beforehand."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

from grader import vectors
from grader.errors import GraderError
from grader.rubric import Rubric, parse

ASSETS = Path(__file__).parent / "assets"
SKIP_DIRS = {"__pycache__", ".pytest_cache"}
EPOCH = (1980, 1, 1, 0, 0, 0)           # the earliest time a zip can store: reproducible bytes
EXECUTABLE, REGULAR = 0o100755, 0o100644
UNIX = 3                                # zip "made by" system whose attributes unzip honours


def autograder_rubric(rubric: Rubric) -> str:
    """The rubric Gradescope grades with: every case and check, hidden ones included, but no
    ``reference`` (the solution is not shipped), and vectors next to it."""
    import yaml

    raw = dict(rubric.raw)
    for key in ("reference", "handout"):
        raw.pop(key, None)
    raw["vectors"] = "vectors"
    header = "# The full rubric, as the Gradescope autograder runs it (hidden checks included).\n"
    return header + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, width=100)


def package_files(rubric: Rubric) -> dict[str, tuple[bytes, int]]:
    """Zip path -> (content, Unix mode) of every file in the autograder package."""
    files = {
        "setup.sh": ((ASSETS / "gradescope_setup.sh").read_bytes(), EXECUTABLE),
        "run_autograder": ((ASSETS / "gradescope_run_autograder").read_bytes(), EXECUTABLE),
        "requirements.txt": ((ASSETS / "gradescope-requirements.txt").read_bytes(), REGULAR),
        "rubric.yaml": (_checked_rubric(rubric).encode(), REGULAR),
    }
    package = Path(__file__).parent
    for path in sorted(package.rglob("*")):
        rel = path.relative_to(package)
        if (path.is_file() and path.suffix != ".pyc" and not path.name.startswith(".")
                and not SKIP_DIRS.intersection(rel.parts)):
            files[f"grader/{rel.as_posix()}"] = (path.read_bytes(), REGULAR)
    for name in (*vectors.FILES.values(), vectors.MANIFEST):
        path = rubric.vectors_dir / name
        if path.is_file():
            files[f"vectors/{name}"] = (path.read_bytes(), REGULAR)
    return files


def build_package(rubric: Rubric, dest: Path) -> Path:
    """Write the Gradescope autograder zip to ``dest`` (same inputs, same bytes) and return it."""
    vectors.load(rubric)  # stale or missing vectors would fail every student: refuse them now
    files = package_files(rubric)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, (data, mode) in sorted(files.items()):  # fixed order and times
            info = zipfile.ZipInfo(name, date_time=EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = UNIX
            info.external_attr = mode << 16
            zf.writestr(info, data)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(buf.getvalue())
    return dest


def _checked_rubric(rubric: Rubric) -> str:
    """The shipped rubric, after checking it still validates and matches the vectors."""
    import yaml

    text = autograder_rubric(rubric)
    shipped = parse(yaml.safe_load(text), rubric.path)
    for vis in vectors.FILES:
        if shipped.fingerprint(vis) != rubric.fingerprint(vis):
            raise GraderError(f"{rubric.path}: the packaged rubric no longer matches the vectors "
                              f"({vis} cases); this is a grader bug")
    return text
