"""Wrong variants of the reference, one planted mistake each.

`make vectors` runs every class named under `mistakes.variants` in rubric.yaml on every case and
stores its outputs beside the test vectors, so the grader recognises the same mistake in a
submission without running this code. Mistakes that a generic transform of the right answer
explains (a transpose, a factor, a lost axis) need no variant here.
"""
import numpy as np

from models.mlp import MLP0, MLP1, MLP4
from mytorch.nn.activation import GELU, ReLU, Sigmoid, Softmax
from mytorch.nn.batchnorm import BatchNorm1d
from mytorch.nn.linear import Linear
from mytorch.nn.loss import CrossEntropyLoss, MSELoss
from mytorch.optim.sgd import SGD


class bias_missing(Linear):
    """forward forgets the bias: Z = A W^T."""

    def forward(self, A):
        super().forward(A)
        return A @ self.W.T


class ignores_dLdZ(Linear):
    """backward uses ones where the upstream gradient dLdZ belongs."""

    def backward(self, dLdZ):
        return super().backward(np.ones_like(dLdZ))


class wrong_cached_input(Linear):
    """backward uses the input of the first forward call instead of the latest one."""

    def forward(self, A):
        Z = super().forward(A)
        self.A = self.__dict__.setdefault("_first_A", A)
        return Z


# ---- activations (mytorch/nn/activation.py) ----

class softmax_no_shift(Softmax):
    """forward exponentiates the raw logits (no row-max shift): inf/NaN on logits near 1000."""

    def forward(self, Z):
        with np.errstate(over="ignore", invalid="ignore"):
            E = np.exp(Z)
            self.A = E / np.sum(E, axis=1, keepdims=True)
        return self.A

    def backward(self, dLdA):
        with np.errstate(over="ignore", invalid="ignore"):
            return super().backward(dLdA)


class softmax_jacobian_diagonal(Softmax):
    """backward's Jacobian has A_m on its diagonal instead of A_m (1 - A_m)."""

    def backward(self, dLdA):
        N, C = self.A.shape
        dLdZ = np.zeros((N, C))
        for i in range(N):
            a = self.A[i, :]
            J = -np.outer(a, a)
            np.fill_diagonal(J, a)
            dLdZ[i, :] = dLdA[i, :] @ J
        return dLdZ


class softmax_elementwise_backward(Softmax):
    """backward treats softmax as elementwise: dLdZ = dLdA * A * (1 - A), no Jacobian."""

    def backward(self, dLdA):
        return dLdA * self.A * (1 - self.A)


class sigmoid_stale_A(Sigmoid):
    """backward uses the A of the first forward call ever made on the layer, not the latest."""

    def forward(self, Z):
        A = super().forward(Z)
        self.__dict__.setdefault("_first_A", A)
        return A

    def backward(self, dLdA):
        A = self._first_A
        return dLdA * (A - A * A)


_GELU_K = np.sqrt(2 / np.pi)


class gelu_tanh_approx(GELU):
    """The tanh approximation 0.5 Z (1 + tanh(sqrt(2/pi)(Z + 0.044715 Z^3))) and its derivative."""

    def forward(self, Z):
        self.Z = Z
        self.A = 0.5 * Z * (1 + np.tanh(_GELU_K * (Z + 0.044715 * Z ** 3)))
        return self.A

    def backward(self, dLdA):
        Z = self.Z
        t = np.tanh(_GELU_K * (Z + 0.044715 * Z ** 3))
        dAdZ = 0.5 * (1 + t) + 0.5 * Z * (1 - t * t) * _GELU_K * (1 + 3 * 0.044715 * Z ** 2)
        return dLdA * dAdZ


class relu_derivative_at_zero(ReLU):
    """backward passes dLdA where Z >= 0 (derivative 1 at Z == 0 instead of 0)."""

    def forward(self, Z):
        self._Z = Z
        return super().forward(Z)

    def backward(self, dLdA):
        return np.where(self._Z >= 0, dLdA, 0.0)


# ---- losses (mytorch/nn/loss.py) ----

def _sse(A, Y):
    """Sum of squared errors as a numpy scalar."""
    return np.sum((A - Y) * (A - Y))


class mse_mean_over_N(MSELoss):
    """L and dLdA divided by N instead of N C."""

    def forward(self, A, Y):
        super().forward(A, Y)
        return _sse(A, Y) / self.N

    def backward(self):
        return 2 * (self.A - self.Y) / self.N


class mse_over_2NC(MSELoss):
    """L = SSE / (2 N C); dLdA is right."""

    def forward(self, A, Y):
        super().forward(A, Y)
        return _sse(A, Y) / (2 * self.N * self.C)


