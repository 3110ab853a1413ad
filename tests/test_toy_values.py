"""The references reproduce the course's public toy values (docs: /work/shared/hw1p1-spec.md §3).

Each reference file is loaded on its own with importlib under a unique module name, so nothing
named `mytorch` enters sys.modules (other tests import submissions under that name). The mistake
variants and the MLPs import `mytorch.nn...`, so they run in a subprocess with the reference on
PYTHONPATH. The MLPs have no numeric toy values without torch: they are checked against their
layers composed by hand.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CURRENT = ROOT / "reference"
PREVIOUS = ROOT / "rubrics" / "previous-handout" / "reference"


def load(folder: Path, stem: str, tag: str, package: str = "nn"):
    path = folder / "mytorch" / package / f"{stem}.py"
    name = f"_toy_values_{tag}_{stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    before, sys.dont_write_bytecode = sys.dont_write_bytecode, True   # reference stays clean
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = before
    return module


act = load(CURRENT, "activation", "v3")
loss = load(CURRENT, "loss", "v3")
linear = load(CURRENT, "linear", "v3")
old_act = load(PREVIOUS, "activation", "v2b")
old_loss = load(PREVIOUS, "loss", "v2b")
old_linear = load(PREVIOUS, "linear", "v2b")
batchnorm = load(CURRENT, "batchnorm", "v3")
sgd = load(CURRENT, "sgd", "v3", package="optim")
old_batchnorm = load(PREVIOUS, "batchnorm", "v2b")
old_sgd = load(PREVIOUS, "sgd", "v2b", package="optim")


def close(x, expected):
    """Exact shape, and values within 1e-4."""
    expected = np.asarray(expected, dtype=float)
    x = np.asarray(x)
    assert x.shape == expected.shape, (x.shape, expected.shape)
    assert np.allclose(x, expected, atol=1e-4), (x, expected)


def scalar(L, expected):
    """A loss is a scalar: a Python float, a numpy scalar or a 0-d array."""
    assert np.ndim(L) == 0, np.shape(L)
    assert np.isclose(float(L), expected, atol=1e-4), (L, expected)


Z = np.array([[-4, -3], [-2, -1], [0, 1], [2, 3]], dtype=np.float32)
dLdA_TR = np.array([[1, 1], [3, 1], [2, 0], [0, -1]], dtype=np.float32)  # Tanh, ReLU, Swish
Y = np.array([[0, 1], [1, 0], [1, 0], [0, 1]], dtype=float)
A_loss = Z.astype(float)
LARGE = np.array([[1000, 1001, 1002], [12345, 12346, 12347]], dtype=float)


# ---- current (v3) handout ----

def test_identity():
    f = act.Identity()
    close(f.forward(Z), Z)
    close(f.A, Z)
    close(f.backward(Z), Z)


def test_sigmoid():
    f = act.Sigmoid()
    close(f.forward(Z), [[0.018, 0.0474], [0.1192, 0.2689], [0.5, 0.7311], [0.8808, 0.9526]])
    close(f.A, f.forward(Z))
    close(f.backward(Z), [[-0.0707, -0.1355], [-0.21, -0.1966], [0.0, 0.1966], [0.21, 0.1355]])


TANH_A = [[-0.9993, -0.9951], [-0.964, -0.7616], [0.0, 0.7616], [0.964, 0.9951]]
TANH_dLdZ = [[0.0013, 0.0099], [0.212, 0.42], [2.0, 0.0], [0.0, -0.0099]]


def test_tanh():
    f = act.Tanh()
    close(f.forward(Z), TANH_A)
    close(f.backward(dLdA_TR), TANH_dLdZ)


def test_tanh_without_np_tanh(monkeypatch):
    def forbidden(*args, **kwargs):
        raise RuntimeError("np.tanh is not allowed")

    monkeypatch.setattr(np, "tanh", forbidden)
    f = act.Tanh()
    close(f.forward(Z), TANH_A)
    close(f.backward(dLdA_TR), TANH_dLdZ)


def test_tanh_large_inputs_stay_finite():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        A = act.Tanh().forward(np.array([[-1e4, -800.0, 0.0, 800.0, 1e4]]))
    close(A, [[-1, -1, 0, 1, 1]])


def test_relu():
    f = act.ReLU()
    close(f.forward(Z), [[0, 0], [0, 0], [0, 1], [2, 3]])
    close(f.backward(dLdA_TR), [[0, 0], [0, 0], [0, 0], [0, -1]])


def test_gelu():
    f = act.GELU()
    z = np.array([[-2, -0.5, 0, 0.5, 2]])
    close(f.forward(z), [[-0.0455, -0.1543, 0, 0.3457, 1.9545]])
    close(f.backward(np.array([[1, 1, 0, 1, -1.0]])), [[-0.0852, 0.1325, 0, 0.8675, -1.0852]])


def test_swish():
    f = act.Swish()
    assert f.beta == 1.0
    close(f.forward(Z), [[-0.0719, -0.1423], [-0.2384, -0.2689], [0.0, 0.7311], [1.7616, 2.8577]])
    close(f.backward(dLdA_TR), [[-0.0527, -0.0881], [-0.2724, 0.0723], [1.0, 0.0], [0.0, -1.0881]])
    assert np.ndim(f.dLdbeta) == 0
    assert np.isclose(float(f.dLdbeta), 1.7391, atol=1e-4)


def test_softmax_large_logits():
    f = act.Softmax()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        A = f.forward(LARGE)
        close(A, [[0.09, 0.2447, 0.6652], [0.09, 0.2447, 0.6652]])
        # dLdA = e_3 in every row: dLdZ_i = A_i3 (e_3 - A_i)
        dLdZ = f.backward(np.array([[0, 0, 1.0], [0, 0, 1.0]]))
    row = [-0.09 * 0.6652, -0.2447 * 0.6652, 0.6652 * (1 - 0.6652)]
    close(dLdZ, [row, row])


@pytest.mark.parametrize("name", ["Identity", "Sigmoid", "Tanh", "ReLU", "GELU", "Swish",
                                  "Softmax"])
def test_backward_matches_finite_differences(name):
    """dLdZ is the gradient of sum(A * G) (ReLU's kink avoided: no input near 0)."""
    rng = np.random.default_rng(5)
    z = rng.uniform(0.2, 2.0, (3, 4)) * rng.choice([-1, 1], (3, 4))
    G = rng.normal(size=(3, 4))
    f = getattr(act, name)()
    f.forward(z)
    dLdZ = f.backward(G)
    numeric = np.zeros_like(z)
    h = 1e-6
    for idx in np.ndindex(*z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += h
        zm[idx] -= h
        numeric[idx] = (np.sum(getattr(act, name)().forward(zp) * G)
                        - np.sum(getattr(act, name)().forward(zm) * G)) / (2 * h)
    assert dLdZ.shape == z.shape
    assert np.allclose(dLdZ, numeric, atol=1e-6)


def test_mse():
    f = loss.MSELoss()
    scalar(f.forward(A_loss, Y), 6.5)
    close(f.backward(), 2 * (A_loss - Y) / 8)


CE_dLdA = np.array([[0.2689, -0.2689], [-0.7311, 0.7311], [-0.7311, 0.7311], [0.2689, -0.2689]])


def test_crossentropy():
    f = loss.CrossEntropyLoss()
    scalar(f.forward(A_loss, Y), 0.8133)
    close(f.backward(), CE_dLdA / 4)


def test_crossentropy_large_logits():
    f = loss.CrossEntropyLoss()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        L = f.forward(LARGE, np.array([[0, 0, 1.0], [1.0, 0, 0]]))
        dLdA = f.backward()
    # -log 0.6652 and -log 0.09, averaged over the 2 rows
    scalar(L, (0.40761 + 2.40761) / 2)
    close(dLdA, [[0.045, 0.12235, -0.1674], [-0.455, 0.12235, 0.3326]])


# The course's Linear toy: A, W, b as in the spec; dLdZ is the autograder's 4 x 3 ramp.
LIN_A = np.array([[-4, -3], [-2, -1], [0, 1], [2, 3]], dtype=float)
LIN_W = np.array([[-2, -1], [0, 1], [2, 3]], dtype=float)
LIN_b = np.array([[-1], [0], [1]], dtype=float)
LIN_dLdZ = np.array([[-4, -3, -2], [-1, 0, 1], [2, 3, 4], [5, 6, 7]], dtype=float)
LIN_Z = [[10, -3, -16], [4, -1, -6], [-2, 1, 4], [-8, 3, 14]]
LIN_dLdA = [[4, -5], [4, 4], [4, 13], [4, 22]]
LIN_dLdW = [[28, 30], [24, 30], [20, 30]]
LIN_dLdb = [[2], [6], [10]]


def linear_toy(module):
    layer = module.Linear(2, 3)
    close(layer.W, np.zeros((3, 2)))
    close(layer.b, np.zeros((3, 1)))
    layer.W, layer.b = LIN_W.copy(), LIN_b.copy()
    close(layer.forward(LIN_A), LIN_Z)
    close(layer.backward(LIN_dLdZ), LIN_dLdA)
    return layer


def test_linear():
    layer = linear_toy(linear)
    close(layer.dLdW, LIN_dLdW)
    close(layer.dLdb, LIN_dLdb)


# ---- previous (S23, v2b) handout ----

def test_previous_activations_return_dAdZ():
    f = old_act.Sigmoid()
    f.forward(Z)
    close(f.backward(), [[0.0177, 0.0452], [0.105, 0.1966], [0.25, 0.1966], [0.105, 0.0452]])
    f = old_act.Tanh()
    close(f.forward(Z), TANH_A)
    close(f.backward(), [[0.0013, 0.0099], [0.0707, 0.42], [1.0, 0.42], [0.0707, 0.0099]])
    f = old_act.ReLU()
    close(f.forward(Z), [[0, 0], [0, 0], [0, 1], [2, 3]])
    close(f.backward(), [[0, 0], [0, 0], [0, 1], [1, 1]])
    f = old_act.Identity()
    close(f.forward(Z), Z)
    close(f.backward(), np.ones((4, 2)))


def test_previous_mse():
    f = old_loss.MSELoss()
    scalar(f.forward(A_loss, Y), 3.25)
    close(f.backward(), (A_loss - Y) / 8)


def test_previous_crossentropy():
    f = old_loss.CrossEntropyLoss()
    scalar(f.forward(A_loss, Y), 0.8133)
    close(f.backward(), CE_dLdA)


def test_previous_linear():
    layer = linear_toy(old_linear)
    close(layer.dLdW, np.array(LIN_dLdW) / 4)
    close(layer.dLdb, np.array(LIN_dLdb) / 4)


# ---- the mistake variants (subprocess: they import mytorch.nn) ----

PROBE = r"""
import json, warnings
import numpy as np
import mistakes as m
warnings.simplefilter("error")
Z = np.array([[-4, -3], [-2, -1], [0, 1], [2, 3]], dtype=float)
Y = np.array([[0, 1], [1, 0], [1, 0], [0, 1]], dtype=float)
LARGE = np.array([[1000, 1001, 1002], [12345, 12346, 12347]], dtype=float)
out = {}
f = m.softmax_no_shift()
A = f.forward(LARGE)
out["softmax_no_shift"] = [bool(np.all(np.isfinite(A))),
                           bool(np.all(np.isfinite(f.backward(np.ones((2, 3))))))]
f = m.ce_no_shift()
L = f.forward(LARGE, np.array([[0, 0, 1.0], [1.0, 0, 0]]))
out["ce_no_shift"] = [bool(np.isfinite(L)), bool(np.all(np.isfinite(f.backward())))]
f = m.sigmoid_stale_A()
f.forward(Z + 1)
f.forward(Z)
out["sigmoid_stale_A"] = f.backward(np.ones_like(Z)).tolist()
losses = {}
for name in ["mse_mean_over_N", "mse_over_2NC", "mse_sum", "mse_previous_handout", "mse_A_minus_Y",
             "ce_not_averaged", "ce_previous_handout", "ce_wrong_axis"]:
    f = getattr(m, name)()
    losses[name] = [float(f.forward(Z, Y)), f.backward().tolist()]
out["losses"] = losses
print(json.dumps(out))
"""


def run_probe(folder: Path, code: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(folder),
           "PYTHONDONTWRITEBYTECODE": "1"}   # no __pycache__ left in the reference
    done = subprocess.run([sys.executable, "-c", code], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_mistake_variants():
    out = run_probe(CURRENT, PROBE)
    assert out["softmax_no_shift"] == [False, False]
    assert out["ce_no_shift"] == [False, False]
    s = 1 / (1 + np.exp(-(Z.astype(float) + 1)))
    close(out["sigmoid_stale_A"], s - s * s)
    L = out["losses"]
    d = A_loss - Y
    for name, want_L, want_dLdA in [("mse_mean_over_N", 13, d / 2), ("mse_over_2NC", 3.25, d / 4),
                                    ("mse_sum", 52, 2 * d), ("mse_previous_handout", 3.25, d / 8),
                                    ("mse_A_minus_Y", 6.5, d), ("ce_not_averaged", 3.2531, CE_dLdA),
                                    ("ce_previous_handout", 0.8133, CE_dLdA)]:
        assert np.isclose(L[name][0], want_L, atol=1e-4), name
        close(L[name][1], want_dLdA)
    assert not np.isclose(L["ce_wrong_axis"][0], 0.8133, atol=1e-4)


def test_previous_mistake_variants():
    out = run_probe(PREVIOUS, r"""
import json
import numpy as np
import mistakes as m
A = np.array([[-4, -3], [-2, -1], [0, 1], [2, 3]], dtype=float)
Y = np.array([[0, 1], [1, 0], [1, 0], [0, 1]], dtype=float)
f = m.current_handout_mse(); L = float(f.forward(A, Y)); d = f.backward()
g = m.current_handout_ce(); g.forward(A, Y)
h = m.current_handout_linear(2, 3)
h.W = np.array([[-2, -1], [0, 1], [2, 3]], dtype=float)
h.b = np.array([[-1], [0], [1]], dtype=float)
h.forward(A); h.backward(np.arange(-4, 8, dtype=float).reshape(4, 3))
print(json.dumps([L, d.tolist(), g.backward().tolist(), h.dLdW.tolist(), h.dLdb.tolist()]))
""")
    close(out[0], 6.5)
    close(out[1], 2 * (A_loss - Y) / 8)
    close(out[2], CE_dLdA / 4)
    close(out[3], LIN_dLdW)
    close(out[4], LIN_dLdb)


def strip(text: str) -> str:
    """Each solution region replaced by its #> lines (the handout generator's rule)."""
    out, inside, skeleton = [], False, []
    for line in text.splitlines(keepends=True):
        s = line.strip()
        if s == "# BEGIN SOLUTION":
            inside, skeleton = True, []
            indent = line[: len(line) - len(line.lstrip())]
        elif s == "# END SOLUTION":
            out.extend(skeleton or [indent + "pass  # TODO\n"])
            inside = False
        elif not inside:
            out.append(line)
        elif s.startswith("#>"):
            i = line.index("#>")
            body = line[i + 2:]
            body = body[1:] if body.startswith(" ") else body
            skeleton.append((line[:i] + body).rstrip() + "\n")
    return "".join(out)


@pytest.mark.parametrize("folder", [CURRENT, PREVIOUS], ids=["v3", "v2b"])
@pytest.mark.parametrize("stem", ["activation", "loss", "linear"])
def test_skeleton_imports_and_returns_none(folder, stem, tmp_path):
    """The untouched skeleton imports cleanly; forward and backward return None."""
    text = strip((folder / "mytorch" / "nn" / f"{stem}.py").read_text())
    assert "SOLUTION" not in text
    path = tmp_path / f"{stem}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(f"_toy_values_skeleton_{stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    x = np.ones((2, 3))
    classes = [c for c in vars(module).values()
               if isinstance(c, type) and c.__module__ == module.__name__]
    assert classes
    for cls in classes:
        obj = cls(3, 2) if cls.__name__ == "Linear" else cls()
        if stem == "loss":
            assert obj.forward(x, x) is None
            assert obj.backward() is None
        elif stem == "linear":
            assert obj.forward(x) is None
            assert obj.backward(np.ones((2, 2))) is None
        else:
            assert obj.forward(x) is None
            assert (obj.backward(x) if folder == CURRENT else obj.backward()) is None


# ---- part 2: BatchNorm1d (the same file in both handouts) ----

BN_Z = np.array([[1, 4], [7, 0], [1, 0], [7, 4]], dtype=float)
BN_W = np.array([[2, 5]], dtype=float)
BN_b = np.array([[-1, 2]], dtype=float)
BN_dLdBZ = np.array([[-6, 2], [-12, 16], [-12, 20], [-6, 2]], dtype=float)
BN_EVAL = [[1, 22], [13, 2], [1, 2], [13, 22]]
BN_TRAIN = [[-3, 7], [1, -3], [-3, -3], [1, 7]]
BN_dLdZ = [[2, 0], [-2, -5], [-2, 5], [2, 0]]
BN_MODULES = pytest.mark.parametrize("bn", [batchnorm, old_batchnorm], ids=["v3", "v2b"])


def toy_batchnorm(bn):
    layer = bn.BatchNorm1d(2)
    layer.BW, layer.Bb = BN_W.copy(), BN_b.copy()
    return layer


@BN_MODULES
def test_batchnorm_initial_state(bn):
    layer = bn.BatchNorm1d(3)
    assert layer.alpha == 0.9 and layer.eps == 1e-8
    assert bn.BatchNorm1d(3, alpha=0.5).alpha == 0.5
    for name, value in [("BW", 1), ("Bb", 0), ("dLdBW", 0), ("dLdBb", 0), ("running_M", 0),
                        ("running_V", 1)]:
        close(getattr(layer, name), np.full((1, 3), value))


@BN_MODULES
def test_batchnorm_eval_on_a_fresh_layer(bn):
    """The course's toy: eval mode normalises with the fresh running statistics (0 and 1)."""
    layer = toy_batchnorm(bn)
    close(layer.forward(BN_Z, eval=True), BN_EVAL)
    close(layer.BZ, BN_EVAL)
    close(layer.running_M, np.zeros((1, 2)))   # eval leaves the running statistics alone
    close(layer.running_V, np.ones((1, 2)))


@BN_MODULES
def test_batchnorm_train(bn):
    """The course's toy in training mode; the running averages move by 1 - alpha."""
    layer = toy_batchnorm(bn)
    close(layer.forward(BN_Z), BN_TRAIN)
    assert layer.N == 4
    close(layer.Z, BN_Z)
    close(layer.M, [[4, 2]])
    close(layer.V, [[9, 4]])                    # biased: divided by N
    close(layer.NZ, [[-1, 1], [1, -1], [-1, -1], [1, 1]])
    close(layer.BZ, BN_TRAIN)
    close(layer.running_M, [[0.4, 0.2]])        # 0.9 * 0 + 0.1 * M
    close(layer.running_V, [[1.8, 1.3]])        # 0.9 * 1 + 0.1 * V
    layer.forward(BN_Z)
    close(layer.running_M, [[0.76, 0.38]])
    close(layer.running_V, [[2.52, 1.57]])


@BN_MODULES
def test_batchnorm_eval_after_training_uses_the_running_statistics(bn):
    layer = toy_batchnorm(bn)
    layer.forward(BN_Z)
    Z2 = BN_Z[::-1] + 1
    expected = BN_W * (Z2 - [[0.4, 0.2]]) / np.sqrt(np.array([[1.8, 1.3]]) + 1e-8) + BN_b
    close(layer.forward(Z2, eval=True), expected)
    close(layer.running_M, [[0.4, 0.2]])
    close(layer.running_V, [[1.8, 1.3]])


@BN_MODULES
def test_batchnorm_backward(bn):
    """The course's toy dLdZ, and dLdBW, dLdBb (1 x C) that its autograder never looks at."""
    layer = toy_batchnorm(bn)
    layer.forward(BN_Z)
    close(layer.backward(BN_dLdBZ), BN_dLdZ)
    close(layer.dLdBb, [[-36, 40]])
    close(layer.dLdBW, [[0, -32]])


@BN_MODULES
def test_batchnorm_backward_matches_finite_differences(bn):
    """In training mode, dLdZ, dLdBW and dLdBb are the gradients of sum(BZ * G)."""
    rng = np.random.default_rng(7)
    Z0, G = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    W0, b0 = rng.normal(size=(1, 3)), rng.normal(size=(1, 3))

    def f(Z, W, b):
        layer = bn.BatchNorm1d(3)
        layer.BW, layer.Bb = W, b
        return np.sum(layer.forward(Z) * G)

    layer = bn.BatchNorm1d(3)
    layer.BW, layer.Bb = W0.copy(), b0.copy()
    layer.forward(Z0)
    dLdZ = layer.backward(G)
    h = 1e-6
    for k, (x, analytic) in enumerate([(Z0, dLdZ), (W0, layer.dLdBW), (b0, layer.dLdBb)]):
        numeric = np.zeros_like(x)
        for idx in np.ndindex(*x.shape):
            args_p, args_m = [Z0.copy(), W0.copy(), b0.copy()], [Z0.copy(), W0.copy(), b0.copy()]
            args_p[k][idx] += h
            args_m[k][idx] -= h
            numeric[idx] = (f(*args_p) - f(*args_m)) / (2 * h)
        assert analytic.shape == x.shape
        assert np.allclose(analytic, numeric, atol=1e-5), (k, analytic, numeric)


# ---- part 2: SGD (the same file in both handouts) ----

SGD_MODULES = pytest.mark.parametrize("opt", [sgd, old_sgd], ids=["v3", "v2b"])


class Layer:
    """Linear-like: W, b and their gradients, nothing else."""

    def __init__(self, W, b, dLdW, dLdb):
        self.W, self.b, self.dLdW, self.dLdb = W, b, dLdW, dLdb


class PseudoModel:
    def __init__(self, *layers):
        self.layers = list(layers)


def toy_model(dLdb=0.1):
    """The course's PseudoModel: one layer, W = ones(3, 2), b = ones(3, 1), gradients 0.1."""
    return PseudoModel(Layer(np.ones((3, 2)), np.ones((3, 1)), np.full((3, 2), 0.1),
                             np.full((3, 1), dLdb)))


@SGD_MODULES
def test_sgd_attributes(opt):
    model = PseudoModel(Layer(np.ones((3, 2)), np.ones((3, 1)), None, None),
                        Layer(np.ones((4, 3)), np.ones((4, 1)), None, None))
    o = opt.SGD(model)
    assert o.l is model.layers and o.L == 2 and o.lr == 0.1 and o.mu == 0
    o = opt.SGD(model, lr=0.5, momentum=0.8)
    assert o.lr == 0.5 and o.mu == 0.8
    for v, shape in zip(o.v_W + o.v_b, [(3, 2), (4, 3), (3, 1), (4, 1)]):
        close(v, np.zeros(shape))


@SGD_MODULES
def test_sgd_plain(opt):
    """The course's toy without momentum: 0.91 after one step, 0.82 after two."""
    model = toy_model()
    o = opt.SGD(model, lr=0.9)
    for want in (0.91, 0.82):
        o.step()
        close(model.layers[0].W, np.full((3, 2), want))
        close(model.layers[0].b, np.full((3, 1), want))


@SGD_MODULES
def test_sgd_momentum(opt):
    """The course's toy with momentum 0.9: 0.91 after one step, 0.739 after two."""
    model = toy_model()
    o = opt.SGD(model, lr=0.9, momentum=0.9)
    for want in (0.91, 0.739):
        o.step()
        close(model.layers[0].W, np.full((3, 2), want))
        close(model.layers[0].b, np.full((3, 1), want))
    close(o.v_W[0], np.full((3, 2), 0.19))


@SGD_MODULES
def test_sgd_momentum_keeps_one_velocity_per_layer_and_parameter(opt):
    """Two layers of the same shape, four different gradients: what the one-layer toy, where
    dLdW equals dLdb, cannot tell apart."""
    rng = np.random.default_rng(3)
    W1, W2, g1, g2 = (rng.normal(size=(2, 2)) for _ in range(4))
    b1, b2, h1, h2 = (rng.normal(size=(2, 1)) for _ in range(4))
    model = PseudoModel(Layer(W1.copy(), b1.copy(), g1, h1), Layer(W2.copy(), b2.copy(), g2, h2))
    o = opt.SGD(model, lr=0.3, momentum=0.5)
    o.step()
    o.step()
    for layer, W, b, g, h in [(model.layers[0], W1, b1, g1, h1), (model.layers[1], W2, b2, g2, h2)]:
        close(layer.W, W - 0.3 * g - 0.3 * 1.5 * g)    # velocities g, then 0.5 g + g
        close(layer.b, b - 0.3 * h - 0.3 * 1.5 * h)


# ---- part 2: the MLPs (subprocess: models/mlp.py imports mytorch.nn) ----

MLP_PROBE = r"""
import importlib, json, sys
import numpy as np
job = json.load(sys.stdin)
module = importlib.import_module(job["module"])
DEBUG = ["Z0", "A1", "Z1", "A2", "dA1dZ0", "dA2dZ1", "dLdZ0", "dLdA0", "dLdZ1", "dLdA1",
         "A", "Z", "dAdZ", "dLdZ", "dLdA"]

def listed(x):
    return [listed(v) for v in x] if isinstance(x, list) else np.asarray(x).tolist()

out = []
for run in job["runs"]:
    cls = getattr(module, run["cls"])
    try:
        m = cls() if run["debug"] is None else cls(debug=run["debug"])
    except TypeError as e:
        out.append({"error": "TypeError"})
        continue
    linears = [l for l in m.layers if type(l).__name__ == "Linear"]
    res = {"layers": [type(l).__name__ for l in m.layers],
           "activations": [type(f).__name__ for f in getattr(m, "f", [])],
           "initial": [[l.W.tolist(), l.b.tolist()] for l in linears]}
    for l, (W, b) in zip(linears, run["params"]):
        l.W, l.b = np.array(W), np.array(b)
    res["out"] = m.forward(np.array(run["A0"])).tolist()
    res["ret"] = m.backward(np.array(run["dLdA"])).tolist()
    res["grads"] = [[l.dLdW.tolist(), l.dLdb.tolist()] for l in linears]
    res["debug"] = {k: listed(getattr(m, k)) for k in DEBUG if hasattr(m, k)}
    out.append(res)
print(json.dumps(out))
"""

MLP_SIZES = {"MLP0": [2, 3], "MLP1": [2, 3, 2], "MLP4": [2, 4, 8, 8, 4, 2]}


def run_job(folder: Path, code: str, job: dict):
    env = {**os.environ, "PYTHONPATH": str(folder), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=folder, env=env, input=json.dumps(job),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def mlp_case(name: str, seed: int) -> dict:
    """Random weights for every Linear layer, an input and an output gradient (N = 6)."""
    rng = np.random.default_rng(seed)
    sizes = MLP_SIZES[name]
    params = [[rng.normal(size=(o, i)), rng.normal(size=(o, 1))]
              for i, o in zip(sizes[:-1], sizes[1:])]
    return {"cls": name, "params": params, "A0": rng.normal(size=(6, sizes[0])),
            "dLdA": rng.normal(size=(6, sizes[-1]))}


def as_job(module: str, runs: list[dict]) -> dict:
    def plain(x):
        return [plain(v) for v in x] if isinstance(x, list) else np.asarray(x).tolist()

    return {"module": module, "runs": [{k: plain(v) if k in ("params", "A0", "dLdA") else v
                                        for k, v in r.items()} for r in runs]}


def compose_current(case: dict, last_activation: bool = True):
    """The network by hand from the reference Linear and ReLU: every value forward
    [A0, Z0, A1, ..., A_L], every gradient backward in the same order, each layer's dLdW, dLdb."""
    layers = []
    for W, b in case["params"]:
        lin = linear.Linear(W.shape[1], W.shape[0])
        lin.W, lin.b = W.copy(), b.copy()
        layers += [lin, act.ReLU()]
    if not last_activation:
        layers.pop()
    values = [case["A0"]]
    for layer in layers:
        values.append(layer.forward(values[-1]))
    grads = [case["dLdA"]]
    for layer in reversed(layers):
        grads.insert(0, layer.backward(grads[0]))
    return values, grads, [(l.dLdW, l.dLdb) for l in layers[::2]]


def compose_previous(case: dict):
    """The S23 network by hand: Linear (dLdW, dLdb over N) and ReLU whose backward() is dA/dZ."""
    Zs, As, dAdZs, dLdZs = [], [case["A0"]], [], []
    pairs = []
    for W, b in case["params"]:
        lin = old_linear.Linear(W.shape[1], W.shape[0])
        lin.W, lin.b = W.copy(), b.copy()
        pairs.append((lin, old_act.ReLU()))
    for lin, f in pairs:
        Zs.append(lin.forward(As[-1]))
        As.append(f.forward(Zs[-1]))
    dLdAs = [case["dLdA"]]
    for lin, f in reversed(pairs):
        dAdZs.insert(0, f.backward())
        dLdZs.insert(0, dLdAs[0] * dAdZs[0])
        dLdAs.insert(0, lin.backward(dLdZs[0]))
    return {"Z": Zs, "A": As, "dAdZ": dAdZs, "dLdZ": dLdZs, "dLdA": dLdAs,
            "grads": [(lin.dLdW, lin.dLdb) for lin, _ in pairs]}


def same(x, expected):
    """Exact shape, and the same values (the same numpy operations in the same order)."""
    expected = np.asarray(expected, dtype=float)
    x = np.asarray(x)
    assert x.shape == expected.shape, (x.shape, expected.shape)
    assert np.allclose(x, expected, rtol=0, atol=1e-12), (x, expected)


def same_list(xs, expected):
    assert len(xs) == len(expected), (len(xs), len(expected))
    for x, e in zip(xs, expected):
        same(x, e)


MLP_SEEDS = {"MLP0": 40, "MLP1": 40, "MLP4": 40}   # every ReLU gets inputs of both signs


@pytest.fixture(scope="module")
def current_mlps():
    cases = {name: mlp_case(name, seed) for name, seed in MLP_SEEDS.items()}
    runs = [dict(cases[n], debug=d) for n in cases for d in (True, False, None)]
    results = run_job(CURRENT, MLP_PROBE, as_job("models.mlp", runs))
    return cases, {(r["cls"], r["debug"]): res for r, res in zip(runs, results)}


@pytest.mark.parametrize("name", list(MLP_SIZES))
def test_mlp_matches_its_layers_composed_by_hand(current_mlps, name):
    cases, results = current_mlps
    case, res = cases[name], results[(name, True)]
    sizes = MLP_SIZES[name]
    assert res["layers"] == ["Linear", "ReLU"] * (len(sizes) - 1)
    for (W, b), (i, o) in zip(res["initial"], zip(sizes[:-1], sizes[1:])):
        same(W, np.zeros((o, i)))
        same(b, np.zeros((o, 1)))
    values, grads, layer_grads = compose_current(case)
    same(res["out"], values[-1])
    same(res["ret"], grads[0])
    for (dLdW, dLdb), (want_W, want_b) in zip(res["grads"], layer_grads):
        same(dLdW, want_W)
        same(dLdb, want_b)
    # every ReLU zeroes some entries and keeps others: a missing or misplaced one would show
    assert all(np.any(Z < 0) and np.any(Z > 0) for Z in values[1::2])
    debug = res["debug"]
    if name == "MLP4":
        assert set(debug) == {"A", "dLdA"}
        same_list(debug["A"], values)            # [A0, Z0, A1, ..., Z4, A5]
        same_list(debug["dLdA"], grads)          # [dLdA0, dLdZ0, ..., dLdZ4, dLdA5]
        same(debug["A"][1], values[1])           # the autograder's A[1] = Z0, dLdA[9] = dLdZ4
        same(debug["dLdA"][9], grads[9])
    else:
        names = {"Z0": values[1], "A1": values[2], "dLdA0": grads[0], "dLdZ0": grads[1]}
        if name == "MLP1":
            names.update(Z1=values[3], A2=values[4], dLdA1=grads[2], dLdZ1=grads[3])
        assert set(debug) == set(names)
        for key, want in names.items():
            same(debug[key], want)


@pytest.mark.parametrize("name", list(MLP_SIZES))
def test_mlp_without_debug_keeps_nothing_extra(current_mlps, name):
    """debug defaults to False; without it the same output and nothing stored for debugging."""
    _, results = current_mlps
    for debug in (False, None):
        res = results[(name, debug)]
        assert res["debug"] == {}
        same(res["out"], results[(name, True)]["out"])
        same(res["ret"], results[(name, True)]["ret"])


@pytest.fixture(scope="module")
def previous_mlps():
    cases = {name: mlp_case(name, seed) for name, seed in MLP_SEEDS.items()}
    runs = [dict(cases[n], debug=d) for n in cases for d in (True, None)]
    results = run_job(PREVIOUS, MLP_PROBE, as_job("mytorch.models.mlp", runs))
    return cases, {(r["cls"], r["debug"]): res for r, res in zip(runs, results)}


@pytest.mark.parametrize("name", list(MLP_SIZES))
def test_previous_mlp_matches_its_layers_composed_by_hand(previous_mlps, name):
    """S23: self.layers holds the Linear layers only, self.f their ReLUs; debug values as that
    handout names them; dLdW and dLdb divided by N (its Linear)."""
    cases, results = previous_mlps
    case, res = cases[name], results[(name, True)]
    n = len(MLP_SIZES[name]) - 1
    assert res["layers"] == ["Linear"] * n and res["activations"] == ["ReLU"] * n
    want = compose_previous(case)
    same(res["out"], want["A"][-1])
    same(res["ret"], want["dLdA"][0])
    for (dLdW, dLdb), (want_W, want_b) in zip(res["grads"], want["grads"]):
        same(dLdW, want_W)
        same(dLdb, want_b)
    debug = res["debug"]
    if name == "MLP4":
        assert set(debug) == {"Z", "A", "dAdZ", "dLdZ", "dLdA"}
        for key in debug:
            same_list(debug[key], want[key])
    else:
        names = {"Z0": want["Z"][0], "A1": want["A"][1], "dA1dZ0": want["dAdZ"][0],
                 "dLdZ0": want["dLdZ"][0], "dLdA0": want["dLdA"][0]}
        if name == "MLP1":
            names.update(Z1=want["Z"][1], A2=want["A"][2], dA2dZ1=want["dAdZ"][1],
                         dLdZ1=want["dLdZ"][1], dLdA1=want["dLdA"][1])
        assert set(debug) == set(names)
        for key, value in names.items():
            same(debug[key], value)
    assert results[(name, None)]["debug"] == {}
    same(results[(name, None)]["out"], res["out"])


# ---- part 2: the mistake variants (subprocess: they import mytorch and models) ----

PART2_PROBE = r"""
import json, sys, warnings
import numpy as np
import mistakes as m
warnings.simplefilter("error")
job = json.load(sys.stdin)
Z, W, b, G = (np.array(job[k]) for k in ("Z", "BW", "Bb", "dLdBZ"))
Z2 = np.array(job["Z2"])
TINY = np.array(job["tiny"])

def bn(cls):
    layer = cls(Z.shape[1])
    layer.BW, layer.Bb = W.copy(), b.copy()
    return layer

out = {"bn": {}, "sgd": {}}
for name in ["BatchNorm1d", "bn_grad_flat", "bn_grads_swapped", "bn_grad_sum_no_axis",
             "bn_eval_batch_stats", "bn_eval_raw", "bn_eps_outside_sqrt", "bn_unbiased_var",
             "bn_alpha_swapped", "bn_no_history", "bn_dLdZ_no_mean_term", "bn_dLdZ_no_var_term"]:
    cls = getattr(m, name)
    r = {}
    layer = bn(cls)
    r["eval_fresh"] = layer.forward(Z, eval=True).tolist()
    r["train"] = layer.forward(Z).tolist()
    r["dLdZ"] = layer.backward(G).tolist()
    r["dLdBW"], r["dLdBb"] = np.asarray(layer.dLdBW).tolist(), np.asarray(layer.dLdBb).tolist()
    r["running1"] = [layer.running_M.tolist(), layer.running_V.tolist()]
    layer.forward(Z2)
    r["running2"] = [layer.running_M.tolist(), layer.running_V.tolist()]
    r["eval_after"] = layer.forward(Z, eval=True).tolist()
    r["running_after_eval"] = [layer.running_M.tolist(), layer.running_V.tolist()]
    layer = cls(TINY.shape[1])
    r["tiny_train"] = layer.forward(TINY).tolist()
    out["bn"][name] = r


class Layer:
    def __init__(self, W, b, dLdW, dLdb):
        self.W, self.b, self.dLdW, self.dLdb = W, b, dLdW, dLdb


class Model:
    def __init__(self, layers):
        self.layers = layers


def model(spec):
    return Model([Layer(*(np.array(x) for x in layer)) for layer in spec])

for name in ["SGD", "sgd_assigns", "sgd_momentum_no_history", "sgd_shared_velocity",
             "sgd_bias_velocity_from_dLdW", "sgd_no_lr"]:
    cls = getattr(m, name)
    r = {}
    for run, (spec, mu) in job["sgd"].items():
        net = model(spec)
        opt = cls(net, lr=0.9, momentum=mu)
        steps = []
        for _ in range(2):
            opt.step()
            steps.append([[l.W.tolist(), l.b.tolist()] for l in net.layers])
        r[run] = steps
    out["sgd"][name] = r
print(json.dumps(out))
"""

RNG_BN = np.random.default_rng(11)
BN_RANDOM = {"Z": RNG_BN.normal(size=(5, 3)), "BW": RNG_BN.normal(size=(1, 3)),
             "Bb": RNG_BN.normal(size=(1, 3)), "dLdBZ": RNG_BN.normal(size=(5, 3)),
             "Z2": RNG_BN.normal(size=(5, 3)) + 2}
# a column of variance 1e-12: NZ is about +-0.01 there, with eps outside the sqrt about +-0.99
TINY_COLUMN = np.array([[0.0, 1 + 1e-6], [1.0, 1 - 1e-6], [2.0, 1 + 1e-6], [3.0, 1 - 1e-6]])
SGD_RUNS = {
    "toy_plain": ([[np.ones((3, 2)), np.ones((3, 1)), np.full((3, 2), 0.1), np.full((3, 1), 0.1)]],
                  0),
    "toy_momentum": ([[np.ones((3, 2)), np.ones((3, 1)), np.full((3, 2), 0.1),
                       np.full((3, 1), 0.1)]], 0.9),
    # dLdb differs from dLdW; two layers of one shape with different gradients
    "two_layers": ([[np.ones((3, 2)), np.ones((3, 1)), np.full((3, 2), 0.1), np.full((3, 1), 0.3)],
                    [np.ones((3, 2)), np.ones((3, 1)), np.full((3, 2), 0.2), np.full((3, 1), 0.4)]],
                   0.9),
}


def bn_terms(Z, W, dLdBZ, eps=1e-8):
    """dLdZ's terms through the mean and through the variance, written out independently."""
    Z, W, dLdBZ = (np.asarray(x, dtype=float) for x in (Z, W, dLdBZ))
    N = Z.shape[0]
    Zc = Z - Z.mean(axis=0, keepdims=True)
    inv_std = 1 / np.sqrt(Z.var(axis=0, keepdims=True) + eps)
    dLdNZ = dLdBZ * W
    mean_term = -dLdNZ.mean(axis=0, keepdims=True) * inv_std     # sum(Z - M) = 0
    dLdV = -0.5 * np.sum(dLdNZ * Zc, axis=0, keepdims=True) * inv_std ** 3
    return mean_term, dLdV * 2 / N * Zc


def part2_variants(data: dict) -> dict:
    job = {"Z": data["Z"], "BW": data["BW"], "Bb": data["Bb"], "dLdBZ": data["dLdBZ"],
           "Z2": data["Z2"], "tiny": TINY_COLUMN,
           "sgd": {k: ([[np.asarray(x).tolist() for x in layer] for layer in spec], mu)
                   for k, (spec, mu) in SGD_RUNS.items()}}
    job = {k: (np.asarray(v).tolist() if k != "sgd" else v) for k, v in job.items()}
    return run_job(CURRENT, PART2_PROBE, job)


@pytest.fixture(scope="module")
def variants_toy():
    return part2_variants({"Z": BN_Z, "BW": BN_W, "Bb": BN_b, "dLdBZ": BN_dLdBZ, "Z2": BN_Z + 1})


@pytest.fixture(scope="module")
def variants_random():
    return part2_variants(BN_RANDOM)


def differs(x, y):
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return x.shape != y.shape or not np.allclose(x, y, atol=1e-4)


def test_batchnorm_reference_in_the_variant_probe(variants_toy):
    ref = variants_toy["bn"]["BatchNorm1d"]
    close(ref["eval_fresh"], BN_EVAL)
    close(ref["train"], BN_TRAIN)
    close(ref["dLdZ"], BN_dLdZ)


def test_bn_gradient_shape_variants(variants_toy):
    bn = variants_toy["bn"]
    ref = bn["BatchNorm1d"]
    flat = bn["bn_grad_flat"]
    close(flat["dLdBW"], np.reshape(ref["dLdBW"], -1))
    close(flat["dLdBb"], np.reshape(ref["dLdBb"], -1))
    swapped = bn["bn_grads_swapped"]
    close(swapped["dLdBW"], ref["dLdBb"])
    close(swapped["dLdBb"], ref["dLdBW"])
    total = bn["bn_grad_sum_no_axis"]
    assert np.ndim(total["dLdBW"]) == 0 and np.ndim(total["dLdBb"]) == 0
    assert np.isclose(total["dLdBW"], np.sum(ref["dLdBW"]))
    assert np.isclose(total["dLdBb"], np.sum(ref["dLdBb"]))
    for name in ("bn_grad_flat", "bn_grads_swapped", "bn_grad_sum_no_axis"):
        close(bn[name]["dLdZ"], ref["dLdZ"])      # dLdZ is right in all three
        close(bn[name]["train"], ref["train"])


def test_bn_eval_variants(variants_toy):
    bn = variants_toy["bn"]
    ref = bn["BatchNorm1d"]
    # eval with the batch's statistics: the training output, and a fresh layer shows it
    batch = bn["bn_eval_batch_stats"]
    close(batch["eval_fresh"], BN_TRAIN)
    assert differs(batch["eval_fresh"], ref["eval_fresh"])
    close(batch["running_after_eval"], ref["running_after_eval"])
    # eval without normalising: the course's fresh-layer toy cannot tell, a trained layer can
    raw = bn["bn_eval_raw"]
    close(raw["eval_fresh"], BN_EVAL)
    close(raw["eval_after"], BN_W * BN_Z + BN_b)
    assert differs(raw["eval_after"], ref["eval_after"])
    for name in ("bn_eval_batch_stats", "bn_eval_raw"):
        close(bn[name]["train"], ref["train"])


def test_bn_eps_outside_sqrt(variants_toy):
    bn = variants_toy["bn"]
    ref, wrong = bn["BatchNorm1d"], bn["bn_eps_outside_sqrt"]
    close(wrong["train"], ref["train"])           # invisible where V is far from 0 ...
    close(np.array(ref["tiny_train"])[:, 1], [0.01, -0.01, 0.01, -0.01])
    close(np.array(wrong["tiny_train"])[:, 1], np.array([1, -1, 1, -1]) / (1 + 1e-2))
    close(np.array(wrong["tiny_train"])[:, 0], np.array(ref["tiny_train"])[:, 0])


def test_bn_running_average_variants(variants_toy):
    bn = variants_toy["bn"]
    ref = bn["BatchNorm1d"]
    M1, V1 = np.array([[4.0, 2.0]]), np.array([[9.0, 4.0]])
    M2, V2 = M1 + 1, V1                           # the second batch is Z + 1
    close(ref["running1"], [0.1 * M1, 0.9 + 0.1 * V1])
    close(bn["bn_alpha_swapped"]["running1"], [0.9 * M1, 0.1 + 0.9 * V1])
    close(bn["bn_alpha_swapped"]["running2"], [0.1 * 0.9 * M1 + 0.9 * M2,
                                               0.1 * (0.1 + 0.9 * V1) + 0.9 * V2])
    # dropping the history: running_M agrees after one batch from 0, running_V does not
    close(bn["bn_no_history"]["running1"][0], ref["running1"][0])
    close(bn["bn_no_history"]["running1"][1], 0.1 * V1)
    close(bn["bn_no_history"]["running2"], [0.1 * M2, 0.1 * V2])
    assert differs(bn["bn_no_history"]["running2"][0], ref["running2"][0])
    for name in ("bn_alpha_swapped", "bn_no_history"):
        close(bn[name]["train"], ref["train"])
        assert differs(bn[name]["eval_after"], ref["eval_after"])


def test_bn_unbiased_var(variants_random):
    bn = variants_random["bn"]
    ref, wrong = bn["BatchNorm1d"], bn["bn_unbiased_var"]
    Z, W, b = BN_RANDOM["Z"], BN_RANDOM["BW"], BN_RANDOM["Bb"]
    V = Z.var(axis=0, ddof=1, keepdims=True)
    close(wrong["train"], W * (Z - Z.mean(axis=0)) / np.sqrt(V + 1e-8) + b)
    assert differs(wrong["train"], ref["train"])
    close(wrong["running1"][1], 0.9 + 0.1 * V)


@pytest.mark.parametrize("fixture", ["variants_toy", "variants_random"])
def test_bn_dLdZ_missing_terms(fixture, request):
    out = request.getfixturevalue(fixture)
    data = ({"Z": BN_Z, "BW": BN_W, "dLdBZ": BN_dLdBZ} if fixture == "variants_toy"
            else BN_RANDOM)
    bn = out["bn"]
    ref = np.array(bn["BatchNorm1d"]["dLdZ"])
    mean_term, var_term = bn_terms(data["Z"], data["BW"], data["dLdBZ"])
    close(bn["bn_dLdZ_no_mean_term"]["dLdZ"], ref - mean_term)
    close(bn["bn_dLdZ_no_var_term"]["dLdZ"], ref - var_term)
    assert differs(bn["bn_dLdZ_no_mean_term"]["dLdZ"], ref)
    assert differs(bn["bn_dLdZ_no_var_term"]["dLdZ"], ref)
    for name in ("bn_dLdZ_no_mean_term", "bn_dLdZ_no_var_term"):
        close(bn[name]["dLdBW"], bn["BatchNorm1d"]["dLdBW"])
        close(bn[name]["dLdBb"], bn["BatchNorm1d"]["dLdBb"])


def sgd_W_b(steps, layer=0):
    """[(W, b) after step 1, (W, b) after step 2] of one layer."""
    return [(np.array(s[layer][0]), np.array(s[layer][1])) for s in steps]


def test_sgd_variants(variants_toy):
    s = variants_toy["sgd"]
    ref = s["SGD"]
    for run, wants in [("toy_plain", (0.91, 0.82)), ("toy_momentum", (0.91, 0.739))]:
        for (W, b), want in zip(sgd_W_b(ref[run]), wants):
            close(W, np.full((3, 2), want))
            close(b, np.full((3, 1), want))
    # plain branch assigns: W = lr dLdW; the scored momentum toy still passes
    (W, b), _ = sgd_W_b(s["sgd_assigns"]["toy_plain"])
    close(W, np.full((3, 2), 0.09))
    close(b, np.full((3, 1), 0.09))
    assert s["sgd_assigns"]["toy_momentum"] == ref["toy_momentum"]
    # velocity without history: v = mu dLdW, so 1 - 0.9 * 0.09 then 0.919 - 0.081
    for (W, _), want in zip(sgd_W_b(s["sgd_momentum_no_history"]["toy_momentum"]), (0.919, 0.838)):
        close(W, np.full((3, 2), want))
    assert s["sgd_momentum_no_history"]["toy_plain"] == ref["toy_plain"]
    # one velocity for every layer: the one-layer toy cannot tell, two layers can
    assert s["sgd_shared_velocity"]["toy_momentum"] == ref["toy_momentum"]
    (W2, b2), _ = sgd_W_b(s["sgd_shared_velocity"]["two_layers"], layer=1)
    close(W2, np.full((3, 2), 1 - 0.9 * (0.9 * 0.1 + 0.2)))   # layer 0's velocity carried in
    close(b2, np.full((3, 1), 1 - 0.9 * (0.9 * 0.3 + 0.4)))
    close(sgd_W_b(ref["two_layers"], layer=1)[0][0], np.full((3, 2), 1 - 0.9 * 0.2))
    # the bias velocity from dLdW: W's values, W's shape
    (_, b), (_, b_2) = sgd_W_b(s["sgd_bias_velocity_from_dLdW"]["two_layers"])
    close(b, np.full((3, 2), 0.91))
    close(b_2, np.full((3, 2), 0.91 - 0.9 * 0.19))
    close(sgd_W_b(ref["two_layers"])[0][1], np.full((3, 1), 1 - 0.9 * 0.3))
    # no learning rate, either branch
    for run, wants in [("toy_plain", (0.9, 0.8)), ("toy_momentum", (0.9, 0.71))]:
        for (W, b), want in zip(sgd_W_b(s["sgd_no_lr"][run]), wants):
            close(W, np.full((3, 2), want))
            close(b, np.full((3, 1), want))


@pytest.fixture(scope="module")
def mlp_variants():
    cases = {name: mlp_case(name, seed) for name, seed in MLP_SEEDS.items()}
    runs = []
    for name in cases:
        low = name.lower()
        runs += [dict(cases[name], cls=f"{low}_missing_last_activation", debug=True),
                 dict(cases[name], cls=f"{low}_layers_wrong_order", debug=True),
                 dict(cases[name], cls=f"{low}_no_debug_argument", debug=True),
                 dict(cases[name], cls=f"{low}_no_debug_argument", debug=None)]
    runs.append(dict(cases["MLP4"], cls="mlp4_debug_lists_reversed", debug=True))
    results = run_job(CURRENT, MLP_PROBE, as_job("mistakes", runs))
    return cases, {(r["cls"], r["debug"]): res for r, res in zip(runs, results)}


@pytest.mark.parametrize("name", list(MLP_SIZES))
def test_mlp_missing_last_activation(mlp_variants, name):
    cases, results = mlp_variants
    res = results[(f"{name.lower()}_missing_last_activation", True)]
    n = len(MLP_SIZES[name]) - 1
    assert res["layers"] == (["Linear", "ReLU"] * n)[:-1]
    values, grads, layer_grads = compose_current(cases[name], last_activation=False)
    right, _, _ = compose_current(cases[name])
    same(res["out"], values[-1])                     # the last Linear's Z: negatives kept
    assert np.any(np.asarray(res["out"]) < 0) and differs(res["out"], right[-1])
    same(res["ret"], grads[0])
    for (dLdW, dLdb), (want_W, want_b) in zip(res["grads"], layer_grads):
        same(dLdW, want_W)
        same(dLdb, want_b)
    debug = res["debug"]
    if name == "MLP4":
        same_list(debug["A"], values)
        same_list(debug["dLdA"], grads)
    else:
        last = "A1" if name == "MLP0" else "A2"
        same(debug[last], values[-1])


@pytest.mark.parametrize("name", list(MLP_SIZES))
def test_mlp_layers_wrong_order(mlp_variants, name):
    cases, results = mlp_variants
    res = results[(f"{name.lower()}_layers_wrong_order", True)]
    n = len(MLP_SIZES[name]) - 1
    assert res["layers"] == ["ReLU", "Linear"] * n
    # by hand: each ReLU applied before its Linear layer
    A = cases[name]["A0"]
    for W, b in cases[name]["params"]:
        A = np.maximum(A, 0) @ W.T + b.T
    close(res["out"], A)
    assert differs(res["out"], compose_current(cases[name])[0][-1])


@pytest.mark.parametrize("name", list(MLP_SIZES))
def test_mlp_no_debug_argument(mlp_variants, current_mlps, name):
    _, results = mlp_variants
    low = name.lower()
    assert results[(f"{low}_no_debug_argument", True)] == {"error": "TypeError"}
    res = results[(f"{low}_no_debug_argument", None)]
    assert res["debug"] == {}
    same(res["out"], current_mlps[1][(name, True)]["out"])


def test_mlp4_debug_lists_reversed(mlp_variants):
    cases, results = mlp_variants
    res = results[("mlp4_debug_lists_reversed", True)]
    values, grads, _ = compose_current(cases["MLP4"])
    same_list(res["debug"]["A"], values)
    same_list(res["debug"]["dLdA"], grads[::-1])     # [dLdA5, dLdZ4, ..., dLdA0]
    same(res["ret"], grads[0])


# ---- part 2: the skeletons ----

@pytest.mark.parametrize("folder", [CURRENT, PREVIOUS], ids=["v3", "v2b"])
def test_batchnorm_and_sgd_skeletons_return_none(folder, tmp_path):
    """The untouched BatchNorm1d returns None from forward (either mode) and backward; the
    untouched SGD step leaves None where W and b were, without raising."""
    mods = {}
    for stem, package in (("batchnorm", "nn"), ("sgd", "optim")):
        text = strip((folder / "mytorch" / package / f"{stem}.py").read_text())
        assert "SOLUTION" not in text and "#>" not in text
        path = tmp_path / f"{stem}.py"
        path.write_text(text)
        spec = importlib.util.spec_from_file_location(f"_toy_values_skeleton_{stem}", path)
        mods[stem] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mods[stem])
    layer = mods["batchnorm"].BatchNorm1d(3)
    x = np.ones((2, 3))
    assert layer.forward(x) is None and layer.forward(x, eval=True) is None
    assert layer.backward(x) is None
    for mu in (0, 0.9):
        model = toy_model()
        mods["sgd"].SGD(model, lr=0.9, momentum=mu).step()
        assert model.layers[0].W is None and model.layers[0].b is None


@pytest.mark.parametrize("folder, rel", [(CURRENT, "models/mlp.py"),
                                         (PREVIOUS, "mytorch/models/mlp.py")], ids=["v3", "v2b"])
def test_mlp_skeleton_returns_none(folder, rel, tmp_path):
    """The untouched MLPs construct, and forward and backward return None without raising."""
    text = strip((folder / rel).read_text())
    assert "SOLUTION" not in text and "#>" not in text
    (tmp_path / "skeleton_mlp.py").write_text(text)
    out = run_job(folder, r"""
import importlib.util, json, sys
import numpy as np
spec = importlib.util.spec_from_file_location("skeleton_mlp", json.load(sys.stdin)["path"])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
res = {}
for name in ("MLP0", "MLP1", "MLP4"):
    for debug in (False, True):
        model = getattr(m, name)(debug=debug)
        res[f"{name}/{debug}"] = [model.forward(np.ones((3, 2))) is None,
                                  model.backward(np.ones((3, 2))) is None]
print(json.dumps(res))
""", {"path": str(tmp_path / "skeleton_mlp.py")})
    assert out and all(v == [True, True] for v in out.values()), out
