"""mytorch.nn.linear: a fully-connected (linear) layer."""
import numpy as np


class Linear:
    """A linear layer: Z = A W^T + 1_N b^T (Table 1 of the handout gives every shape)."""

    def __init__(self, in_features, out_features, debug=False):
        """
        Initialize the weights and biases with zeros.
        Check out np.zeros; Table 1 gives the shapes of W and b.
        """
        self.W = None  # TODO: zeros, shape C_out x C_in (Table 1)
        self.b = None  # TODO: zeros, shape C_out x 1 (Table 1)
        self.debug = debug

    def forward(self, A):
        """
        :param A: Input to the linear layer with shape (N, C_in)
        :return: Output Z of linear layer with shape (N, C_out)
        Store A and the batch size N: backward needs them.
        """
        self.A = None  # TODO: store the input A
        self.N = None  # TODO: store the batch size
        Z = None  # TODO: Z = A W^T + 1_N b^T
        return Z

    def backward(self, dLdZ):
        """
        :param dLdZ: how changes in the output Z affect the loss, shape (N, C_out)
        :return: dLdA, how changes in the input A affect the loss, shape (N, C_in)
        Store dLdW (C_out x C_in) and dLdb (C_out x 1) on the layer.
        """
        dLdA = None  # TODO: dLdA = dLdZ W
        dLdW = None  # TODO: dLdW = dLdZ^T A
        dLdb = None  # TODO: dLdb = dLdZ^T 1_N
        self.dLdW = dLdW
        self.dLdb = dLdb
        return dLdA