class mse_sum(MSELoss):
    """No normalisation: L = SSE and dLdA = 2 (A - Y)."""

    def forward(self, A, Y):
        super().forward(A, Y)
        return _sse(A, Y)

    def backward(self):
        return 2 * (self.A - self.Y)


class mse_previous_handout(MSELoss):
    """The S23 handout's MSE: L = SSE / (2 N C) and dLdA = (A - Y) / (N C)."""

    def forward(self, A, Y):
        super().forward(A, Y)
        return _sse(A, Y) / (2 * self.N * self.C)

    def backward(self):
        return (self.A - self.Y) / (self.N * self.C)


class mse_A_minus_Y(MSELoss):
    """The older S22 convention dLdA = A - Y; L is right."""

    def backward(self):
        return self.A - self.Y


class ce_not_averaged(CrossEntropyLoss):
    """L summed over the batch instead of averaged, and dLdA = softmax - Y (no / N)."""

    def forward(self, A, Y):
        return super().forward(A, Y) * self.N

    def backward(self):
        return self.softmax - self.Y


class ce_previous_handout(CrossEntropyLoss):
    """The S22/S23 handouts' dLdA = softmax - Y (no / N); L is right."""

    def backward(self):
        return self.softmax - self.Y


class ce_wrong_axis(CrossEntropyLoss):
    """softmax taken over axis 0 (down the batch) instead of along each row, in L and dLdA."""

    def forward(self, A, Y):
        super().forward(A, Y)
        shifted = A - np.max(A, axis=0, keepdims=True)
        E = np.exp(shifted)
        self.softmax = E / np.sum(E, axis=0, keepdims=True)
        log_softmax = shifted - np.log(np.sum(E, axis=0, keepdims=True))
        return np.sum(-Y * log_softmax) / self.N


class ce_no_shift(CrossEntropyLoss):
    """softmax of the raw logits (no row-max subtraction): inf/NaN in L and dLdA on large logits."""

    def forward(self, A, Y):
        super().forward(A, Y)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            E = np.exp(A)
            self.softmax = E / np.sum(E, axis=1, keepdims=True)
            return np.sum(-Y * np.log(self.softmax)) / self.N


# ---- the previous (S23) handout's Linear ----

class linear_previous_handout(Linear):
    """The S22/S23 handouts' Linear: dLdW and dLdb divided by the batch size N."""

    def backward(self, dLdZ):
        dLdA = super().backward(dLdZ)
        self.dLdW = self.dLdW / self.N
        self.dLdb = self.dLdb / self.N
        return dLdA


# ---- batch normalization (mytorch/nn/batchnorm.py) ----

def _bn_dLdZ_terms(bn, dLdBZ):
    """The reference dLdZ's three terms: straight through NZ, through V, through M."""
    Zc = bn.Z - bn.M
    inv_std = (bn.V + bn.eps) ** -0.5
    dLdNZ = dLdBZ * bn.BW
    dLdV = -0.5 * np.sum(dLdNZ * Zc * inv_std ** 3, axis=0, keepdims=True)
    dNZdM = -inv_std - 0.5 * Zc * inv_std ** 3 * (-2 / bn.N * np.sum(Zc, axis=0, keepdims=True))
    dLdM = np.sum(dLdNZ * dNZdM, axis=0, keepdims=True)
    return dLdNZ * inv_std, dLdV * (2 / bn.N) * Zc, dLdM / bn.N


class bn_grad_flat(BatchNorm1d):
    """dLdBW and dLdBb have shape (C,) (summed without keepdims) instead of (1, C)."""

    def backward(self, dLdBZ):
        dLdZ = super().backward(dLdBZ)
        self.dLdBW = self.dLdBW.reshape(-1)
        self.dLdBb = self.dLdBb.reshape(-1)
        return dLdZ


class bn_grads_swapped(BatchNorm1d):
    """dLdBW and dLdBb swapped: dLdBW = sum of dLdBZ, dLdBb = sum of dLdBZ * NZ."""

    def backward(self, dLdBZ):
        dLdZ = super().backward(dLdBZ)
        self.dLdBW, self.dLdBb = self.dLdBb, self.dLdBW
        return dLdZ


class bn_grad_sum_no_axis(BatchNorm1d):
    """dLdBW and dLdBb summed over every entry (two scalars), not over the batch axis."""

    def backward(self, dLdBZ):
        dLdZ = super().backward(dLdBZ)
        self.dLdBW = np.sum(dLdBZ * self.NZ)
        self.dLdBb = np.sum(dLdBZ)
        return dLdZ


class bn_eval_batch_stats(BatchNorm1d):
    """eval mode normalises with the batch's own mean and variance instead of the running ones."""

    def forward(self, Z, eval=False):
        if not eval:
            return super().forward(Z)
        running = self.running_M, self.running_V
        BZ = super().forward(Z)                       # the training computation ...
        self.running_M, self.running_V = running      # ... without its running update
        return BZ


