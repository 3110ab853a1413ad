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
        # BEGIN SOLUTION
        #> self.A = None  # TODO: A = Z
        #> return self.A
        self.A = Z
        return self.A
        # END SOLUTION

    def backward(self):
        """
        :return: dAdZ, shape (N, C)
        """
        # BEGIN SOLUTION
        #> dAdZ = None  # TODO: ones shaped like A
        #> return dAdZ
        dAdZ = np.ones(self.A.shape, dtype=self.A.dtype)
        return dAdZ
        # END SOLUTION


class Sigmoid:
    """A = 1 / (1 + e^-Z); dA/dZ = A - A * A."""

    def forward(self, Z):
        """
        :param Z: Batch of inputs, shape (N, C)
        :return: A = sigmoid(Z), shape (N, C); store A
        """
        # BEGIN SOLUTION
        #> self.A = None  # TODO: A = 1 / (1 + exp(-Z))
        #> return self.A
        # exp of -|Z| never overflows; both branches equal 1 / (1 + e^-Z)
        E = np.exp(-np.abs(Z))
        self.A = np.where(Z >= 0, 1 / (1 + E), E / (1 + E))
        return self.A
        # END SOLUTION

    def backward(self):
        """
        :return: dAdZ, shape (N, C)
        """
        # BEGIN SOLUTION
        #> dAdZ = None  # TODO: A - A * A
        #> return dAdZ
        dAdZ = self.A - self.A * self.A
        return dAdZ
        # END SOLUTION


class Tanh:
    """A = (e^Z - e^-Z) / (e^Z + e^-Z); dA/dZ = 1 - A * A."""

    def forward(self, Z):
        """
        :param Z: Batch of inputs, shape (N, C)
        :return: A = tanh(Z), shape (N, C); store A
        """
        # BEGIN SOLUTION
        #> self.A = None  # TODO: A = (exp(Z) - exp(-Z)) / (exp(Z) + exp(-Z))
        #> return self.A
        E = np.exp(-2 * np.abs(Z))
        self.A = np.sign(Z) * (1 - E) / (1 + E)
        return self.A
        # END SOLUTION

    def backward(self):
        """
        :return: dAdZ, shape (N, C)
        """
        # BEGIN SOLUTION
        #> dAdZ = None  # TODO: 1 - A * A
        #> return dAdZ
        dAdZ = 1 - self.A * self.A
        return dAdZ
        # END SOLUTION


class ReLU:
    """A = max(0, Z); dA/dZ = 1 where A > 0, else 0."""

    def forward(self, Z):
        """
        :param Z: Batch of inputs, shape (N, C)
        :return: A = max(0, Z), shape (N, C); store A
        """
        # BEGIN SOLUTION
        #> self.A = None  # TODO: A = max(0, Z) elementwise
        #> return self.A
        self.A = np.maximum(0, Z)
        return self.A
        # END SOLUTION

    def backward(self):
        """
        :return: dAdZ, shape (N, C) (hint: np.where)
        """
        # BEGIN SOLUTION
        #> dAdZ = None  # TODO: 1 where A > 0, else 0
        #> return dAdZ
        dAdZ = np.where(self.A > 0, 1.0, 0.0)
        return dAdZ
        # END SOLUTION
