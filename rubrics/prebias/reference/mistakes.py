"""Wrong variants of the pre-bias reference: the two mistakes of the published backward pass
(../shared/seeds/000), one each, so the grader can say which one a submission makes."""
import numpy as np

from mytorch.nn.linear import Linear


class DA_from_inputs(Linear):
    """DA computed from the inputs, as published: -(X - A) summed over the batch."""

    def backward(self, DY):
        DX = super().backward(DY)
        self.DA = -(self.X - self.A).sum(axis=0)
        return DX


class DB_extra_term(Linear):
    """DB with the published extra term: sum of DY plus (published DA) W."""

    def backward(self, DY):
        DX = super().backward(DY)
        self.DB = DY.sum(axis=0) + np.dot(-(self.X - self.A).sum(axis=0), self.W)
        return DX