class bn_eval_raw(BatchNorm1d):
    """eval mode skips the normalisation: BZ = BW * Z + Bb (right only for a fresh layer)."""

    def forward(self, Z, eval=False):
        if not eval:
            return super().forward(Z)
        super().forward(Z, eval=True)
        self.NZ = Z
        self.BZ = self.BW * Z + self.Bb
        return self.BZ


class bn_eps_outside_sqrt(BatchNorm1d):
    """NZ = (Z - M) / (sqrt(V) + eps), in training and eval mode: wrong where V is near 0."""

    def forward(self, Z, eval=False):
        super().forward(Z, eval)
        M, V = (self.running_M, self.running_V) if eval else (self.M, self.V)
        self.NZ = (Z - M) / (np.sqrt(V) + self.eps)
        self.BZ = self.BW * self.NZ + self.Bb
        return self.BZ


class bn_unbiased_var(BatchNorm1d):
    """V is the unbiased variance (divided by N - 1), in NZ, the running variance and backward."""

    def forward(self, Z, eval=False):
        old_V = self.running_V
        super().forward(Z, eval)
        self.V = np.var(Z, axis=0, ddof=1, keepdims=True)
        if not eval:
            self.NZ = (Z - self.M) / np.sqrt(self.V + self.eps)
            self.BZ = self.BW * self.NZ + self.Bb
            self.running_V = self.alpha * old_V + (1 - self.alpha) * self.V
        return self.BZ


class bn_alpha_swapped(BatchNorm1d):
    """Running averages weighted the wrong way: running = (1 - alpha) running + alpha M, V alike."""

    def forward(self, Z, eval=False):
        old_M, old_V = self.running_M, self.running_V
        BZ = super().forward(Z, eval)
        if not eval:
            a = self.alpha
            self.running_M = (1 - a) * old_M + a * self.M
            self.running_V = (1 - a) * old_V + a * self.V
        return BZ


class bn_no_history(BatchNorm1d):
    """Running averages drop their history: running_M = (1 - alpha) M, running_V = (1 - alpha) V."""

    def forward(self, Z, eval=False):
        BZ = super().forward(Z, eval)
        if not eval:
            self.running_M = (1 - self.alpha) * self.M
            self.running_V = (1 - self.alpha) * self.V
        return BZ


class bn_dLdZ_no_mean_term(BatchNorm1d):
    """backward leaves out the path through the mean: dLdZ has no dLdM / N term."""

    def backward(self, dLdBZ):
        super().backward(dLdBZ)
        direct, through_V, _ = _bn_dLdZ_terms(self, dLdBZ)
        return direct + through_V


class bn_dLdZ_no_var_term(BatchNorm1d):
    """backward leaves out the path through the variance: dLdZ has no dLdV (2/N)(Z - M) term."""

    def backward(self, dLdBZ):
        super().backward(dLdBZ)
        direct, _, through_M = _bn_dLdZ_terms(self, dLdBZ)
        return direct + through_M


# ---- SGD (mytorch/optim/sgd.py) ----

class sgd_assigns(SGD):
    """Without momentum, the update assigns instead of stepping: W = lr dLdW, b = lr dLdb."""

    def step(self):
        if self.mu != 0:
            return super().step()
        for layer in self.l:
            layer.W = self.lr * layer.dLdW
            layer.b = self.lr * layer.dLdb


class sgd_momentum_no_history(SGD):
    """With momentum, the velocity forgets its history: v_W = mu dLdW, v_b = mu dLdb."""

    def step(self):
        if self.mu == 0:
            return super().step()
        for i, layer in enumerate(self.l):
            self.v_W[i] = self.mu * layer.dLdW
            self.v_b[i] = self.mu * layer.dLdb
            layer.W = layer.W - self.lr * self.v_W[i]
            layer.b = layer.b - self.lr * self.v_b[i]


class sgd_shared_velocity(SGD):
    """With momentum, one velocity (v_W[0], v_b[0]) is carried through every layer in turn."""

    def step(self):
        if self.mu == 0:
            return super().step()
        for layer in self.l:
            self.v_W[0] = self.mu * self.v_W[0] + layer.dLdW
            self.v_b[0] = self.mu * self.v_b[0] + layer.dLdb
            layer.W = layer.W - self.lr * self.v_W[0]
            layer.b = layer.b - self.lr * self.v_b[0]


class sgd_bias_velocity_from_dLdW(SGD):
    """With momentum, the bias velocity is fed from the weights' gradient: v_b = mu v_b + dLdW."""

    def step(self):
        if self.mu == 0:
            return super().step()
        for i, layer in enumerate(self.l):
            self.v_W[i] = self.mu * self.v_W[i] + layer.dLdW
            self.v_b[i] = self.mu * self.v_b[i] + layer.dLdW
            layer.W = layer.W - self.lr * self.v_W[i]
            layer.b = layer.b - self.lr * self.v_b[i]


