"""mytorch.nn.activation: elementwise activations and a row-wise softmax.

Every class follows the same convention: forward(Z) takes the N x C pre-activation Z, stores the
activation as self.A and returns it; backward(dLdA) takes the N x C gradient of the loss with
respect to A and returns dLdZ, the gradient with respect to Z (same shape).
"""
import math

import numpy as np

_erf_object = np.frompyfunc(math.erf, 1, 1)   # numpy has no erf; math.erf is exact


def _erf(x):
    """math.erf of every element of an array."""
    return _erf_object(x).astype(float)


class Identity:
    """A = Z."""

    def forward(self, Z):
        """
        :param Z: Batch of inputs, shape (N, C)
        :return: A = Z, shape (N, C)
        """
        # BEGIN SOLUTION
        #> self.A = None  # TODO: A = Z
        #> return self.A
        self.A = Z
        return self.A
        # END SOLUTION

    def backward(self, dLdA):
        """
        :param dLdA: Gradient of the loss with respect to A, shape (N, C)
        :return: dLdZ, shape (N, C)
        """
        # BEGIN SOLUTION
        #> dAdZ = None  # TODO: dA/dZ of the identity
        #> dLdZ = None  # TODO: dLdZ = dLdA * dAdZ
        #> return dLdZ
        dAdZ = np.ones(self.A.shape, dtype=self.A.dtype)
        dLdZ = dLdA * dAdZ
        return dLdZ
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

    def backward(self, dLdA):
        """
        :param dLdA: Gradient of the loss with respect to A, shape (N, C)
        :return: dLdZ, shape (N, C)
        """
        # BEGIN SOLUTION
        #> dAdZ = None  # TODO: dA/dZ = A - A * A
        #> dLdZ = None  # TODO: dLdZ = dLdA * dAdZ
        #> return dLdZ
        dAdZ = self.A - self.A * self.A
        dLdZ = dLdA * dAdZ
        return dLdZ
        # END SOLUTION


class Tanh:
    """A = (e^Z - e^-Z) / (e^Z + e^-Z); dA/dZ = 1 - A * A. Do not use np.tanh."""

    def forward(self, Z):
        """
        :param Z: Batch of inputs, shape (N, C)
        :return: A = tanh(Z), shape (N, C), computed with np.exp (not np.tanh); store A
        """
        # BEGIN SOLUTION
        #> self.A = None  # TODO: A = (exp(Z) - exp(-Z)) / (exp(Z) + exp(-Z)), without np.tanh
        #> return self.A
        # divide numerator and denominator by e^|Z|: only exp(-2|Z|) <= 1 is ever computed
        E = np.exp(-2 * np.abs(Z))
        self.A = np.sign(Z) * (1 - E) / (1 + E)
        return self.A
        # END SOLUTION

    def backward(self, dLdA):
        """
        :param dLdA: Gradient of the loss with respect to A, shape (N, C)
        :return: dLdZ, shape (N, C)
        """
        # BEGIN SOLUTION
        #> dAdZ = None  # TODO: dA/dZ = 1 - A * A
        #> dLdZ = None  # TODO: dLdZ = dLdA * dAdZ
        #> return dLdZ
        dAdZ = 1 - self.A * self.A
        dLdZ = dLdA * dAdZ
        return dLdZ
        # END SOLUTION


class ReLU:
    """A = max(0, Z); dLdZ = dLdA where A > 0, else 0."""

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

    def backward(self, dLdA):
        """
        :param dLdA: Gradient of the loss with respect to A, shape (N, C)
        :return: dLdZ, shape (N, C) (hint: np.where)
        """
        # BEGIN SOLUTION
        #> dLdZ = None  # TODO: dLdA where A > 0, else 0
        #> return dLdZ
        dLdZ = np.where(self.A > 0, dLdA, 0.0)
        return dLdZ
        # END SOLUTION


