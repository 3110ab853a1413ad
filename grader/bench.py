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


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure what students get: cached bytecode
    home = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([home, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _time(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    return time.perf_counter() - start


def bench_grade(scenarios: dict[str, tuple[list[str], dict, Path]], repeats: int) -> None:
    """Time each scenario's grade command and a bare numpy import, interleaved; print the
    medians and the ratios."""
    numpy_cmd = [sys.executable, "-c", "import numpy"]
    env = _env()
    for cmd, cmd_env, cwd in scenarios.values():  # warm the disk cache and write bytecode
        _time(cmd, cmd_env, cwd)
    _time(numpy_cmd, env)
    times: dict[str, list[float]] = {name: [] for name in ["import numpy", *scenarios]}
    for _ in range(repeats):
        times["import numpy"].append(_time(numpy_cmd, env))
        for name, (cmd, cmd_env, cwd) in scenarios.items():
            times[name].append(_time(cmd, cmd_env, cwd))
    base = statistics.median(times["import numpy"])
    print(f"{'import numpy':38s} median {base * 1000:7.1f} ms over {repeats} runs")
    for name in scenarios:
        median = statistics.median(times[name])
        print(f"{name:38s} median {median * 1000:7.1f} ms  ratio {median / base:.2f}x "
              f"(target <= 1.5x)")
    user = "root: each run as a sandbox user, in its own mount namespace" if os.geteuid() == 0 \
        else "an ordinary user"
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
    package = rub.layer.module.split(".")[0]
    shutil.rmtree(top / package, ignore_errors=True)
    shutil.copytree(rub.reference_dir / package, top / package)
    return top


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m grader.bench")
    sub = p.add_subparsers(dest="what", required=True)
    g = sub.add_parser("grade", help="grade latency against importing numpy")
    g.add_argument("--rubric", type=Path, default=Path("rubric.yaml"))
    g.add_argument("--repeats", type=int, default=21)
    args = p.parse_args(argv)
    if args.what == "grade":
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            top = _student_handout(args.rubric, Path(tmp))
            student_env = {k: v for k, v in _env().items() if k != "PYTHONPATH"}
            rub = args.rubric.resolve()
            scenarios = {
                "student: grade . in the unpacked handout": (
                    [sys.executable, "-m", "grader", "grade", "."], student_env, top),
                "full rubric (hidden checks too)": (
                    [sys.executable, "-m", "grader", "grade", str(top), "--rubric", str(rub)],
                    _env(), None),
            }
            bench_grade(scenarios, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
