"""Benchmarks, reported as ratios measured side by side in one run.

``python -m grader.bench grade``: `grade` on a full-marks submission against a bare
``python -c "import numpy"``, interleaved, medians compared (target: at most 1.5x). Two
scenarios: a student's `make grade` in the unpacked handout archive (public checks, the
reference's layer in place of the skeleton), and the full rubric with hidden checks.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from grader import workspace


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure what students get: cached bytecode
    home = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([home, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


SETTLE = 0.1   # seconds between two timed commands


def _time(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    """Wall time of one command, on a machine left quiet: what a command leaves running once
    it has exited (a fork server tearing down) does not land in the next command's time."""
    time.sleep(SETTLE)
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    return time.perf_counter() - start


def bench_grade(scenarios: dict[str, tuple[list[str], dict, Path | None, float]],
                repeats: int) -> None:
    """Time each scenario's grade command and a bare numpy import, interleaved; print the
    medians and the ratios."""
    numpy_cmd = [sys.executable, "-c", "import numpy"]
    env = _env()
    for cmd, cmd_env, cwd, _ in scenarios.values():  # warm the disk cache, write bytecode
        _time(cmd, cmd_env, cwd)
    _time(numpy_cmd, env)
    times: dict[str, list[float]] = {name: [] for name in ["import numpy", *scenarios]}
    for _ in range(repeats):
        times["import numpy"].append(_time(numpy_cmd, env))
        for name, (cmd, cmd_env, cwd, _) in scenarios.items():
            times[name].append(_time(cmd, cmd_env, cwd))
    base = statistics.median(times["import numpy"])
    print(f"{'import numpy':44s} median {base * 1000:7.1f} ms over {repeats} runs")
    for name, (*_, target) in scenarios.items():
        median = statistics.median(times[name])
        goal = f"(target <= {target:g}x)" if target else "(no target: staff grade hidden cases)"
        print(f"{name:44s} median {median * 1000:7.1f} ms  ratio {median / base:.2f}x {goal}")
    user = "root: student code as a sandbox user, in the fork server's narrow view" \
        if workspace.is_root() else "an ordinary user"
    print(f"(as {user}; {os.cpu_count()} cores)")


def _student_handout(rubric: Path, tmp: Path) -> Path:
    """The student archive unpacked, with the reference's layer in place of the skeleton."""
    import shutil
    import tarfile

    from grader import handout
    from grader import rubric as rubric_mod

    rub = rubric_mod.load(rubric)
    archive = handout.build_archive(rub, rub.reference_dir, tmp / "handout.tar.gz")
    with tarfile.open(archive) as tf:
        tf.extractall(tmp, filter="data")
    top = tmp / "handout"
    for package in rub.packages:
        shutil.rmtree(top / package, ignore_errors=True)
        shutil.copytree(rub.reference_dir / package, top / package)
    return top


def make_class(folder: Path, n: int, fixtures: Path, sleepers: int = 0,
               base: Path | None = None) -> list[Path]:
    """``n`` submissions cycling through the correct, wrong and broken fixtures; with
    ``sleepers``, that many of them (spread over the class) sleep just under every call's
    limit instead. With ``base`` (a whole submission: the reference), each is the base with
    the fixture's files in place of its own, so every component of the assignment is graded."""
    import shutil

    kinds = [p for kind in ("correct", "wrong", "broken")
             for p in sorted((fixtures / kind).iterdir()) if p.is_dir()]
    sleeper = fixtures / "hostile" / "sleeps_under_limits"
    every = n // sleepers if sleepers else 0
    folder.mkdir(parents=True)
    made = []
    for i in range(n):
        src = sleeper if every and i % every == every - 1 and i // every < sleepers else \
            kinds[i % len(kinds)]
        dest = folder / f"s{i:05d}-{src.name}"
        skip = shutil.ignore_patterns("expect.yaml", "__pycache__", "mistakes.py")
        if base is not None:
            shutil.copytree(base, dest, ignore=skip)
        shutil.copytree(src, dest, ignore=skip, dirs_exist_ok=True)
        made.append(dest)
    return made


def _whole(rubric: Path) -> Path | None:
    """The rubric's reference, the base of full submissions (None for a one-file assignment,
    whose fixtures are whole already)."""
    from grader import rubric as rubric_mod

    rub = rubric_mod.load(rubric)
    if len(rub.files) < 2 or rub.reference_dir is None:
        return None
    return rub.reference_dir


def _tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants, in bytes."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
    return total


def _run_batch(subs: Path, out: Path, rubric: Path, env: dict,
               jobs: int | None = None) -> tuple[float, int]:
    """Seconds and peak memory (whole process tree) of one batch run."""
    cmd = [sys.executable, "-m", "grader", "batch", str(subs), "--out", str(out), "--rubric",
           str(rubric), "--no-progress", *(["--jobs", str(jobs)] if jobs else [])]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid))
        time.sleep(0.02)
    if proc.returncode != 0:
        raise SystemExit(f"batch failed: {proc.stderr.read().decode()[-2000:]}")
    return time.perf_counter() - start, peak


