"""The references reproduce the course's public toy values (docs: /work/shared/hw1p1-spec.md §3).

Each reference file is loaded on its own with importlib under a unique module name, so nothing
named `mytorch` enters sys.modules (other tests import submissions under that name). The mistake
variants import `mytorch.nn...`, so they run in a subprocess with the reference on PYTHONPATH.
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


def load(folder: Path, stem: str, tag: str):
    path = folder / "mytorch" / "nn" / f"{stem}.py"
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
