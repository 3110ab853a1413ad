"""mytorch.nn.loss: mean squared error and cross-entropy losses (S23 handout).

forward(A, Y) takes the N x C model output A and the N x C targets Y, stores what backward needs
and returns the scalar loss L; backward() takes no argument and returns dLdA (N x C).
"""
import numpy as np


class MSELoss:
    """L = SSE / (2 N C), SSE the sum of (A - Y)^2 over all entries; dLdA = (A - Y) / (N C)."""

    def forward(self, A, Y):
        """
        :param A: Output of the model, shape (N, C)
        :param Y: Ground-truth values, shape (N, C)
        :return: MSE loss (scalar)
        Store A, Y, N and C: backward needs them.
        """
        self.A = None  # TODO: store A
        self.Y = None  # TODO: store Y
        self.N = None  # TODO: number of rows of A
        self.C = None  # TODO: number of columns of A
        se = None  # TODO: squared error (A - Y) * (A - Y)
        sse = None  # TODO: sum of squared errors, iota_N^T se iota_C
        mse = None  # TODO: sse / (2 N C)
        return mse

    def backward(self):
        """
        :return: dLdA, shape (N, C)
        """
        dLdA = None  # TODO: (A - Y) / (N C)
        return dLdA


class CrossEntropyLoss:
    """L = -sum of Y log softmax(A), averaged over the N rows; dLdA = softmax(A) - Y."""

    def forward(self, A, Y):
        """
        :param A: Output of the model (logits), shape (N, C)
        :param Y: Ground-truth class probabilities (e.g. one-hot), shape (N, C)
        :return: CrossEntropy loss (scalar)
        Store A, Y, N, C and the softmax of A: backward needs them.
        """
        self.A = None  # TODO: store A
        self.Y = None  # TODO: store Y
        self.N = None  # TODO: number of rows of A
        self.C = None  # TODO: number of columns of A
        self.softmax = None  # TODO: softmax of each row of A
        crossentropy = None  # TODO: -Y * log(softmax), summed over each row (N x 1)
        sum_crossentropy = None  # TODO: iota_N^T crossentropy
        L = None  # TODO: sum_crossentropy / N
        return L

    def backward(self):
        """
        :return: dLdA, shape (N, C)
        """
        dLdA = None  # TODO: softmax - Y
        return dLdA
