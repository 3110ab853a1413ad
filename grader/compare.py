"""Compare a submitted array with the expected one and say how they differ."""
from __future__ import annotations

from grader.records import record

import numpy as np


@record(frozen=True)
class Comparison:
    """The outcome of comparing two arrays of the same shape."""
    ok: bool
    total: int
    mismatched: int = 0
    nonfinite: int = 0
    max_abs: float = 0.0
    max_rel: float = 0.0
    first: tuple[tuple[int, ...], ...] = ()
    first_pair: tuple[float, float] | None = None   # (expected, got) at the first mismatch

    def summary(self, name: str, reveal: bool = True) -> str:
        """One sentence: how many values differ, by how much, and where first."""
        if self.ok:
            return f"{name} matches"
        if self.nonfinite:
            return f"{name} contains {self.nonfinite} NaN or infinite value(s)"
        text = (f"{self.mismatched} of {self.total} values of {name} differ "
                f"(max abs diff {self.max_abs:.3g}, max rel diff {self.max_rel:.3g})")
        if reveal and self.first:
            where = ", ".join(str(list(i)) for i in self.first)
            text += f"; first at {where}"
            if self.first_pair:
                text += f" (expected {self.first_pair[0]:.6g}, got {self.first_pair[1]:.6g})"
        return text


def as_float(arr: np.ndarray) -> np.ndarray | None:
    """The array as float64 (itself when it is already), or None if its dtype is not
    numeric. Callers never write into it."""
    if arr.dtype.kind in "biuf":
        return np.asarray(arr, dtype=np.float64)
    if arr.dtype.kind == "c" and not np.any(arr.imag):
        return arr.real.astype(np.float64)
    return None


def finite(arr: np.ndarray) -> bool:
    """No NaN or inf in ``arr`` (integer and boolean arrays always qualify). min and max
    propagate NaN and show an inf, so no array of flags as large as ``arr`` is made."""
    if arr.dtype.kind not in "fc" or arr.size == 0:
        return True
    parts = (arr.real, arr.imag) if arr.dtype.kind == "c" else (arr,)   # views, not copies
    return all(bool(np.isfinite(p.min()) and np.isfinite(p.max())) for p in parts)


def compare(got: np.ndarray, expected: np.ndarray, atol: float, rtol: float) -> Comparison:
    """Element-wise |got - expected| <= atol + rtol * |expected|, like numpy.allclose."""
    g, e = as_float(got), np.asarray(expected, dtype=np.float64)
    total = int(e.size)
    if g is None:
        return Comparison(False, total, total)
    diff = np.abs(g - e)
    good = diff <= atol + rtol * np.abs(e)      # NaN is never good
    if good.all():
        return Comparison(True, total)
    bad = ~good
    mismatched = int(np.count_nonzero(bad))
    nonfinite = int(np.count_nonzero(~np.isfinite(g)))
    finite = np.where(np.isfinite(diff), diff, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(np.abs(e) > 0, finite / np.abs(e), np.where(finite > 0, np.inf, 0.0))
    idx = np.argwhere(bad)[:3]
    first = tuple(tuple(int(i) for i in row) for row in idx)
    pair = (float(e[first[0]]), float(g[first[0]])) if first else None
    return Comparison(False, total, mismatched, nonfinite, float(finite.max()),
                      float(rel.max()), first, pair)