class sgd_no_lr(SGD):
    """The learning rate is left out: W -= dLdW without momentum, W -= v_W with it (b alike)."""

    def step(self):
        for i, layer in enumerate(self.l):
            if self.mu == 0:
                layer.W = layer.W - layer.dLdW
                layer.b = layer.b - layer.dLdb
            else:
                self.v_W[i] = self.mu * self.v_W[i] + layer.dLdW
                self.v_b[i] = self.mu * self.v_b[i] + layer.dLdb
                layer.W = layer.W - self.v_W[i]
                layer.b = layer.b - self.v_b[i]


# ---- MLPs (models/mlp.py) ----

def _activations_first(layers):
    """[Linear, ReLU, Linear, ReLU, ...] -> [ReLU, Linear, ReLU, Linear, ...]."""
    return [x for i in range(0, len(layers), 2) for x in (layers[i + 1], layers[i])]


class mlp0_missing_last_activation(MLP0):
    """layers lacks the final ReLU ([Linear(2, 3)]): the output A1 is Z0."""

    def __init__(self, debug=False):
        super().__init__(debug)
        self.layers = self.layers[:-1]

    def forward(self, A0):
        Z0 = self.layers[0].forward(A0)
        if self.debug:
            self.Z0 = self.A1 = Z0
        return Z0

    def backward(self, dLdA1):
        dLdZ0 = dLdA1
        dLdA0 = self.layers[0].backward(dLdZ0)
        if self.debug:
            self.dLdZ0 = dLdZ0
            self.dLdA0 = dLdA0
        return dLdA0


class mlp1_missing_last_activation(MLP1):
    """layers lacks the final ReLU ([Linear, ReLU, Linear]): the output A2 is Z1."""

    def __init__(self, debug=False):
        super().__init__(debug)
        self.layers = self.layers[:-1]

    def forward(self, A0):
        Z0 = self.layers[0].forward(A0)
        A1 = self.layers[1].forward(Z0)
        Z1 = self.layers[2].forward(A1)
        if self.debug:
            self.Z0, self.A1, self.Z1, self.A2 = Z0, A1, Z1, Z1
        return Z1

    def backward(self, dLdA2):
        dLdZ1 = dLdA2
        dLdA1 = self.layers[2].backward(dLdZ1)
        dLdZ0 = self.layers[1].backward(dLdA1)
        dLdA0 = self.layers[0].backward(dLdZ0)
        if self.debug:
            self.dLdZ1, self.dLdA1, self.dLdZ0, self.dLdA0 = dLdZ1, dLdA1, dLdZ0, dLdA0
        return dLdA0


class mlp4_missing_last_activation(MLP4):
    """layers lacks the final ReLU (nine entries): the output is Z4; the debug lists end at Z4."""

    def __init__(self, debug=False):
        super().__init__(debug)
        self.layers = self.layers[:-1]


class mlp4_debug_lists_reversed(MLP4):
    """self.dLdA is in backward order, [dLdA5, dLdZ4, ..., dLdA0] (appended going back)."""

    def backward(self, dLdA):
        dLdA0 = super().backward(dLdA)
        if self.debug:
            self.dLdA = self.dLdA[::-1]
        return dLdA0


class mlp0_no_debug_argument(MLP0):
    """The constructor takes no debug argument: MLP0(debug=True) is a TypeError."""

    def __init__(self):
        super().__init__()


class mlp1_no_debug_argument(MLP1):
    """The constructor takes no debug argument: MLP1(debug=True) is a TypeError."""

    def __init__(self):
        super().__init__()


class mlp4_no_debug_argument(MLP4):
    """The constructor takes no debug argument: MLP4(debug=True) is a TypeError."""

    def __init__(self):
        super().__init__()


class mlp0_layers_wrong_order(MLP0):
    """The ReLU comes before the Linear layer: layers = [ReLU(), Linear(2, 3)]."""

    def __init__(self, debug=False):
        super().__init__(debug)
        self.layers = _activations_first(self.layers)


class mlp1_layers_wrong_order(MLP1):
    """Each ReLU comes before its Linear layer: [ReLU, Linear(2, 3), ReLU, Linear(3, 2)]."""

    def __init__(self, debug=False):
        super().__init__(debug)
        self.layers = _activations_first(self.layers)


class mlp4_layers_wrong_order(MLP4):
    """Each ReLU comes before its Linear layer: [ReLU, Linear(2, 4), ReLU, Linear(4, 8), ...]."""

    def __init__(self, debug=False):
        super().__init__(debug)
        self.layers = _activations_first(self.layers)
