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
        # BEGIN SOLUTION
        #> self.Z = None  # TODO: store Z
        #> self.N = None  # TODO: the batch size
        #> self.M = None  # TODO: mean of Z over the batch, shape (1, C)
        #> self.V = None  # TODO: variance of Z over the batch (divided by N), shape (1, C)
        #>
        #> if not eval:
        #>     # training mode
        #>     self.NZ = None  # TODO: (Z - M) / sqrt(V + eps)
        #>     self.BZ = None  # TODO: BW * NZ + Bb
        #>
        #>     self.running_M = None  # TODO: alpha running_M + (1 - alpha) M
        #>     self.running_V = None  # TODO: alpha running_V + (1 - alpha) V
        #> else:
        #>     # inference mode
        #>     self.NZ = None  # TODO: (Z - running_M) / sqrt(running_V + eps)
        #>     self.BZ = None  # TODO: BW * NZ + Bb
        #>
        #> return self.BZ
        self.Z = Z
        self.N = Z.shape[0]
        self.M = np.mean(Z, axis=0, keepdims=True)
        self.V = np.mean((Z - self.M) * (Z - self.M), axis=0, keepdims=True)

        if not eval:
            self.NZ = (Z - self.M) / np.sqrt(self.V + self.eps)
            self.BZ = self.BW * self.NZ + self.Bb

            self.running_M = self.alpha * self.running_M + (1 - self.alpha) * self.M
            self.running_V = self.alpha * self.running_V + (1 - self.alpha) * self.V
        else:
            self.NZ = (Z - self.running_M) / np.sqrt(self.running_V + self.eps)
            self.BZ = self.BW * self.NZ + self.Bb

        return self.BZ
        # END SOLUTION

    def backward(self, dLdBZ):
        """
        :param dLdBZ: Gradient of the loss with respect to BZ, shape (N, C)
        :return: dLdZ, shape (N, C)
        Store dLdBW and dLdBb (each 1 x C, summed over the batch). dLdZ flows through NZ, V and M
        (the writeup gives dLdNZ, dLdV, dLdM and dLdZ). No loops.
        """
        # BEGIN SOLUTION
        #> self.dLdBW = None  # TODO: sum over the batch of dLdBZ * NZ, shape (1, C)
        #> self.dLdBb = None  # TODO: sum over the batch of dLdBZ, shape (1, C)
        #>
        #> dLdNZ = None  # TODO: dLdBZ * BW
        #> dLdV = None  # TODO
        #> dLdM = None  # TODO
        #>
        #> dLdZ = None  # TODO
        #>
        #> return dLdZ
        self.dLdBW = np.sum(dLdBZ * self.NZ, axis=0, keepdims=True)
        self.dLdBb = np.sum(dLdBZ, axis=0, keepdims=True)

        Zc = self.Z - self.M                     # Z - M
        inv_std = (self.V + self.eps) ** -0.5    # (V + eps)^(-1/2)
        dLdNZ = dLdBZ * self.BW
        dLdV = -0.5 * np.sum(dLdNZ * Zc * inv_std ** 3, axis=0, keepdims=True)
        dNZdM = -inv_std - 0.5 * Zc * inv_std ** 3 * (-2 / self.N * np.sum(Zc, axis=0,
                                                                          keepdims=True))
        dLdM = np.sum(dLdNZ * dNZdM, axis=0, keepdims=True)

        dLdZ = dLdNZ * inv_std + dLdV * (2 / self.N) * Zc + dLdM / self.N

        return dLdZ
        # END SOLUTION
