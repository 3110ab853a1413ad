"""Opt-in timing marks on stderr (NN_GRADER_TRACE=1): where a grading run spends its time."""
from __future__ import annotations

import os
import sys
import time

ENABLED = bool(os.environ.get("NN_GRADER_TRACE"))
_START = time.perf_counter()


def mark(what: str) -> None:
    """Print milliseconds since start-up, the process id and ``what``."""
    if ENABLED:
        sys.stderr.write(f"{(time.perf_counter() - _START) * 1000:7.1f} ms "
                         f"[{os.getpid()}] {what}\n")
