"""Wrong variants of the previous (S23) handout's reference: the current (v3) handout's
conventions, one component each, so the grader can tell a submission written for the newer
handout from one that is simply wrong."""
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
