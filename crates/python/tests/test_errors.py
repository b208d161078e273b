"""Bad arguments raise ValueError (or OSError for files) with a one-line message naming the
problem; nothing panics, hangs or returns NaN."""

import numpy as np
import pytest

import sgntk
from helpers import circle

X = circle([-1.0, 0.0, 1.0, 2.0])
Y = np.array([0.1, -0.2, 0.3, 0.05])
SIGN = sgntk.Net.mlp(input_dim=2, activation="sign", width=8)


def raises(exc, fn, *args, match=None, **kwargs):
    with pytest.raises(exc, match=match) as e:
        fn(*args, **kwargs)
    assert "\n" not in str(e.value), "one line"
    return str(e.value)


@pytest.mark.parametrize(
    "spec, match",
    [("wiggle", "unknown activation `wiggle`"), ("erf:", "is empty"), ("erf:-1", "must be a finite number > 0"), ("sign:2", "takes no parameter")],
)
def test_unknown_or_bad_activation(spec, match):
    raises(ValueError, sgntk.Net.mlp, 2, activation=spec, match=match)


@pytest.mark.parametrize("fn", ["kernel", "empirical_kernel"])
def test_unknown_surrogate_and_kind(fn):
    f = getattr(sgntk, fn)
    raises(ValueError, f, SIGN, X, surrogate="wiggle", match="unknown surrogate `wiggle`")
    raises(ValueError, f, SIGN, X, kind="ntkk", match="unknown kind 'ntkk'")


def test_unknown_mode_engine_backend():
    raises(ValueError, sgntk.train, SIGN, X, Y, X, mode="adam", match="unknown mode 'adam'")
    raises(ValueError, sgntk.train, SIGN, X, Y, X, engine="turbo", match="unknown engine `turbo`")
    raises(ValueError, sgntk.train, SIGN, X, Y, X, backend="tpu", match="unknown backend")


@pytest.mark.parametrize(
    "x, match",
    [(np.ones(2), "shape \\(points, features\\)"), (np.ones((3, 3)), "3 features per point, but the network takes input_dim = 2")],
)
def test_wrong_input_shapes(x, match):
    raises(ValueError, sgntk.kernel, SIGN, x, match=match)
    raises(ValueError, sgntk.kernel, SIGN, X, x, match=match)
    raises(ValueError, sgntk.predict, SIGN, X, Y, x, match=match)
    raises(ValueError, sgntk.train, SIGN, x, Y, X, match=match)
    raises(ValueError, sgntk.empirical_kernel, SIGN, x, match=match)


def test_wrong_target_shapes():
    raises(ValueError, sgntk.predict, SIGN, X, np.ones((4, 1, 1)), X, match="shape \\(points,\\) or \\(points, outputs\\)")
    raises(ValueError, sgntk.predict, SIGN, X, Y[:3], X, match="shape")
    raises(ValueError, sgntk.train, SIGN, X, Y[:3], X, nets=2, steps=2, match="targets")
    # a description keeps its one output: two target columns do not fit it
    one_output = sgntk.Net.from_toml(
        "input_dim = 2\nsigma_w = 1.0\nsigma_b = 0.1\nkappa = 1.0\n"
        "layers = [{ dense = { width = 8 } }, { act = \"sign\" }, { dense = { width = 1 } }]\n"
    )
    raises(ValueError, sgntk.train, one_output, X, np.ones((4, 2)), X, nets=2, steps=2, match="targets")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs_and_targets(bad):
    xb = X.copy()
    xb[2, 1] = bad
    yb = Y.copy()
    yb[1] = bad
    raises(ValueError, sgntk.kernel, SIGN, xb, match="non-finite")
    raises(ValueError, sgntk.predict, SIGN, xb, Y, X, match="non-finite")
    raises(ValueError, sgntk.predict, SIGN, X, yb, X, match="non-finite")
    raises(ValueError, sgntk.predict, SIGN, X, Y, xb, match="non-finite")
    raises(ValueError, sgntk.train, SIGN, xb, Y, X, nets=2, steps=2, match="non-finite")
    raises(ValueError, sgntk.train, SIGN, X, yb, X, nets=2, steps=2, match="non-finite")
    raises(ValueError, sgntk.train, SIGN, X, Y, xb, nets=2, steps=2, match="non-finite")
    erf = sgntk.Net.mlp(input_dim=2, activation="erf:2", width=8)
    raises(ValueError, sgntk.empirical_kernel, erf, xb, kind="ntk", match="non-finite")


