"""Entry point for ``python -m grader``."""
import os

# One BLAS thread per process: graders run many processes side by side, and forking a
# process with a live BLAS thread pool is unsafe.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from grader.cli import main  # noqa: E402

raise SystemExit(main())
