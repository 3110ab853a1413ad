"""mytorch.nn.linear: a linear layer with a pre-bias, Y = (X - A) W + B."""
import numpy as np


class Linear:
    """Y = (X - 1_N A^T) W + 1_N B^T, with W of shape (m, n), A of shape (m,), B of shape (n,)."""

    def __init__(self, m, n):
        """
        W: drawn from a normal distribution, mean 0, standard deviation 1/sqrt(m), shape (m, n).
        A (the pre-bias) and B (the bias): zeros, shapes (m,) and (n,).
        """
        # BEGIN SOLUTION
        #> self.W = None  # TODO: normal, mean 0, std 1/sqrt(m), shape (m, n)
        #> self.A = None  # TODO: zeros, shape (m,)
        #> self.B = None  # TODO: zeros, shape (n,)
        self.W = np.random.normal(0, 1 / m**.5, [m, n])
        self.A = np.zeros([m])
        self.B = np.zeros([n])
        # END SOLUTION

    def forward(self, X):
        """
        :param X: input of shape (N, m)
        :return: Y = (X - A) W + B, shape (N, n)
        """
        # BEGIN SOLUTION
        #> self.X = X
        #> Y = None  # TODO
        #> return Y
        self.X = X
        return (X - self.A) @ self.W + self.B
        # END SOLUTION

    def backward(self, DY):
        """
        :param DY: gradient of the loss with respect to Y, shape (N, n)
        :return: DX, shape (N, m); store DW (m, n), DA (m,) and DB (n,) on the layer
        """
        # BEGIN SOLUTION
        #> self.DW = None  # TODO
        #> self.DA = None  # TODO
        #> self.DB = None  # TODO
        #> DX = None  # TODO
        #> return DX
        self.DW = (self.X - self.A).T @ DY
        self.DA = -(DY.sum(axis=0) @ self.W.T)
        self.DB = DY.sum(axis=0)
        return DY @ self.W.T
        # END SOLUTION
