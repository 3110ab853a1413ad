"""mytorch.nn.linear: a linear layer with a pre-bias, Y = (X - A) W + B."""
import numpy as np


class Linear:
    """Y = (X - 1_N A^T) W + 1_N B^T, with W of shape (m, n), A of shape (m,), B of shape (n,)."""

    def __init__(self, m, n):
        """
        W: drawn from a normal distribution, mean 0, standard deviation 1/sqrt(m), shape (m, n).
        A (the pre-bias) and B (the bias): zeros, shapes (m,) and (n,).
        """
        self.W = None  # TODO: normal, mean 0, std 1/sqrt(m), shape (m, n)
        self.A = None  # TODO: zeros, shape (m,)
        self.B = None  # TODO: zeros, shape (n,)

    def forward(self, X):
        """
        :param X: input of shape (N, m)
        :return: Y = (X - A) W + B, shape (N, n)
        """
        self.X = X
        Y = None  # TODO
        return Y

    def backward(self, DY):
        """
        :param DY: gradient of the loss with respect to Y, shape (N, n)
        :return: DX, shape (N, m); store DW (m, n), DA (m,) and DB (n,) on the layer
        """
        self.DW = None  # TODO
        self.DA = None  # TODO
        self.DB = None  # TODO
        DX = None  # TODO
        return DX
