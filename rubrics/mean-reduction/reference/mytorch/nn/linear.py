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
        # BEGIN SOLUTION
        #> self.W = None  # TODO: self.rng.normal(...), std sqrt(2 / n_inputs), shape (n_inputs, n_outputs)
        #> self.b = None  # TODO: zeros, shape (n_outputs,)
        scale = np.sqrt(2.0 / n_inputs)
        self.W = self.rng.normal(0.0, scale, (n_inputs, n_outputs))
        self.b = np.zeros(n_outputs)
        # END SOLUTION

    def forward(self, X):
        """
        :param X: input of shape (N, n_inputs)
        :return: Y = X W + b, shape (N, n_outputs)
        """
        # BEGIN SOLUTION
        #> self.X = X
        #> return None  # TODO
        self.X = X
        return np.dot(X, self.W) + self.b
        # END SOLUTION

    def backward(self, dY):
        """
        :param dY: gradient of the loss with respect to Y, shape (N, n_outputs)
        :return: dX, shape (N, n_inputs); store dW = X^T dY / N and db = mean(dY) over the batch
        """
        # BEGIN SOLUTION
        #> self.dW = None  # TODO: averaged over the batch
        #> self.db = None  # TODO: averaged over the batch
        #> return None  # TODO: dX
        self.dW = np.dot(self.X.T, dY) / self.X.shape[0]
        self.db = dY.mean(axis=0)
        return np.dot(dY, self.W.T)
        # END SOLUTION
