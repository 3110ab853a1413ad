"""Wrong variants of the previous (S23) handout's reference: the current (v3) handout's
conventions, one component each, so the grader can tell a submission written for the newer
handout from one that is simply wrong; and MLP4's debug lists kept in backward order, a mistake
of this handout's own form (three lists instead of the newer handout's one)."""
from mytorch.models.mlp import MLP4
from mytorch.nn.linear import Linear
from mytorch.nn.loss import CrossEntropyLoss, MSELoss


class current_handout_mse(MSELoss):
    """The v3 MSE: L = SSE / (N C) and dLdA = 2 (A - Y) / (N C)."""

    def forward(self, A, Y):
        return 2 * super().forward(A, Y)

    def backward(self):
        return 2 * super().backward()


class current_handout_ce(CrossEntropyLoss):
    """The v3 CE gradient dLdA = (softmax - Y) / N; L is the same in both handouts."""

    def backward(self):
        return super().backward() / self.N


class current_handout_linear(Linear):
    """The v3 Linear: dLdW and dLdb summed over the batch, not divided by N."""

    def backward(self, dLdZ):
        dLdA = super().backward(dLdZ)
        self.dLdW = self.dLdW * self.N
        self.dLdb = self.dLdb * self.N
        return dLdA


class mlp4_debug_lists_reversed(MLP4):
    """self.dAdZ, self.dLdZ and self.dLdA in backward order (appended going back), e.g.
    self.dLdA = [dLdA5, dLdA4, ..., dLdA0]."""

    def backward(self, dLdA):
        dLdA0 = super().backward(dLdA)
        if self.debug:
            self.dAdZ = self.dAdZ[::-1]
            self.dLdZ = self.dLdZ[::-1]
            self.dLdA = self.dLdA[::-1]
        return dLdA0
