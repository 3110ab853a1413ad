"""The one exception type for faults of the grader or its configuration (never of a student)."""
from __future__ import annotations


class GraderError(Exception):
    """A configuration or environment fault: a bad rubric, stale vectors, an unusable path."""
