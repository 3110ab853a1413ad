"""mytorch.nn.linear: a linear layer Y = X W + b with batch-averaged gradients."""
import numpy as np


class Linear:
    """Y = X W + b, with W of shape (n_inputs, n_outputs) and b of shape (n_outputs,)."""

    def __init__(self, n_inputs, n_outputs, rng=None):
        """
        W: normal, mean 0, standard deviation sqrt(2 / n_inputs) (He initialisation).
        b: zeros. `rng` is a numpy Generator (a new one when None).
        """
        self.n_inputs, self.n_outputs = n_inputs, n_outputs
        self.rng = rng if rng is not None else np.random.default_rng()
        self.W = None  # TODO: self.rng.normal(...), std sqrt(2 / n_inputs), shape (n_inputs, n_outputs)
        self.b = None  # TODO: zeros, shape (n_outputs,)

    def forward(self, X):
        """
        :param X: input of shape (N, n_inputs)
        :return: Y = X W + b, shape (N, n_outputs)
        """
        self.X = X
        return None  # TODO

    def backward(self, dY):
        """
        :param dY: gradient of the loss with respect to Y, shape (N, n_outputs)
        :return: dX, shape (N, n_inputs); store dW = X^T dY / N and db = mean(dY) over the batch
        """
        self.dW = None  # TODO: averaged over the batch
        self.db = None  # TODO: averaged over the batch
        return None  # TODO: dX
