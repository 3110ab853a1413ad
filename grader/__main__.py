"""Entry point for ``python -m grader``."""
import os

# One BLAS thread per process: graders run many processes side by side, and forking a
# process with a live BLAS thread pool is unsafe.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sys  # noqa: E402

from grader.cli import main  # noqa: E402

code = main()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)  # nothing is left to clean up: tearing numpy down would only cost time
