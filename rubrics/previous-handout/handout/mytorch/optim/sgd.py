"""mytorch.optim.sgd: stochastic gradient descent, with optional momentum."""
import numpy as np


class SGD:
    """Updates the W and b of every layer in model.layers from the layer's dLdW and dLdb."""

    def __init__(self, model, lr=0.1, momentum=0):
        """
        :param model: holds the layers to update in model.layers (each with W, b, dLdW, dLdb)
        :param lr: the learning rate
        :param momentum: mu; 0 means plain SGD
        One velocity per layer for W and one for b, zeros shaped like the layer's W and b.
        """
        self.l = model.layers
        self.L = len(model.layers)
        self.lr = lr
        self.mu = momentum
        self.v_W = [np.zeros(self.l[i].W.shape) for i in range(self.L)]
        self.v_b = [np.zeros(self.l[i].b.shape) for i in range(self.L)]

    def step(self):
        """
        One update of every layer.
        mu == 0: W = W - lr dLdW and b = b - lr dLdb.
        Otherwise: v_W = mu v_W + dLdW, v_b = mu v_b + dLdb (the layer's own velocities),
        then W = W - lr v_W and b = b - lr v_b.
        """
        for i in range(self.L):
            if self.mu == 0:
                self.l[i].W = None  # TODO
                self.l[i].b = None  # TODO
            else:
                self.v_W[i] = None  # TODO
                self.v_b[i] = None  # TODO
                self.l[i].W = None  # TODO
                self.l[i].b = None  # TODO