def test_bad_settings():
    raises(ValueError, sgntk.Net.mlp, 2, activation="sign", sigma_w=-1.0, match="sigma_w")
    raises(ValueError, sgntk.Net.mlp, 2, activation="sign", kappa=0.0, match="kappa")
    raises(ValueError, sgntk.Net.mlp, 0, activation="sign", match="input_dim")
    raises(ValueError, sgntk.Net.mlp, 2, activation="sign", depth=1, width=8, match="depth")
    raises(ValueError, sgntk.train, SIGN, X, Y, X, lr=-0.1, nets=2, steps=2, match="learning rate")
    raises(ValueError, sgntk.train, SIGN, X, Y, X, nets=0, match="at least one network")
    raises(ValueError, sgntk.predict, SIGN, X, Y, X, lr=0.0, match="--lr must be positive")
    raises(ValueError, sgntk.predict, SIGN, X, Y, X, discrete=True, match="--discrete needs a finite")
    raises(ValueError, sgntk.predict, SIGN, X, Y, X, time=2.5, discrete=True, match="whole steps")
    raises(ValueError, sgntk.predict, SIGN, X, Y, X, time=-1.0, match="non-negative")
    raises(ValueError, sgntk.predict, SIGN, X, Y, X, time=np.nan, match="non-negative")
    raises(ValueError, sgntk.predict, SIGN, X, Y, X, kind="nngp", time=10, match="NNGP")


def test_infinite_width_networks_cannot_be_trained():
    net = sgntk.Net.mlp(input_dim=2, activation="sign")
    raises(ValueError, sgntk.train, net, X, Y, X, match="width=N")
    raises(ValueError, sgntk.empirical_kernel, net, X, match="width=N")


def test_the_singular_sign_ntk_has_no_gp():
    net = sgntk.Net.mlp(input_dim=2, activation="sign")
    raises(ValueError, sgntk.predict, net, X, Y, X, kind="ntk", match="singular")


def test_divergence_is_a_floating_point_error():
    net = sgntk.Net.mlp(input_dim=2, activation="relu", width=16)
    raises(FloatingPointError, sgntk.train, net, X * 100, Y, X, nets=2, steps=50, lr=10.0, mode="gd", match="diverged")


def test_bad_toml():
    raises(ValueError, sgntk.Net.from_toml, "input_dim = 2\nlayers = []\n", match="the TOML text")
    # a description must end in its readout Dense{n_L} (any n_L ≥ 1)
    raises(ValueError, sgntk.Net.from_toml, "input_dim = 2\nsigma_w = 1.0\nsigma_b = 0.1\nkappa = 1.0\nlayers = [{ dense = { width = 3 } }, { act = \"sign\" }]\n", match="final Dense")
    with pytest.raises(FileNotFoundError):
        sgntk.Net.from_toml("/no/such/net.toml")


def test_negative_counts_and_seeds():
    raises(ValueError, sgntk.train, SIGN, X, Y, X, nets=-1, match="nets must be ≥ 0, got -1")
    raises(ValueError, sgntk.train, SIGN, X, Y, X, steps=-5, match="steps must be ≥ 0")
    raises(ValueError, sgntk.train, SIGN, X, Y, X, seed=-1, match="seed must be an integer in \\[0, 2\\^64\\)")
    raises(ValueError, sgntk.empirical_kernel, SIGN, X, kind="nngp", nets=-2, match="nets must be ≥ 0")
    raises(ValueError, sgntk.Net.mlp, 2, activation="sign", width=-8, match="width must be ≥ 0")
    raises(ValueError, sgntk.Net.mlp, 2, activation="sign", depth=-3, match="depth must be ≥ 0")
    raises(ValueError, sgntk.paper_task, points=-1, match="points must be ≥ 0")
    # the largest seed is accepted, as on the command line
    outs, _ = sgntk.train(SIGN, X, Y, X, nets=1, steps=1, seed=2**64 - 1, progress=False)
    assert outs.shape == (1, 4, 1)


def test_non_numeric_and_empty_arrays():
    with pytest.raises(ValueError):
        sgntk.kernel(SIGN, [["a", "b"]])
    with pytest.raises(ValueError):
        sgntk.kernel(SIGN, [[1.0, 2.0], [3.0]])  # ragged
    k = sgntk.kernel(SIGN, np.zeros((0, 2)), X, kind="nngp")
    assert k.shape == (0, 4)
