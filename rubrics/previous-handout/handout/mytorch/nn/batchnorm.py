"""mytorch.nn.batchnorm: batch normalization over the batch axis of an N x C input."""
import numpy as np


class BatchNorm1d:
    """BZ = BW * NZ + Bb with NZ = (Z - M) / sqrt(V + eps); M, V the batch's mean and (biased)
    variance while training, the running averages in eval mode."""

    def __init__(self, num_features, alpha=0.9):
        """
        :param num_features: C, the number of features (columns) of the input
        :param alpha: weight of the old running statistics in each update
        BW, Bb and their gradients are 1 x C; the running mean starts at 0, the running
        variance at 1.
        """
        self.alpha = alpha
        self.eps = 1e-8

        self.BW = np.ones((1, num_features))
        self.Bb = np.zeros((1, num_features))
        self.dLdBW = np.zeros((1, num_features))
        self.dLdBb = np.zeros((1, num_features))

        # Running mean and variance: updated while training, used in eval (inference) mode
        self.running_M = np.zeros((1, num_features))
        self.running_V = np.ones((1, num_features))

    def forward(self, Z, eval=False):
        """
        :param Z: Batch of inputs, shape (N, C)
        :param eval: False while training, True in inference (eval) mode
        :return: BZ, shape (N, C)
        Training: normalise with the batch's mean M and variance V (divided by N), then update
        running_M = alpha running_M + (1 - alpha) M, and running_V likewise with V.
        Eval: normalise with running_M and running_V, and leave them unchanged.
        Store Z, N, M, V, NZ and BZ: backward needs them. No loops.
        """
        self.Z = None  # TODO: store Z
        self.N = None  # TODO: the batch size
        self.M = None  # TODO: mean of Z over the batch, shape (1, C)
        self.V = None  # TODO: variance of Z over the batch (divided by N), shape (1, C)

        if not eval:
            # training mode
            self.NZ = None  # TODO: (Z - M) / sqrt(V + eps)
            self.BZ = None  # TODO: BW * NZ + Bb

            self.running_M = None  # TODO: alpha running_M + (1 - alpha) M
            self.running_V = None  # TODO: alpha running_V + (1 - alpha) V
        else:
            # inference mode
            self.NZ = None  # TODO: (Z - running_M) / sqrt(running_V + eps)
            self.BZ = None  # TODO: BW * NZ + Bb

        return self.BZ

    def backward(self, dLdBZ):
        """
        :param dLdBZ: Gradient of the loss with respect to BZ, shape (N, C)
        :return: dLdZ, shape (N, C)
        Store dLdBW and dLdBb (each 1 x C, summed over the batch). dLdZ flows through NZ, V and M
        (the writeup gives dLdNZ, dLdV, dLdM and dLdZ). No loops.
        """
        self.dLdBW = None  # TODO: sum over the batch of dLdBZ * NZ, shape (1, C)
        self.dLdBb = None  # TODO: sum over the batch of dLdBZ, shape (1, C)

        dLdNZ = None  # TODO: dLdBZ * BW
        dLdV = None  # TODO
        dLdM = None  # TODO

        dLdZ = None  # TODO

        return dLdZ
