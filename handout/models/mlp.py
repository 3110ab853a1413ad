"""models.mlp: multilayer perceptrons built from mytorch's Linear and ReLU layers.

Each model keeps its layers in order in self.layers, a Linear layer followed by its activation:
[Linear, ReLU, Linear, ReLU, ...]. forward(A0) passes A0 through the layers in order and returns
the output; backward(dLdA) takes the gradient of the loss with respect to the output, passes it
back through the layers in reverse order (each Linear layer stores its own dLdW and dLdb) and
returns dLdA0, the gradient with respect to the input. With debug=True, the models also keep the
intermediate values named below.
"""
import numpy as np

from mytorch.nn.linear import Linear
from mytorch.nn.activation import ReLU


class MLP0:
    """One layer: Linear(2, 3) followed by ReLU."""

    def __init__(self, debug=False):
        """
        self.layers: a Linear layer with 2 inputs and 3 outputs, then a ReLU.
        """
        self.layers = None  # TODO: [Linear(2, 3), ReLU()]
        self.debug = debug

    def forward(self, A0):
        """
        :param A0: Input, shape (N, 2)
        :return: A1, the output, shape (N, 3)
        """
        Z0 = None  # TODO: the Linear layer's forward on A0
        A1 = None  # TODO: the ReLU's forward on Z0

        if self.debug:
            self.Z0 = Z0
            self.A1 = A1

        return A1

    def backward(self, dLdA1):
        """
        :param dLdA1: Gradient of the loss with respect to the output A1, shape (N, 3)
        :return: dLdA0, shape (N, 2)
        """
        dLdZ0 = None  # TODO: the ReLU's backward on dLdA1
        dLdA0 = None  # TODO: the Linear layer's backward on dLdZ0

        if self.debug:
            self.dLdZ0 = dLdZ0
            self.dLdA0 = dLdA0

        return dLdA0


class MLP1:
    """Two layers: Linear(2, 3), ReLU, Linear(3, 2), ReLU."""

    def __init__(self, debug=False):
        """
        self.layers: Linear(2, 3), ReLU, Linear(3, 2), ReLU, in this order.
        """
        self.layers = None  # TODO: four layers, Linear and ReLU alternating
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
        dLdZ1 = None  # TODO
        dLdA1 = None  # TODO

        dLdZ0 = None  # TODO
        dLdA0 = None  # TODO

        if self.debug:
            self.dLdZ1 = dLdZ1
            self.dLdA1 = dLdA1

            self.dLdZ0 = dLdZ0
            self.dLdA0 = dLdA0

        return dLdA0


class MLP4:
    """Five layers: Linear 2 -> 4 -> 8 -> 8 -> 4 -> 2, each followed by a ReLU."""

    def __init__(self, debug=False):
        """
        self.layers: Linear(2, 4), ReLU, Linear(4, 8), ReLU, Linear(8, 8), ReLU, Linear(8, 4),
        ReLU, Linear(4, 2), ReLU (ten entries, in this order).
        """
        self.layers = None  # TODO: ten layers, Linear and ReLU alternating
        self.debug = debug

    def forward(self, A):
        """
        :param A: Input A0, shape (N, 2)
        :return: the output A5, shape (N, 2)
        With debug, self.A lists every layer's input and the output, in order:
        [A0, Z0, A1, Z1, ..., Z4, A5].
        """
        if self.debug:
            self.A = [A]

        L = 0  # TODO: the number of layers

        for i in range(L):

            A = None  # TODO: the output of layer i

            if self.debug:
                self.A.append(A)

        return None  # TODO: the output of the last layer

    def backward(self, dLdA):
        """
        :param dLdA: Gradient of the loss with respect to the output A5, shape (N, 2)
        :return: dLdA0, shape (N, 2)
        With debug, self.dLdA lists the gradient with respect to each entry of self.A, in the
        same (forward) order: [dLdA0, dLdZ0, dLdA1, dLdZ1, ..., dLdZ4, dLdA5].
        """
        if self.debug:
            self.dLdA = [dLdA]

        L = 0  # TODO: the number of layers

        for i in reversed(range(L)):

            dLdA = None  # TODO: the gradient with respect to the input of layer i

            if self.debug:
                self.dLdA = [dLdA] + self.dLdA

        return None  # TODO: dLdA0
