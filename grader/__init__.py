"""Autograder for student implementations of neural-network layers."""

GC_THRESHOLD = 20000   # allocations between the collector's rounds (Python's default: 700)


def collect_rarely() -> None:
    """For a process that grades: a submission allocates some 100,000 objects, nearly all
    freed as they go, and at the collector's default pace a batch worker walked the rubric
    and the vectors fifteen times a submission (~6% of its time) to free almost nothing."""
    import gc

    gc.set_threshold(GC_THRESHOLD, 20, 20)