class GELU:
    """A = Z/2 (1 + erf(Z / sqrt 2)); dA/dZ = (1 + erf(Z / sqrt 2))/2 + Z/sqrt(2 pi) exp(-Z^2/2)."""

    def forward(self, Z):
        """
        :param Z: Batch of inputs, shape (N, C)
        :return: A = GELU(Z), shape (N, C); store Z and A (backward needs Z)
        Numpy has no erf: apply math.erf to every element.
        """
        # BEGIN SOLUTION
        #> self.Z = None  # TODO: store Z
        #> self.A = None  # TODO: A = 0.5 Z (1 + erf(Z / sqrt(2)))
        #> return self.A
        self.Z = Z
        self.A = 0.5 * Z * (1 + _erf(Z / np.sqrt(2)))
        return self.A
        # END SOLUTION

    def backward(self, dLdA):
        """
        :param dLdA: Gradient of the loss with respect to A, shape (N, C)
        :return: dLdZ, shape (N, C)
        """
        # BEGIN SOLUTION
        #> dAdZ = None  # TODO: 0.5 (1 + erf(Z / sqrt(2))) + Z / sqrt(2 pi) exp(-Z^2 / 2)
        #> dLdZ = None  # TODO: dLdZ = dLdA * dAdZ
        #> return dLdZ
        Z = self.Z
        dAdZ = 0.5 * (1 + _erf(Z / np.sqrt(2))) + Z / np.sqrt(2 * np.pi) * np.exp(-Z * Z / 2)
        dLdZ = dLdA * dAdZ
        return dLdZ
        # END SOLUTION


class Swish:
    """A = Z sigmoid(beta Z), with a learnable scalar beta (default 1)."""

    def __init__(self, beta=1.0):
        self.beta = beta

    def forward(self, Z):
        """
        :param Z: Batch of inputs, shape (N, C)
        :return: A = Z * sigmoid(beta Z), shape (N, C); store Z and A
        """
        # BEGIN SOLUTION
        #> self.Z = None  # TODO: store Z
        #> self.sigmoid_betaZ = None  # TODO: sigmoid(beta Z)
        #> self.A = None  # TODO: A = Z * sigmoid(beta Z)
        #> return self.A
        self.Z = Z
        self.sigmoid_betaZ = Sigmoid().forward(self.beta * Z)
        self.A = Z * self.sigmoid_betaZ
        return self.A
        # END SOLUTION

    def backward(self, dLdA):
        """
        :param dLdA: Gradient of the loss with respect to A, shape (N, C)
        :return: dLdZ, shape (N, C); also store self.dLdbeta, the (scalar) gradient of the loss
                 with respect to beta: sum of dLdA * Z * Z * sigmoid(beta Z) (1 - sigmoid(beta Z))
        """
        # BEGIN SOLUTION
        #> dAdZ = None  # TODO: s + beta Z s (1 - s), with s = sigmoid(beta Z)
        #> dLdZ = None  # TODO: dLdZ = dLdA * dAdZ
        #> self.dLdbeta = None  # TODO: sum of dLdA * Z * Z * s (1 - s)
        #> return dLdZ
        s, Z = self.sigmoid_betaZ, self.Z
        dAdZ = s + self.beta * Z * s * (1 - s)
        dLdZ = dLdA * dAdZ
        self.dLdbeta = np.sum(dLdA * Z * Z * s * (1 - s))
        return dLdZ
        # END SOLUTION


class Softmax:
    """Row-wise softmax: A[i] = exp(Z[i]) / sum(exp(Z[i])), with each row's max subtracted first."""

    def forward(self, Z):
        """
        :param Z: Batch of inputs, shape (N, C)
        :return: A, shape (N, C), each row a probability distribution; store A
        Subtract each row's maximum before exponentiating, so large inputs do not overflow.
        """
        # BEGIN SOLUTION
        #> self.A = None  # TODO: softmax of each row of Z
        #> return self.A
        E = np.exp(Z - np.max(Z, axis=1, keepdims=True))
        self.A = E / np.sum(E, axis=1, keepdims=True)
        return self.A
        # END SOLUTION

    def backward(self, dLdA):
        """
        :param dLdA: Gradient of the loss with respect to A, shape (N, C)
        :return: dLdZ, shape (N, C)
        For each row i, build the C x C Jacobian J[m, n] = A[i, m] (1 - A[i, m]) if m == n,
        else -A[i, m] A[i, n]; then dLdZ[i] = dLdA[i] @ J.
        """
        # BEGIN SOLUTION
        #> dLdZ = None  # TODO: for each row i, dLdZ[i] = dLdA[i] @ J, J the Jacobian of row i
        #> return dLdZ
        N, C = self.A.shape
        dLdZ = np.zeros((N, C))
        for i in range(N):
            a = self.A[i, :]
            J = np.diag(a) - np.outer(a, a)   # A_m(1 - A_m) on the diagonal, -A_m A_n off it
            dLdZ[i, :] = dLdA[i, :] @ J
        return dLdZ
        # END SOLUTION
