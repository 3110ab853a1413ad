"""mytorch.nn.activation: elementwise activations (S23 handout).

forward(Z) takes the N x C pre-activation Z, stores the activation as self.A and returns it;
backward() takes no argument and returns dAdZ, the elementwise derivative of A with respect to Z
(N x C). The caller multiplies it by dLdA.
"""
import numpy as np


class Identity:
    """A = Z; dA/dZ = 1."""

    def forward(self, Z):
        """
        :param Z: Batch of inputs, shape (N, C)
        :return: A = Z, shape (N, C); store A
        """
        self.A = None  # TODO: A = Z
        return self.A

    def backward(self):
        """
        :return: dAdZ, shape (N, C)
        """
        dAdZ = None  # TODO: ones shaped like A
        return dAdZ


class Sigmoid:
    """A = 1 / (1 + e^-Z); dA/dZ = A - A * A."""

    def forward(self, Z):
        """
        :param Z: Batch of inputs, shape (N, C)
        :return: A = sigmoid(Z), shape (N, C); store A
        """
        self.A = None  # TODO: A = 1 / (1 + exp(-Z))
        return self.A

    def backward(self):
        """
        :return: dAdZ, shape (N, C)
        """
        dAdZ = None  # TODO: A - A * A
        return dAdZ


class Tanh:
    """A = (e^Z - e^-Z) / (e^Z + e^-Z); dA/dZ = 1 - A * A."""

    def forward(self, Z):
        """
        :param Z: Batch of inputs, shape (N, C)
        :return: A = tanh(Z), shape (N, C); store A
        """
        self.A = None  # TODO: A = (exp(Z) - exp(-Z)) / (exp(Z) + exp(-Z))
        return self.A

    def backward(self):
        """
        :return: dAdZ, shape (N, C)
        """
        dAdZ = None  # TODO: 1 - A * A
        return dAdZ


class ReLU:
    """A = max(0, Z); dA/dZ = 1 where A > 0, else 0."""

    def forward(self, Z):
        """
        :param Z: Batch of inputs, shape (N, C)
        :return: A = max(0, Z), shape (N, C); store A
        """
        self.A = None  # TODO: A = max(0, Z) elementwise
        return self.A

    def backward(self):
        """
        :return: dAdZ, shape (N, C) (hint: np.where)
        """
        dAdZ = None  # TODO: 1 where A > 0, else 0
        return dAdZ
