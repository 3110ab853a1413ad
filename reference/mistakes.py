"""Wrong variants of the reference, one planted mistake each.

`make vectors` runs every class named under `mistakes.variants` in rubric.yaml on every case and
stores its outputs beside the test vectors, so the grader recognises the same mistake in a
submission without running this code. Mistakes that a generic transform of the right answer
explains (a transpose, a factor, a lost axis) need no variant here.
"""
import numpy as np

from mytorch.nn.linear import Linear


class bias_missing(Linear):
    """forward forgets the bias: Z = A W^T."""

    def forward(self, A):
        super().forward(A)
        return A @ self.W.T


class ignores_dLdZ(Linear):
    """backward uses ones where the upstream gradient dLdZ belongs."""

    def backward(self, dLdZ):
        return super().backward(np.ones_like(dLdZ))


class wrong_cached_input(Linear):
    """backward uses the input of the first forward call instead of the latest one."""

    def forward(self, A):
        Z = super().forward(A)
        self.A = self.__dict__.setdefault("_first_A", A)
        return Z
