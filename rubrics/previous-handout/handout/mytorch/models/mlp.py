"""mytorch.models.mlp: multilayer perceptrons built from mytorch's Linear and ReLU (S23 handout).

Each model keeps its Linear layers in order in self.layers and their activations, one per Linear
layer, in self.f. forward(A0) applies layer i and then activation i, for each i in order, and
returns the output. backward(dLdA) takes the gradient of the loss with respect to the output and
goes back through the layers in reverse order: an activation's backward() takes no argument and
returns dA/dZ, so dLdZ = dLdA * dAdZ; each Linear layer's backward(dLdZ) stores its dLdW and dLdb
and returns dLdA for the layer before. backward returns dLdA0. With debug=True, the models also
keep the intermediate values named below.
"""
import numpy as np

from mytorch.nn.linear import Linear
from mytorch.nn.activation import ReLU


class MLP0:
    """One layer: Linear(2, 3) followed by ReLU."""

    def __init__(self, debug=False):
        """
        self.layers: a Linear layer with 2 inputs and 3 outputs; self.f: its ReLU activation.
        """
        self.layers = None  # TODO: [Linear(2, 3)]
        self.f = None  # TODO: [ReLU()]
        self.debug = debug

    def forward(self, A0):
        """
        :param A0: Input, shape (N, 2)
        :return: A1, the output, shape (N, 3)
        """
        Z0 = None  # TODO
        A1 = None  # TODO

        if self.debug:
            self.Z0 = Z0
            self.A1 = A1

        return A1

    def backward(self, dLdA1):
        """
        :param dLdA1: Gradient of the loss with respect to the output A1, shape (N, 3)
        :return: dLdA0, shape (N, 2)
        """
        dA1dZ0 = None  # TODO
        dLdZ0 = None  # TODO
        dLdA0 = None  # TODO

        if self.debug:
            self.dA1dZ0 = dA1dZ0
            self.dLdZ0 = dLdZ0
            self.dLdA0 = dLdA0

        return dLdA0


class MLP1:
    """Two layers: Linear(2, 3) and Linear(3, 2), each followed by a ReLU."""

    def __init__(self, debug=False):
        """
        self.layers: Linear(2, 3), Linear(3, 2); self.f: a ReLU for each, in the same order.
        """
        self.layers = None  # TODO: the two Linear layers
        self.f = None  # TODO: their two ReLU activations
        self.debug = debug

    def forward(self, A0):
        """
        :param A0: Input, shape (N, 2)
        :return: A2, the output, shape (N, 2)
        """
        Z0 = None  # TODO
        A1 = None  # TODO

        Z1 = None  # TODO
        A2 = None  # TODO

        if self.debug:
            self.Z0 = Z0
            self.A1 = A1
            self.Z1 = Z1
            self.A2 = A2

        return A2

    def backward(self, dLdA2):
        """
        :param dLdA2: Gradient of the loss with respect to the output A2, shape (N, 2)
        :return: dLdA0, shape (N, 2)
        """
        dA2dZ1 = None  # TODO
        dLdZ1 = None  # TODO
        dLdA1 = None  # TODO

        dA1dZ0 = None  # TODO
        dLdZ0 = None  # TODO
        dLdA0 = None  # TODO

        if self.debug:
            self.dA2dZ1 = dA2dZ1
            self.dLdZ1 = dLdZ1
            self.dLdA1 = dLdA1

            self.dA1dZ0 = dA1dZ0
            self.dLdZ0 = dLdZ0
            self.dLdA0 = dLdA0

        return dLdA0


class MLP4:
    """Five layers: Linear 2 -> 4 -> 8 -> 8 -> 4 -> 2, each followed by a ReLU."""

    def __init__(self, debug=False):
        """
        self.layers: Linear(2, 4), Linear(4, 8), Linear(8, 8), Linear(8, 4), Linear(4, 2);
        self.f: a ReLU for each, in the same order.
        """
        self.layers = None  # TODO: the five Linear layers
        self.f = None  # TODO: their five ReLU activations
        self.debug = debug

    def forward(self, A):
        """
        :param A: Input A0, shape (N, 2)
        :return: the output A5, shape (N, 2)
        With debug, self.Z = [Z0, ..., Z4] and self.A = [A0, A1, ..., A5].
        """
        if self.debug:
            self.Z = []
            self.A = [A]

        L = 0  # TODO: the number of layers

        for i in range(L):

            Z = None  # TODO
            A = None  # TODO

            if self.debug:
                self.Z.append(Z)
                self.A.append(A)

        return None  # TODO: the output of the last activation

    def backward(self, dLdA):
        """
        :param dLdA: Gradient of the loss with respect to the output A5, shape (N, 2)
        :return: dLdA0, shape (N, 2)
        With debug, in forward order: self.dAdZ = [dA1dZ0, ..., dA5dZ4],
        self.dLdZ = [dLdZ0, ..., dLdZ4] and self.dLdA = [dLdA0, ..., dLdA5].
        """
        if self.debug:
            self.dAdZ = []
            self.dLdZ = []
            self.dLdA = [dLdA]

        L = 0  # TODO: the number of layers

        for i in reversed(range(L)):

            dAdZ = None  # TODO
            dLdZ = None  # TODO
            dLdA = None  # TODO

            if self.debug:
                self.dAdZ = [dAdZ] + self.dAdZ
                self.dLdZ = [dLdZ] + self.dLdZ
                self.dLdA = [dLdA] + self.dLdA

        return None  # TODO: dLdA0
