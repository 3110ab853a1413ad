"""Shared test fixtures: the project's rubric and vectors, one fork server per session."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
SUBMISSIONS = FIXTURES / "submissions"
HOMEWORK = ROOT / "rubric.yaml"                    # the default assignment: the whole homework
LINEAR = ROOT / "rubrics" / "linear.yaml"          # Linear alone, in the one-layer form

os.environ.setdefault("NN_GRADER_CACHE", str(ROOT / ".pytest_cache" / "nn-grader"))


@pytest.fixture(scope="session")
def rubric():
    """The Linear rubric: what the tests of the grader's machinery (batch, CLI, Gradescope,
    sandbox) grade their Linear fixtures with."""
    from grader import rubric as rubric_mod

    return rubric_mod.load(LINEAR)


@pytest.fixture(scope="session")
def vectors(rubric):
    from grader import vectors as vectors_mod

    return vectors_mod.load(rubric)


@pytest.fixture(scope="session")
def homework():
    """The default assignment (rubric.yaml): every component of the homework."""
    from grader import rubric as rubric_mod

    return rubric_mod.load(HOMEWORK)


@pytest.fixture(scope="session")
def homework_vectors(homework):
    from grader import vectors as vectors_mod

    return vectors_mod.load(homework)


@pytest.fixture(scope="session")
def zygote():
    from grader.sandbox.backend import open_sandbox

    z = open_sandbox()
    yield z
    z.close()


_MATERIALISED: dict[Path, Path] = {}


def materialise(folder: Path) -> Path:
    """A fixture folder as it is graded: itself, or, when its expect.yaml lists files under
    `from_reference` (the MLP fixtures' Linear and ReLU), a copy holding those files of the
    reference with the fixture's own over them, made once per session in a private folder."""
    folder = Path(folder)
    want = folder / "expect.yaml"
    files = ((yaml.safe_load(want.read_text()) or {}) if want.is_file() else {}).get(
        "from_reference")
    if not files:
        return folder
    if folder not in _MATERIALISED:
        import atexit
        import shutil
        import tempfile

        top = Path(tempfile.mkdtemp(prefix="nn-grader-fixture-"))   # mode 0700
        atexit.register(shutil.rmtree, top, True)
        dest = top / folder.name
        for rel in files:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / "reference" / rel, dest / rel)
        shutil.copytree(folder, dest, dirs_exist_ok=True)
        _MATERIALISED[folder] = dest
    return _MATERIALISED[folder]


@pytest.fixture(scope="session")
def grade(rubric, vectors, homework, homework_vectors, zygote):
    """Grade a submission folder or archive; returns the Report. Without a rubric: a fixture
    whose expect.yaml names components (``only``) is graded on those components of the
    homework, any other with the Linear rubric."""
    from grader.grade import grade_path

    def run(path: Path, rub=None, vecs=None, only=None):
        path = materialise(path)
        want = Path(path) / "expect.yaml"
        only = only or ((yaml.safe_load(want.read_text()) or {}).get("only")
                        if want.is_file() else None)
        if rub is None:
            rub, vecs = (homework, homework_vectors) if only else (rubric, vectors)
        if only:
            rub = rub.only(list(only))
        if vecs is None:   # the vectors of the rubric's own file
            from grader.vectors import VectorSet

            vecs = {rubric.path: vectors, homework.path: homework_vectors}.get(rub.path) \
                or VectorSet(rub)
        return grade_path(Path(path), rub, vecs, zygote)

    return run


def expectation(folder: Path) -> dict:
    return yaml.safe_load((folder / "expect.yaml").read_text())


def run_cli(*args: str, cwd: Path = ROOT, env: dict | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `python -m grader ...` as a user would; a grade, batch or gradescope run that names
    no rubric uses the Linear one (the fixtures it is given are Linear submissions)."""
    if args and args[0] in ("grade", "batch", "gradescope") and "--rubric" not in args:
        args = (*args, "--rubric", str(LINEAR))
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def by_id(report) -> dict:
    """Checks by id; a check of a one-component report, or of Linear, also by its short id."""
    out = {c.id: c for c in report.checks}
    comps = {c.component for c in report.checks}
    for c in report.checks:
        short = c.id.split(".", 1)[-1]
        if short not in out and (len(comps) == 1 or c.component == "linear"):
            out[short] = c
    return out


def assert_expected(report, want: dict, correct: bool = False) -> None:
    """The report gives what an expect.yaml says: points, failures, named mistakes, no hints
    for a correct submission."""
    checks = by_id(report)
    for cid in want.get("pass") or []:
        assert cid in checks, f"expect.yaml names unknown check {cid}"
        c = checks[cid]
        assert c.score == c.max_score and c.status == "passed", \
            f"{cid} should pass: {c.messages} {c.hints}"
    for cid in want.get("fail") or []:
        assert cid in checks, f"expect.yaml names unknown check {cid}"
        assert checks[cid].score == 0 and checks[cid].status != "passed", \
            f"{cid} should fail, got {checks[cid].score}"
    for cid, mistake in (want.get("mistakes") or {}).items():
        assert cid in checks, f"expect.yaml names unknown check {cid}"
        assert mistake in checks[cid].mistakes, \
            f"{cid} should name {mistake}; named {checks[cid].mistakes}: {checks[cid].hints}"
    total = want.get("total")
    if total == "full":
        assert report.score == report.max_score, [c.messages for c in report.checks
                                                  if c.score < c.max_score]
    elif total == "zero":
        assert report.score == 0
    elif total == "partial":
        assert 0 < report.score < report.max_score
    if correct:
        assert report.mistakes == [] and all(not c.hints for c in report.checks)


def make_report(rubric, sid: str, status: str = "graded", failed: dict | None = None,
                summary_line: str = "", score: float | None = None) -> dict:
    """A Report.to_dict()-shaped dict: every check passes except those in ``failed``
    (check id -> mistakes it names)."""
    failed = failed or {}
    checks = []
    for c in rubric.checks:
        ok = c.id not in failed and status == "graded"
        checks.append({"id": c.id, "title": c.title, "kind": c.kind, "visibility": c.visibility,
                       "score": c.points if ok else 0.0, "max_score": c.points,
                       "passed": len(c.cases) if ok else 0, "total": len(c.cases),
                       "status": "passed" if ok else ("failed" if status == "graded" else "error"),
                       "messages": [], "hints": [], "mistakes": list(failed.get(c.id, ())),
                       "details": "", "component": c.component})
    total = round(sum(ch["score"] for ch in checks), 4) if score is None else score
    return {"assignment": rubric.assignment, "submission": sid, "status": status,
            "score": total, "max_score": rubric.max_score, "checks": checks,
            "summary": summary_line, "details": "", "output": "", "output_dropped": 0,
            "has_hidden": True,
            "mistakes": sorted({m for ms in failed.values() for m in ms})}
