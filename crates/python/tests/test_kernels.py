"""Analytic kernels and GP predictions against closed forms written here in numpy, independently
of the library (docs/MATH.md §5 recursion and closed forms, §6 GP formulas)."""

import math

import numpy as np
import pytest

import sgntk
from helpers import circle

RTOL = 1e-12


def expectations(phi, g2, l11, l12, l22, m=None, a=1.0):
    """(E[φ(u)φ(v)], E[g1(u) g2(v)]) for (u, v) ~ N(0, [[l11, l12], [l12, l22]]), g1 = φ'.

    phi: "erf" (erf(m z)), "relu" or "sign"; g2: "true" (φ') or "erf-prime" (2a/√π e^{-a²z²}).
    """
    if phi == "erf":
        s = 1.0 / (2.0 * m * m)
        e_phi = 2 / math.pi * np.arcsin(l12 / np.sqrt((l11 + s) * (l22 + s)))
        if g2 == "true":
            e_g = 2 / math.pi / np.sqrt((l11 + s) * (l22 + s) - l12**2)
        else:  # erf_m'(u) with erf'(a v), a = 1 (S76)
            assert a == 1.0
            e_g = 2 / math.pi / np.sqrt((l11 + s) * (l22 + 0.5) - l12**2)
        return e_phi, e_g
    if phi == "relu":
        n = np.sqrt(l11 * l22)
        cos = np.clip(l12 / n, -1.0, 1.0)
        theta = np.arccos(cos)
        e_phi = n / (2 * math.pi) * (np.sqrt(1 - cos**2) + (math.pi - theta) * cos)
        assert g2 == "true"
        return e_phi, (math.pi - theta) / (2 * math.pi)
    if phi == "sign":
        e_phi = 2 / math.pi * np.arcsin(np.clip(l12 / np.sqrt(l11 * l22), -1.0, 1.0))
        assert g2 == "erf-prime"
        # E[2δ(u) g2(v)] = √(2/π) Λ11^{-1/2} E_{Y~N(0,w)} g2(Y), w = det Λ / Λ11 (S78, S79)
        w = np.maximum(l11 * l22 - l12**2, 0.0) / l11
        e_y = 2 * a / math.sqrt(math.pi) / np.sqrt(1 + 2 * a * a * w)
        return e_phi, math.sqrt(2 / math.pi) / np.sqrt(l11) * e_y
    raise ValueError(phi)


def mlp_kernels(x1, x2, phi, g2, depth, sigma_w, sigma_b, kappa, m=None):
    """(NNGP, NTK or SG-NTK) of the depth-L MLP by the recursion of docs/MATH.md §5."""
    n0 = x1.shape[1]
    s12 = sigma_w**2 / n0 * x1 @ x2.T + sigma_b**2
    s11 = sigma_w**2 / n0 * np.sum(x1 * x1, axis=1)[:, None] + sigma_b**2
    s22 = sigma_w**2 / n0 * np.sum(x2 * x2, axis=1)[None, :] + sigma_b**2
    k = s12.copy()
    for _ in range(depth - 1):
        e12, g12 = expectations(phi, g2, s11, s12, s22, m)
        e11, _ = expectations(phi, g2, s11, s11, s11, m)
        e22, _ = expectations(phi, g2, s22, s22, s22, m)
        s12 = sigma_w**2 * e12 + sigma_b**2
        s11 = sigma_w**2 * e11 + sigma_b**2
        s22 = sigma_w**2 * e22 + sigma_b**2
        k = s12 + k * sigma_w**2 * g12
    return kappa**2 * s12, kappa**2 * k


X1 = circle([-2.0, -0.5, 0.4, 1.1, 2.5]) * np.array([1.0, 0.7])
X2 = circle([0.0, 1.0, 3.0]) * 1.3


@pytest.mark.parametrize("m", [0.5, 2.0, 5.0])
def test_erf_mlp_nngp_and_ntk_match_the_closed_forms(m):
    net = sgntk.Net.mlp(input_dim=2, activation=f"erf:{m}", depth=4, sigma_w=1.3, sigma_b=0.2, kappa=0.7)
    nngp, ntk = mlp_kernels(X1, X2, "erf", "true", 4, 1.3, 0.2, 0.7, m=m)
    np.testing.assert_allclose(sgntk.kernel(net, X1, X2, kind="nngp"), nngp, rtol=RTOL)
    np.testing.assert_allclose(sgntk.kernel(net, X1, X2, kind="ntk"), ntk, rtol=RTOL)
    # the SG-NTK with the activation's own derivative is the NTK
    np.testing.assert_allclose(sgntk.kernel(net, X1, X2, kind="sgntk", surrogate="true"), ntk, rtol=RTOL)


def test_erf_sgntk_with_the_erf_prime_surrogate_matches_s76():
    net = sgntk.Net.mlp(input_dim=2, activation="erf:3", depth=3, sigma_w=1.0, sigma_b=0.1)
    _, sgntk_closed = mlp_kernels(X1, X2, "erf", "erf-prime", 3, 1.0, 0.1, 1.0, m=3.0)
    got = sgntk.kernel(net, X1, X2, kind="sgntk", surrogate="erf-prime")
    np.testing.assert_allclose(got, sgntk_closed, rtol=RTOL)


def test_relu_mlp_matches_the_arc_cosine_kernels():
    net = sgntk.Net.mlp(input_dim=2, activation="relu", depth=3, sigma_w=1.5, sigma_b=0.3)
    nngp, ntk = mlp_kernels(X1, X2, "relu", "true", 3, 1.5, 0.3, 1.0)
    np.testing.assert_allclose(sgntk.kernel(net, X1, X2, kind="nngp"), nngp, rtol=RTOL)
    np.testing.assert_allclose(sgntk.kernel(net, X1, X2, kind="ntk"), ntk, rtol=RTOL)


