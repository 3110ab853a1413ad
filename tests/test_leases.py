"""Concurrent graders never share a sandbox user, whatever each one's scratch folder is."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandbox users exist only as root")

HOLD = ("import os, sys, time\n"
        "from grader import workspace\n"
        "with workspace.uid_lease() as uid:\n"
        "    print(uid, flush=True)\n"
        "    sys.stdin.read()\n")


def test_graders_with_different_scratch_folders_lease_different_uids(tmp_path):
    """Two grader processes, each told a scratch folder of its own, hold different uids."""
    procs, uids = [], []
    try:
        for name in ("a", "b"):
            env = dict(os.environ, PYTHONPATH=str(ROOT), NN_GRADER_SCRATCH=str(tmp_path / name))
            proc = subprocess.Popen([sys.executable, "-c", HOLD], env=env, text=True,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            procs.append(proc)
            uids.append(int(proc.stdout.readline()))
    finally:
        for proc in procs:
            proc.communicate("", timeout=30)
    assert uids[0] != uids[1]
