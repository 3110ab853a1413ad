"""The grader's own memory grows by a bounded amount for any one submission."""
from __future__ import annotations

import subprocess
import sys

from conftest import ROOT, SUBMISSIONS

PEAK = """
import resource, sys
from grader.cli import main
main(["grade", sys.argv[1], "--rubric", sys.argv[2], "--quiet"])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _peak_kib(submission) -> int:
    done = subprocess.run([sys.executable, "-c", PEAK, str(submission), str(ROOT / "rubric.yaml")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


def test_replies_flooding_the_channel_cost_the_grader_under_256_mib():
    """A layer returning 100 MiB on every call (500 MiB and more in all): the grader's peak
    resident memory stays within 256 MiB of grading an honest submission."""
    honest = _peak_kib(SUBMISSIONS / "correct" / "matmul")
    flood = _peak_kib(SUBMISSIONS / "hostile" / "floods_replies")
    assert flood - honest < 256 * 1024, (honest, flood)