def bench_batch(rubric: Path, n: int, naive_sample: int, memory_sizes: tuple[int, int],
                sleepers: int = 0) -> None:
    """Throughput of `batch` against one `grade` process per submission; peak memory."""
    import shutil
    import tempfile

    env = _env()
    fixtures = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "submissions"
    rubric = rubric.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = _whole(rubric)
        subs = make_class(tmp / "class", n, fixtures, base=base)
        seconds, _ = _run_batch(tmp / "class", tmp / "out", rubric, env)
        step = max(1, n // naive_sample)   # spread over the class: the same mix as the batch
        sample = subs[::step][:naive_sample]
        start = time.perf_counter()
        for sub in sample:  # the naive way: a fresh grader process per submission
            out = tmp / "naive" / sub.name
            out.mkdir(parents=True)
            subprocess.run([sys.executable, "-m", "grader", "grade", str(sub), "--rubric",
                            str(rubric), "--json", str(out / "results.json"), "--html",
                            str(out / "report.html"), "--quiet"], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        naive = len(sample) / (time.perf_counter() - start)
        rate = n / seconds
        print(f"batch, {n} submissions      : {seconds:6.2f} s  {rate:7.1f} submissions/s")
        print(f"naive, {len(sample)} submissions       : "
              f"{len(sample) / naive:6.2f} s  {naive:7.1f} submissions/s")
        print(f"throughput ratio batch / naive = {rate / naive:.1f}x (target >= 10x)")
        # the same grading on one worker: what the batch gains without parallelism. The naive
        # loop runs one submission at a time, the batch one per core: the ratio above is this
        # one times what more workers add, which grows with the cores
        single = tmp / "single"
        single.mkdir()
        every = subs[::max(1, n // max(naive_sample, n // 4))]
        for sub in every:
            shutil.copytree(sub, single / sub.name)
        seconds1, _ = _run_batch(single, tmp / "single-out", rubric, env, jobs=1)
        rate1 = len(every) / seconds1
        print(f"one worker, {len(every)} submissions   : {seconds1:6.2f} s  {rate1:7.1f} "
              f"submissions/s = {rate1 / naive:.1f}x naive; {os.cpu_count()} workers on "
              f"{os.cpu_count()} cores add {rate / rate1:.2f}x")
        peaks = []
        for size in memory_sizes:
            make_class(tmp / f"class{size}", size, fixtures, base=base)
            seconds, peak = _run_batch(tmp / f"class{size}", tmp / f"out{size}", rubric, env)
            peaks.append(peak)
            print(f"peak memory, {size:5d} submissions: {peak / 2**20:7.1f} MiB "
                  f"(whole process tree; {size / seconds:.1f} submissions/s)")
        print(f"memory ratio {memory_sizes[1]} / {memory_sizes[0]} = {peaks[1] / peaks[0]:.2f}x "
              f"(target <= 1.2x)")
        if sleepers:
            _bench_sleepers(tmp, rubric, env, fixtures, sleepers, base)
    user = "root: each submission as a sandbox user" if workspace.is_root() else "an ordinary user"
    print(f"(as {user}; {os.cpu_count()} cores)")


def _bench_sleepers(tmp: Path, rubric: Path, env: dict, fixtures: Path, size: int,
                    base: Path | None = None) -> None:
    """A class where a tenth sleeps just under every call's limit, against an honest one of
    the same size: each sleeper costs at most its total budget."""
    from grader import rubric as rubric_mod

    budget = rubric_mod.load(rubric).limits.total_seconds
    jobs = os.cpu_count() or 1
    honest_dir, sleepy_dir = tmp / f"honest{size}", tmp / f"sleepy{size}"
    make_class(honest_dir, size, fixtures, base=base)
    make_class(sleepy_dir, size, fixtures, sleepers=size // 10, base=base)
    honest, _ = _run_batch(honest_dir, tmp / "honest-out", rubric, env)
    sleepy, _ = _run_batch(sleepy_dir, tmp / "sleepy-out", rubric, env)
    cost = (size // 10) * budget / jobs
    print(f"a tenth sleeping, {size} submissions: {sleepy:6.1f} s against {honest:5.1f} s "
          f"honest: {(sleepy - honest) / cost:.2f} x the budget's cost ({size // 10} sleepers "
          f"x {budget:g} s / {jobs} workers = {cost:.0f} s)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m grader.bench")
    sub = p.add_subparsers(dest="what", required=True)
    g = sub.add_parser("grade", help="grade latency against importing numpy")
    g.add_argument("--rubric", type=Path, default=Path("rubric.yaml"))
    g.add_argument("--repeats", type=int, default=21)
    b = sub.add_parser("batch", help="batch throughput and memory")
    b.add_argument("--rubric", type=Path, default=Path("rubric.yaml"))
    b.add_argument("--n", type=int, default=500)
    b.add_argument("--naive-sample", type=int, default=40,
                   help="submissions graded the naive way (its rate is per submission)")
    b.add_argument("--memory-sizes", type=int, nargs=2, default=(200, 2000))
    b.add_argument("--sleepy-class", type=int, default=40,
                   help="size of the class where a tenth sleeps under the limits (0: skip)")
    args = p.parse_args(argv)
    if args.what == "batch":
        bench_batch(args.rubric, args.n, args.naive_sample, tuple(args.memory_sizes),
                    args.sleepy_class)
    if args.what == "grade":
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            top = _student_handout(args.rubric, Path(tmp))
            student_env = {k: v for k, v in _env().items()
                           if k not in ("PYTHONPATH", "NN_GRADER_SANDBOX")}
            portable_env = dict(student_env, NN_GRADER_SANDBOX="portable")
            rub = args.rubric.resolve()
            scenarios = {
                "student: python grade.py in the handout": (
                    [sys.executable, "grade.py"], student_env, top, 1.5),
                "student, portable sandbox (macOS, Windows)": (
                    [sys.executable, "grade.py"], portable_env, top, 2.5),
                "full rubric (hidden checks too), for reference": (
                    [sys.executable, "-m", "grader", "grade", str(top), "--rubric", str(rub)],
                    _env(), None, None),
            }
            bench_grade(scenarios, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
