"""Batch grading as a TA sees it: every submission gets its row, the same as graded alone,
hostile ones cost only themselves, and a killed batch resumes without losing anything."""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from conftest import LINEAR, ROOT, SUBMISSIONS, make_report, run_cli
from grader import batch, roster, workspace
from grader.sandbox.backend import chosen

MIX = ["correct/matmul", "correct/loops", "correct/prints", "wrong/dLdW_mean",
       "wrong/dLdb_keepdims", "wrong/mutates_A", "broken/syntax_error", "broken/returns_none",
       "broken/missing_class", "hostile/forged_stdout", "hostile/kill_parent",
       "hostile/fork_background", "hostile/reads_files", "hostile/patches_numpy",
       "hostile/os_exit", "hostile/segfault", "hostile/fork_bomb_lite"]
if os.geteuid() == 0:  # only safe where student code runs as a sandbox user
    MIX.append("hostile/writes_files")


def _zip(src: Path, dest: Path, prefix: str = "") -> None:
    with zipfile.ZipFile(dest, "w") as zf:
        for f in sorted(src.rglob("*.py")):
            zf.write(f, prefix + f.relative_to(src.parent).as_posix())


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A class folder: fixture submissions as folders, good archives, and bad archives."""
    subs = tmp_path_factory.mktemp("class")
    for name in MIX:
        shutil.copytree(SUBMISSIONS / name / "mytorch", subs / name.replace("/", "-") / "mytorch")
    _zip(SUBMISSIONS / "correct" / "dot" / "mytorch", subs / "zip-good.zip", "hw1/")
    with tarfile.open(subs / "tar-good.tar.gz", "w:gz") as tf:
        tf.add(SUBMISSIONS / "wrong" / "bias_missing" / "mytorch", "mytorch")
    with zipfile.ZipFile(subs / "zip-escape.zip", "w") as zf:
        zf.writestr("../../escaped.py", "print('out')")
    (subs / "zip-fake.zip").write_text("not a zip")
    with tarfile.open(subs / "tar-link.tar", "w") as tf:
        info = tarfile.TarInfo("mytorch/nn/linear.py")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(info)
    (subs / "readme.txt").write_text("not a submission")
    return subs


def _gradebook(out: Path) -> list[dict]:
    with open(out / "gradebook.csv", newline="") as f:
        return list(csv.DictReader(f))


def _cell_value(cell: str) -> float | str:
    """A gradebook cell as a spreadsheet reads it: a number when it is one."""
    try:
        return float(cell)
    except ValueError:
        return cell


@pytest.fixture(scope="module")
def graded(folder, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out")
    result = run_cli("batch", str(folder), "--out", str(out), "--jobs", "2", timeout=600)
    assert result.returncode == 0, result.stderr
    return out


def test_a_row_for_every_submission(folder, graded):
    """Every folder and archive has exactly one row; other files are ignored with a note."""
    rows = _gradebook(graded)
    ids = [r["id"] for r in rows]
    expected = sorted(p.name.split(".")[0] for p in folder.iterdir() if p.name != "readme.txt")
    assert sorted(ids) == expected and len(ids) == len(set(ids))
    for row in rows:
        assert (graded / row["id"] / "results.json").is_file()
        assert (graded / row["id"] / "report.html").is_file()
    assert (graded / "summary.html").read_text().count("<svg") >= 1


def test_gradebook_has_component_subtotals_and_pass_fail_checks(homework, tmp_path):
    """After total, max and status: one ``<component> total`` column per component, then
    every check; a check worth no points reads pass or fail (fail when it did not run)."""
    full = make_report(homework, "alice")
    dldw = homework.component("linear").checks[8]
    assert dldw.id == "linear.dLdW_values" and dldw.points > 0
    wrong = make_report(homework, "carol", failed={dldw.id: ["batch_mean"],
                                                 "linear.gradcheck": [],
                                                 "softmax.large_logits": ["softmax_no_shift"]})
    wrong["checks"] = [c for c in wrong["checks"] if c["id"] != "tanh.no_mutation"]  # not run
    crashed = make_report(homework, "erin", status="crashed", score=0.0)
    batch.write_gradebook(tmp_path / "gradebook.csv", homework, [full, wrong, crashed])
    with open(tmp_path / "gradebook.csv", newline="") as f:
        header = next(csv.reader(f))
    subtotals = [f"{c.id} total" for c in homework.components]
    assert header == ["id", "name", "total", "max", "status", *subtotals,
                      *(c.id for c in homework.checks), "mistakes"]
    rows = {r["id"]: r for r in _gradebook(tmp_path)}
    alice, carol, erin = rows["alice"], rows["carol"], rows["erin"]
    assert (alice["total"], alice["linear total"], alice["softmax total"]) == ("100", "15", "1.5")
    assert sum(float(alice[h]) for h in subtotals) == float(alice["total"])
    assert alice["linear.gradcheck"] == alice["tanh.no_mutation"] == "pass"
    assert alice[dldw.id] == f"{dldw.points:g}"
    softmax_logits = next(c for c in homework.checks if c.id == "softmax.large_logits")
    assert float(carol["linear total"]) == pytest.approx(15 - dldw.points)
    assert float(carol["softmax total"]) == pytest.approx(1.5 - softmax_logits.points)
    assert float(carol["tanh total"]) == 1.5 and carol[dldw.id] == "0"
    assert carol["linear.gradcheck"] == "fail" and carol["tanh.no_mutation"] == "fail"
    assert carol["mistakes"] == "batch_mean;softmax_no_shift"
    for check in homework.checks:
        assert erin[check.id] == ("0" if check.points else "fail"), check.id
    assert all(erin[h] == "0" for h in subtotals) and erin["status"] == "crashed"


def test_batch_scores_equal_single_grading(folder, graded, grade):
    """Each row has the score (and check scores) that grading it alone gives."""
    rows = {r["id"]: r for r in _gradebook(graded)}
    for path in sorted(folder.iterdir()):
        if path.name == "readme.txt":
            continue
        report = grade(path)
        row = rows[roster.safe_id(path.name.split(".")[0])]
        assert float(row["total"]) == report.score, path.name
        assert row["status"] == report.status, path.name
        for check in report.checks:   # a check worth no points says pass or fail
            want = check.score if check.max_score else \
                ("pass" if check.status == "passed" else "fail")
            assert _cell_value(row[check.id]) == want, (path.name, check.id)


def test_honest_rows_stay_right_next_to_hostile_ones(graded):
    """Correct submissions keep full marks; unsafe archives are refused with a status."""
    rows = {r["id"]: r for r in _gradebook(graded)}
    for sid in ("correct-matmul", "correct-loops", "correct-prints", "zip-good",
                "hostile-forged_stdout", "hostile-kill_parent", "hostile-fork_background",
                "hostile-reads_files", "hostile-fork_bomb_lite"):
        assert rows[sid]["total"] == "100", sid
    assert rows["wrong-dLdW_mean"]["total"] == "85"
    assert rows["tar-good"]["mistakes"] == "bias_missing"
    for sid in ("zip-escape", "zip-fake", "tar-link"):
        assert rows[sid]["status"] == "rejected" and rows[sid]["total"] == "0", sid
    assert rows["hostile-patches_numpy"]["Z_values"] == "0"
    results = json.loads((graded / "zip-escape" / "results.json").read_text())
    assert "'..'" in results["output"]


def test_nothing_escapes_the_sandbox(folder, graded):
    """No file written outside scratch, no process left behind, no hidden vectors read."""
    assert not (folder.parent / "escaped.py").exists()
    if os.geteuid() == 0:
        assert not list(Path("/").glob("pwned.txt")) and not (ROOT / "pwned.txt").exists()
        assert not (graded / "pwned.txt").exists()
        left = subprocess.run(["ps", "-eo", "uid="], capture_output=True, text=True).stdout
        assert not [u for u in left.split() if 61000 <= int(u) < 61256]
    if chosen() == "portable" and workspace.open_to_others(str(ROOT / "vectors")):
        pytest.skip("no narrow view and the vectors are readable by other users: exactly what "
                    "the grader warns about (make them root-only, as .ci/run does)")
    for name in ("report.html", "results.json"):   # what it printed is in its report
        assert "hidden.npz" not in (graded / "hostile-reads_files" / name).read_text()


def test_restart_after_kill_loses_and_duplicates_nothing(folder, tmp_path):
    """A batch killed mid-run and started again grades only the rest, then has every row once."""
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "grader", "batch", str(folder), "--out", str(out), "--jobs",
           "1", "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(_journal_ids(out)) < 4:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = {sid: (out / sid / "results.json").stat().st_mtime_ns for sid in _journal_ids(out)}
    assert 4 <= len(first) < len([p for p in folder.iterdir() if p.name != "readme.txt"])
    assert not (out / "gradebook.csv").exists()
    result = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert f"{len(first)} already graded" in result.stdout
    rows = _gradebook(out)
    assert len(rows) == len({r["id"] for r in rows}) == len(_journal_ids(out))
    assert len((out / "graded.jsonl").read_text().splitlines()) == len(rows)  # none superseded
    for sid, mtime in first.items():  # what was done was not graded again
        assert (out / sid / "results.json").stat().st_mtime_ns == mtime
    forced = subprocess.run(cmd + ["--force"], env=env, cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert "0 already graded" in forced.stdout


def test_ctrl_c_stops_everything_at_once_and_keeps_what_is_graded(folder, tmp_path):
    """Ctrl-C (SIGINT to the terminal's process group) stops the batch within seconds with a
    sentence instead of a traceback and no process left behind; the next run finishes. (The
    class is the mixed one plus sixty more, so that it is still running when interrupted.)"""
    out, subs = tmp_path / "out", tmp_path / "class"
    shutil.copytree(folder, subs)
    for i in range(60):
        shutil.copytree(SUBMISSIONS / "correct" / "matmul" / "mytorch",
                        subs / f"x{i:02d}" / "mytorch")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "grader", "batch", str(subs), "--out", str(out), "--jobs",
           "2", "--no-progress"]
    # as from a terminal: Ctrl-C's signal is not ignored, whatever this test was started from
    # (a shell's background job inherits SIGINT ignored, and Python then leaves it so)
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and len(_journal_ids(out)) < 3:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)
    start = time.time()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and time.time() - start < 10
    assert "interrupted" in err and "Traceback" not in err
    time.sleep(0.5)   # then nothing of the session runs (exited ones may await reaping)
    left = subprocess.run(["ps", "-s", str(proc.pid), "-o", "stat=,args="], capture_output=True,
                          text=True).stdout.splitlines()
    assert [line for line in left if not line.startswith("Z")] == []
    result = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    rows = _gradebook(out)
    assert len(rows) == len({r["id"] for r in rows}) == len(_journal_ids(out))


def test_changed_submission_damaged_line_or_missing_report_is_graded_again(tmp_path):
    """Resuming regrades a submission whose files changed, whose journal line is damaged
    (a batch killed mid-line), or whose report was deleted; and only those."""
    subs, out = tmp_path / "subs", tmp_path / "out"
    for name in ("a", "b", "c", "d"):
        shutil.copytree(SUBMISSIONS / "correct" / "matmul" / "mytorch", subs / name / "mytorch")
    run_cli("batch", str(subs), "--out", str(out), "--jobs", "1")
    journal = out / "graded.jsonl"
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join(line if '"id": "a"' not in line else line[:len(line) // 2]
                                 for line in lines))   # a's line torn, and no final newline
    linear = subs / "b" / "mytorch" / "nn" / "linear.py"
    linear.write_text(linear.read_text().replace("return Z", "return -Z", 1))
    (out / "c" / "report.html").unlink()
    again = run_cli("batch", str(subs), "--out", str(out), "--jobs", "1")
    assert "3 graded now, 1 already graded" in again.stdout
    rows = {r["id"]: r for r in _gradebook(out)}
    assert rows["a"]["total"] == "100" and rows["b"]["Z_values"] == "0"
    assert (out / "c" / "report.html").is_file()
    assert sorted(_journal_ids(out)) == ["a", "b", "c", "d"]
    assert "3 graded now" not in run_cli("batch", str(subs), "--out", str(out)).stdout


def _journal_ids(out: Path) -> list[str]:
    """The ids with a complete line in the batch's journal."""
    ids = []
    try:
        text = (out / "graded.jsonl").read_text()
    except OSError:
        return ids
    for line in text.splitlines():
        try:
            ids.append(json.loads(line)["id"])
        except ValueError:
            pass
    return sorted(set(ids))


@pytest.mark.slow
def test_dask_cluster_gives_the_same_gradebook(folder, graded, tmp_path):
    """--dask on a local cluster writes the same gradebook as the local pool."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        out = tmp_path / "dask-out"
        result = run_cli("batch", str(folder), "--out", str(out), "--dask",
                         cluster.scheduler_address, timeout=600)
        assert result.returncode == 0, result.stderr
    assert (out / "gradebook.csv").read_text() == (graded / "gradebook.csv").read_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox user exists only when run as root")
@pytest.mark.skipif(chosen() != "linux", reason="the narrow view is the Linux fork server's; "
                    "the portable sandbox protects files by permissions only")
def test_student_code_cannot_read_files_elsewhere_on_the_machine(tmp_path, grade):
    """As root, student code sees no project folder, home or other copy of the course files."""
    secrets = [ROOT / ".pytest_cache" / "secret.txt", Path("/var/tmp") / "nn-grader-secret.txt",
               tmp_path / "secret.txt"]
    for path in secrets:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("SECRET")
        path.chmod(0o644)
    sub = tmp_path / "sub"
    shutil.copytree(SUBMISSIONS / "correct" / "matmul" / "mytorch", sub / "mytorch")
    probe = "".join(f"\ntry:\n    print('READ', open({str(p)!r}).read())\nexcept OSError:\n    pass"
                    for p in secrets)
    linear = sub / "mytorch" / "nn" / "linear.py"
    linear.write_text(probe + "\n" + linear.read_text())
    try:
        report = grade(sub)
    finally:
        for path in secrets:
            path.unlink()
    assert report.score == report.max_score
    assert "SECRET" not in report.output


def _fake_task(rubric_path: str, entry: batch.Entry, out: str, rubric_sig: str) -> dict:
    """Stands in for grading in a worker process: dies on 'crash' ids, raises on 'bug' ids,
    and counts every attempt in a file per id."""
    with open(Path(out) / f"{entry.id}.attempts", "a") as f:
        f.write(f"{os.getpid()}\n")
    if entry.id.startswith("crash"):
        os._exit(9)
    if entry.id.startswith("bug"):
        raise KeyError("no such check")
    return {"submission": entry.id, "worker": os.getpid()}


def test_local_runner_survives_dying_workers_and_grader_errors(tmp_path):
    """A worker that dies costs only the submission it was running (tried once more, then
    recorded as having killed its grader); a grader exception is that row's failure; every
    other submission is done exactly once, by workers still standing."""
    from grader import executors

    ids = [f"s{i:02d}" for i in range(12)]
    ids[3:3], ids[8:8] = ["crash-a"], ["bug-b", "crash-c"]
    entries = [batch.Entry(i, tmp_path, "sig") for i in ids]
    got: dict[str, list[dict]] = {}
    run = executors.run_local("rubric.yaml", str(tmp_path), "rsig", 2, task=_fake_task)
    run(entries, lambda e, r: got.setdefault(e.id, []).append(r))
    assert sorted(got) == sorted(ids) and all(len(r) == 1 for r in got.values())
    for crash in ("crash-a", "crash-c"):
        assert "killed" in got[crash][0]["_failed"]
        assert len((tmp_path / f"{crash}.attempts").read_text().split()) == executors.STRIKES
    assert "KeyError" in got["bug-b"][0]["_failed"]
    for i in ids:
        if i.startswith("s"):
            assert got[i][0]["submission"] == i
            assert len((tmp_path / f"{i}.attempts").read_text().split()) == 1


def test_submission_no_worker_could_grade_gets_its_row_and_report(tmp_path, monkeypatch):
    """A submission recorded as failed by the runner (it killed its grader twice) gets a row
    with status rejected and the reason, a results.json and a report.html, and is not
    graded again by the next batch."""
    from grader import executors

    subs, out = tmp_path / "subs", tmp_path / "out"
    shutil.copytree(SUBMISSIONS / "correct" / "matmul" / "mytorch", subs / "eve" / "mytorch")

    def failing(*_args):
        return lambda entries, done: [done(e, {"_failed": "the grader process running this "
                                                           "submission was killed (by it?)"})
                                      for e in entries]

    monkeypatch.setattr(executors, "run_local", failing)
    first = batch.run_batch(subs, out, ROOT / "rubric.yaml", progress=False)
    assert (first.graded_now, first.errored) == (1, 1)
    (row,) = _gradebook(out)
    assert (row["id"], row["status"], row["total"]) == ("eve", "rejected", "0")
    results = json.loads((out / "eve" / "results.json").read_text())
    assert "killed" in results["output"] and "killed" in (out / "eve" / "report.html").read_text()
    again = batch.run_batch(subs, out, ROOT / "rubric.yaml", progress=False)
    assert (again.graded_now, again.skipped) == (0, 1)


AWKWARD = ["alice", "José", "Jos_", "a b", "a_b", ".bob", "学生", '=HYPERLINK("x","y")', "-1+1",
           "@SUM(A1)", "+1", "Bob", "bob"]
JUNK = [".DS_Store", "__MACOSX", "readme.txt", "evil\x1b[2J.txt", "._alice.zip"]


@pytest.fixture(scope="module")
def awkward(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """A class whose folder names collide once cleaned, start with a dot, are not ASCII or
    would be formulas in a spreadsheet; an archive named like a folder; the system's junk."""
    subs, out = tmp_path_factory.mktemp("awkward"), tmp_path_factory.mktemp("awkward-out")
    for name in AWKWARD:
        shutil.copytree(SUBMISSIONS / "correct" / "matmul" / "mytorch", subs / name / "mytorch")
    _zip(SUBMISSIONS / "hostile" / "hidden_print" / "mytorch", subs / "alice.zip")
    (subs / "__MACOSX").mkdir()
    for name in JUNK[:1] + JUNK[2:]:
        (subs / name).write_text("not a submission")
    result = run_cli("batch", str(subs), "--out", str(out), "--jobs", "2", timeout=600)
    assert result.returncode == 0, result.stderr
    return subs, out, result


def test_every_entry_gets_one_row_under_an_id_of_its_own(awkward):
    """Names that clean to the same id, dot names and non-ASCII names each get one row, an
    id of their own (readable, a hash where needed) and their files; the row keeps the name."""
    _, out, _ = awkward
    rows = _gradebook(out)
    names = [r["name"].removeprefix("'") for r in rows]
    assert sorted(names) == sorted(AWKWARD + ["alice.zip"])
    ids = [r["id"].removeprefix("'") for r in rows]
    assert len({i.casefold() for i in ids}) == len(rows)   # apart even on macOS
    by_name = dict(zip(names, ids))
    assert by_name["Jos_"] == "Jos_" and by_name["José"].startswith("Jose-")
    assert by_name["a_b"] == "a_b" and by_name["a b"].startswith("a_b-")
    assert by_name[".bob"].startswith("_bob-") and by_name["学生"].startswith("u5b66u751f-")
    assert by_name["alice"].startswith("alice-") and by_name["alice.zip"].startswith("alice-")
    for sid in ids:
        assert not sid.startswith((".", "-")), sid
        assert (out / sid / "results.json").is_file() and (out / sid / "report.html").is_file()
    assert all(r["total"] == "100" for r in rows)


def test_gradebook_cells_are_never_formulas(awkward):
    """A text cell that a spreadsheet would evaluate starts with a quote; numbers stay numbers."""
    _, out, _ = awkward
    rows = _gradebook(out)
    texts = {r["name"] for r in rows}
    assert {"'=HYPERLINK(\"x\",\"y\")", "'-1+1", "'@SUM(A1)", "'+1"} <= texts
    from grader import rubric as rubric_mod

    rub = rubric_mod.load(LINEAR)   # what the batch was graded with
    numeric = {"total", "max", *(f"{c.id} total" for c in rub.components),
               *(c.id for c in rub.checks if c.points)}
    verdicts = {c.id for c in rub.checks if not c.points}
    assert numeric | verdicts <= set(rows[0]) and verdicts
    for row in rows:
        for key, cell in row.items():
            if key in numeric:
                float(cell)
            elif key in verdicts:
                assert cell in ("pass", "fail"), (key, cell)
            else:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (key, cell)


def test_skipped_entries_are_counted_with_their_reason(awkward):
    """Only what is not a submission is skipped: a note and the summary page say how many and
    why, with the names, a file name's escapes shown as text."""
    _, out, result = awkward
    assert "skipped 5 of 19 entries" in result.stderr
    assert "2 not a folder or a .zip/.tar/.tar.gz archive (evil" in result.stderr
    assert "3 left by the operating system (.DS_Store, ._alice.zip, __MACOSX)" in result.stderr
    assert "evil\\x1b[2J.txt" in result.stderr and "\x1b" not in result.stderr
    assert "told apart with a hash: " in result.stderr and "alice.zip as alice-" in result.stderr
    page = (out / "summary.html").read_text()
    assert "Skipped, not submissions: 3 left by the operating system" in page
    assert "evil\\x1b[2J.txt" in page and "\x1b" not in page


def test_what_hidden_cases_printed_is_in_a_staff_file_only(awkward):
    """The submission that prints its inputs: the staff file has what it printed once hidden
    cases ran; its report.html and results.json do not; others have no staff file."""
    _, out, _ = awkward
    sid = next(r["id"] for r in _gradebook(out) if r["name"] == "alice.zip")
    staff = (out / sid / "staff-output.txt").read_text()
    assert "CANARY forward A(6, 5)" in staff and "CANARY forward A(96, 64)" in staff
    for name in ("report.html", "results.json"):
        text = (out / sid / name).read_text()
        assert "CANARY forward A(4, 3)" in text and "(6, 5)" not in text, name
    assert len(list(out.glob("*/staff-output.txt"))) == 1


def test_awkward_ids_are_the_same_when_the_batch_runs_again(awkward):
    """Ids depend on names alone: a second run finds every submission already graded."""
    subs, out, _ = awkward
    again = run_cli("batch", str(subs), "--out", str(out))
    assert "0 graded now, 14 already graded" in again.stdout, again.stdout + again.stderr


def test_ids_are_readable_safe_and_apart(tmp_path):
    """An id keeps a clean name as it is; any other becomes readable ASCII with a hash of the
    name; names that would meet (also by case, or with the batch's own files) never do."""
    assert roster.safe_id("alice_01") == "alice_01"
    for name, start in [("José", "Jose-"), ("Straße", "Strasse-"), ("学生", "u5b66u751f-"),
                        (".bob", "_bob-"), ("-1+1", "_1+1-"), ("a b", "a_b-"),
                        ('=HYPERLINK("x")', "_HYPERLINK__x__-"),
                        ("Gradebook.csv", "Gradebook.csv-"),
                        ("x" * 130, "x" * 100 + "-")]:
        sid = roster.safe_id(name)
        assert sid.startswith(start) and len(sid) == len(start) + 6, (name, sid)
        assert sid.isascii() and "/" not in sid and roster.safe_id(name) == sid
    names = ["alice", "alice.zip", "Bob", "bob", "José", "Jos_", "Jose"]
    ids = roster.unique_ids([tmp_path / n for n in names])
    assert len({i.casefold() for i in ids}) == len(names)
    assert dict(zip(names, ids))["Jos_"] == "Jos_" and dict(zip(names, ids))["Jose"] == "Jose"
