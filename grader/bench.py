"""Benchmarks, reported as ratios measured side by side in one run.

``python -m grader.bench grade``: `grade` on a full-marks submission against a bare
``python -c "import numpy"``, interleaved, medians compared (target: at most 1.5x).
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


def _time(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def bench_grade(submission: Path, rubric: Path, repeats: int) -> float:
    """Print the medians and their ratio; return the ratio."""
    env = _env()
    numpy_cmd = [sys.executable, "-c", "import numpy"]
    grade_cmd = [sys.executable, "-m", "grader", "grade", str(submission), "--rubric", str(rubric)]
    for cmd in (numpy_cmd, grade_cmd):  # warm the disk cache and write bytecode
        _time(cmd, env)
    numpy_times, grade_times = [], []
    for _ in range(repeats):
        numpy_times.append(_time(numpy_cmd, env))
        grade_times.append(_time(grade_cmd, env))
    n, g = statistics.median(numpy_times), statistics.median(grade_times)
    print(f"import numpy : median {n * 1000:7.1f} ms over {repeats} runs")
    print(f"grade        : median {g * 1000:7.1f} ms over {repeats} runs ({submission})")
    print(f"ratio grade / import numpy = {g / n:.2f}x (target <= 1.5x)")
    return g / n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m grader.bench")
    sub = p.add_subparsers(dest="what", required=True)
    g = sub.add_parser("grade", help="grade latency against importing numpy")
    g.add_argument("--submission", type=Path, default=Path("reference"))
    g.add_argument("--rubric", type=Path, default=Path("rubric.yaml"))
    g.add_argument("--repeats", type=int, default=21)
    args = p.parse_args(argv)
    if args.what == "grade":
        bench_grade(args.submission, args.rubric, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