def test_sign_sgntk_matches_s78_and_is_asymmetric():
    """The paper's network: sign MLP, σ̃ = erf', σw = 1, σb = 0.1, depth 3."""
    net = sgntk.Net.mlp(input_dim=2, activation="sign")
    # radii that differ: on the circle, where Λ11 = Λ22, the kernel is symmetric
    x = circle(np.linspace(-3.0, 3.0, 7)) * np.linspace(0.5, 2.0, 7)[:, None]
    nngp, isg = mlp_kernels(x, x, "sign", "erf-prime", 3, 1.0, 0.1, 1.0)
    k = sgntk.kernel(net, x, kind="sgntk", surrogate="erf-prime")
    np.testing.assert_allclose(k, isg, rtol=RTOL)
    np.testing.assert_allclose(sgntk.kernel(net, x, kind="nngp"), nngp, rtol=RTOL)
    assert k.dtype == np.float64 and k.shape == (7, 7)
    assert np.max(np.abs(k - k.T)) > 1e-3  # rows carry 2δ, columns erf'


def test_x2_defaults_to_x1_and_inputs_may_be_lists_or_ints():
    net = sgntk.Net.mlp(input_dim=2, activation="erf:2")
    x = [[1, 0], [0, 2]]
    want = sgntk.kernel(net, np.array(x, dtype=np.float64), np.array(x, dtype=np.float64), kind="ntk")
    np.testing.assert_array_equal(sgntk.kernel(net, x, kind="ntk"), want)


def gp_closed_form(k_xx, k_tx, s_xx, s_tx, s_tt, y, lr, steps):
    """Mean and covariance of docs/MATH.md §6 after `steps` discrete steps (None: t = ∞)."""
    d = k_xx.shape[0]
    decay = np.eye(d) if steps is None else np.eye(d) - np.linalg.matrix_power(np.eye(d) - lr * k_xx / d, steps)
    a = k_tx @ np.linalg.solve(k_xx, decay)
    mean = a @ y
    cov = s_tt - a @ s_tx.T - s_tx @ a.T + a @ s_xx @ a.T
    return mean, cov


@pytest.mark.parametrize("steps", [None, 300])
def test_predict_matches_the_gp_formulas(steps):
    net = sgntk.Net.mlp(input_dim=2, activation="sign")
    xt = circle(np.linspace(-3.0, 3.0, 9))
    y = np.sin(2 * np.linspace(-3.0, 3.0, 9))
    x = circle([-2.2, 0.15, 1.7])
    ker = lambda a, b, kind: sgntk.kernel(net, a, b, kind=kind)
    mean_want, cov_want = gp_closed_form(
        ker(xt, xt, "sgntk"), ker(x, xt, "sgntk"), ker(xt, xt, "nngp"), ker(x, xt, "nngp"), ker(x, x, "nngp"), y, 0.1, steps
    )
    time = np.inf if steps is None else steps
    mean, std, cov = sgntk.predict(net, xt, y, x, time=time, lr=0.1, discrete=steps is not None, return_cov=True)
    np.testing.assert_allclose(mean, mean_want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cov, cov_want, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(std, np.sqrt(np.maximum(np.diag(cov), 0.0)), rtol=1e-15)
    # y as (points, 1) gives a (points, 1) mean
    mean2, _ = sgntk.predict(net, xt, y[:, None], x, time=time, lr=0.1, discrete=steps is not None)
    assert mean2.shape == (3, 1)
    np.testing.assert_array_equal(mean2[:, 0], mean)


def test_nngp_regression_is_the_sigma_regression():
    net = sgntk.Net.mlp(input_dim=2, activation="sign")
    xt = circle(np.linspace(-3.0, 3.0, 9))
    y = np.cos(np.linspace(-3.0, 3.0, 9))
    x = circle([0.3, 2.0])
    s_xx = sgntk.kernel(net, xt, kind="nngp")
    s_tx = sgntk.kernel(net, x, xt, kind="nngp")
    mean, _ = sgntk.predict(net, xt, y, x, kind="nngp")
    np.testing.assert_allclose(mean, s_tx @ np.linalg.solve(s_xx, y), rtol=1e-10)


def test_residual_network_from_toml_equals_its_file(tmp_path):
    text = """
input_dim = 2
sigma_w = 1.2
sigma_b = 0.1
kappa = 1.0
layers = [
  { dense = { width = 32 } },
  { residual = [{ act = "erf:2" }, { dense = { width = 32 } }] },
  { act = "erf:2" },
  { dense = { width = 1 } },
]
"""
    path = tmp_path / "res.toml"
    path.write_text(text)
    a = sgntk.Net.from_toml(text)
    b = sgntk.Net.from_toml(path)
    c = sgntk.Net.from_toml(str(path))
    k = sgntk.kernel(a, X1, X2, kind="ntk")
    np.testing.assert_array_equal(k, sgntk.kernel(b, X1, X2, kind="ntk"))
    np.testing.assert_array_equal(k, sgntk.kernel(c, X1, X2, kind="ntk"))
    assert a.input_dim == 2 and a.width is None
    # its repr is valid Python that rebuilds it
    again = eval(repr(a), {"Net": sgntk.Net})
    np.testing.assert_array_equal(k, sgntk.kernel(again, X1, X2, kind="ntk"))
