"""Peer comparison with neural-tangents (stax, float64): the NNGP and NTK of erf and ReLU MLPs and
of a residual network agree to 1e-10 relative. neural-tangents' stax.Erf(a=1, b=m, c=0) is our
erf:m; its Dense(W_std, b_std, parameterization='ntk') is our dense layer.

Pinned in the test environment (.ci/run): jax[cpu]==0.4.26, neural-tangents==0.6.5, numpy<2.
neural-tangents imports its TensorFlow interop (`neural_tangents.experimental`, which needs
tensorflow and tf2jax) on import; these tests use stax only, so without tensorflow that
submodule is replaced by an empty module instead of installing TensorFlow.
"""

import importlib.util
import sys
import types

import numpy as np
import pytest

import sgntk
from helpers import missing

RTOL = 1e-10


@pytest.fixture(scope="module")
def stax():
    if importlib.util.find_spec("jax") is None or importlib.util.find_spec("neural_tangents") is None:
        missing("neural-tangents is not installed (pip install 'jax[cpu]==0.4.26' 'numpy<2' frozendict; pip install --no-deps neural-tangents==0.6.5)")
    if importlib.util.find_spec("tensorflow") is None:
        sys.modules.setdefault("neural_tangents.experimental", types.ModuleType("neural_tangents.experimental"))
    import jax

    jax.config.update("jax_enable_x64", True)
    from neural_tangents import stax

    return stax


def points():
    rng = np.random.default_rng(3)
    x1 = rng.normal(size=(6, 3))
    x2 = rng.normal(size=(4, 3)) * 0.7
    return x1, x2


def compare(net, kernel_fn, x1, x2):
    theirs = kernel_fn(x1, x2, ("nngp", "ntk"))
    for kind, want in [("nngp", theirs.nngp), ("ntk", theirs.ntk)]:
        want = np.asarray(want, dtype=np.float64)
        assert want.dtype == np.float64
        got = sgntk.kernel(net, x1, x2, kind=kind)
        print(f"{kind}: max relative difference {np.max(np.abs(got - want) / np.abs(want)):.1e}")
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=0, err_msg=kind)


def dense(stax, sw, sb, width=512):
    return stax.Dense(width, W_std=sw, b_std=sb, parameterization="ntk")


@pytest.mark.parametrize("m", [0.7, 2.0, 5.0])
def test_erf_mlp(stax, m):
    sw, sb, depth = 1.2, 0.15, 4
    layers = [dense(stax, sw, sb)]
    for _ in range(depth - 2):
        layers += [stax.Erf(a=1.0, b=m, c=0.0), dense(stax, sw, sb)]
    layers += [stax.Erf(a=1.0, b=m, c=0.0), dense(stax, sw, sb, 1)]
    _, _, kernel_fn = stax.serial(*layers)
    net = sgntk.Net.mlp(input_dim=3, activation=f"erf:{m}", depth=depth, sigma_w=sw, sigma_b=sb)
    compare(net, kernel_fn, *points())


def test_relu_mlp(stax):
    sw, sb = 1.4, 0.2
    _, _, kernel_fn = stax.serial(dense(stax, sw, sb), stax.Relu(), dense(stax, sw, sb), stax.Relu(), dense(stax, sw, sb, 1))
    net = sgntk.Net.mlp(input_dim=3, activation="relu", depth=3, sigma_w=sw, sigma_b=sb)
    compare(net, kernel_fn, *points())


@pytest.mark.filterwarnings("ignore:`FanIn` layers assume independent inputs")
@pytest.mark.parametrize("act", ["relu", "erf:1.5"])
def test_residual_network(stax, act):
    sw, sb = 1.0, 0.1
    phi = stax.Relu() if act == "relu" else stax.Erf(a=1.0, b=1.5, c=0.0)
    phi2 = stax.Relu() if act == "relu" else stax.Erf(a=1.0, b=1.5, c=0.0)
    block = stax.serial(stax.FanOut(2), stax.parallel(stax.serial(phi, dense(stax, sw, sb)), stax.Identity()), stax.FanInSum())
    _, _, kernel_fn = stax.serial(dense(stax, sw, sb), block, phi2, dense(stax, sw, sb, 1))
    net = sgntk.Net.from_toml(
        f"""
input_dim = 3
sigma_w = {sw}
sigma_b = {sb}
kappa = 1.0
layers = [
  {{ dense = {{ width = 512 }} }},
  {{ residual = [{{ act = "{act}" }}, {{ dense = {{ width = 512 }} }}] }},
  {{ act = "{act}" }},
  {{ dense = {{ width = 1 }} }},
]
"""
    )
    compare(net, kernel_fn, *points())
