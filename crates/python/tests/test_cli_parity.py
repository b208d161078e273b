"""The Python functions give the numbers of the `sgntk` command line: the same library calls,
so kernels and GP predictions agree to the last bit (CSV holds full precision) and trained
networks are identical, bit for bit, for the same seed."""

import subprocess

import numpy as np
import pytest

import sgntk
from helpers import circle, read_csv, write_csv

RESIDUAL = """
input_dim = 2
sigma_w = 1.0
sigma_b = 0.1
kappa = 1.0
layers = [
  { dense = { width = 12 } },
  { residual = [{ act = "sign" }, { dense = { width = 12 } }] },
  { act = "sign" },
  { dense = { width = 1 } },
]
"""

ANGLES = np.array([-2.8, -1.9, -0.7, 0.2, 0.9, 1.6, 2.6])
XT = circle(ANGLES)
YT = np.sin(2 * ANGLES) + 0.3 * np.cos(ANGLES)
XS = circle([-2.2, -0.1, 0.45, 2.9])


def run(cli, *args):
    out = subprocess.run([cli, *map(str, args)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out


@pytest.fixture
def files(tmp_path):
    train = write_csv(tmp_path / "train.csv", np.column_stack([XT, YT]), ["x0", "x1", "y"])
    test = write_csv(tmp_path / "test.csv", XS)
    net = tmp_path / "res.toml"
    net.write_text(RESIDUAL)
    return tmp_path, train, test, str(net)


@pytest.mark.parametrize(
    "kind, activation, surrogate",
    [("sgntk", "sign", "erf-prime"), ("ntk", "erf:3", "erf-prime"), ("nngp", "relu", "erf-prime"), ("sgntk", "sign", "triangle:2")],
)
def test_kernel_equals_the_cli(cli, files, kind, activation, surrogate):
    _, _, test, _ = files
    flags = ["--activation", activation, "--depth", "4", "--sigma-w", "1.1", "--sigma-b", "0.2", "--kappa", "0.9"]
    xt = write_csv(files[0] / "xt.csv", XT)
    out = run(cli, "kernel", "--kind", kind, "--surrogate", surrogate, "--x", test, "--y", xt, *flags)
    net = sgntk.Net.mlp(input_dim=2, activation=activation, depth=4, sigma_w=1.1, sigma_b=0.2, kappa=0.9)
    got = sgntk.kernel(net, XS, XT, kind=kind, surrogate=surrogate)
    np.testing.assert_array_equal(got, read_csv(out.stdout))


def test_kernel_of_a_toml_network_equals_the_cli(cli, files):
    _, _, test, net_file = files
    out = run(cli, "kernel", "--kind", "sgntk", "--net", net_file, "--x", test)
    got = sgntk.kernel(sgntk.Net.from_toml(net_file), XS, kind="sgntk")
    np.testing.assert_array_equal(got, read_csv(out.stdout))


@pytest.mark.parametrize("extra", [[], ["--time", "250", "--lr", "0.05"], ["--time", "40", "--discrete"]])
def test_predict_equals_the_cli(cli, files, extra):
    _, train, test, _ = files
    out = run(cli, "predict", "--kind", "sgntk", "--activation", "sign", "--train", train, "--test", test, *extra)
    want = read_csv(out.stdout, header=True)
    args = dict(zip(extra[::2], extra[1::2])) if "--discrete" not in extra else {"--time": "40"}
    time = float(args.get("--time", "inf"))
    lr = float(args.get("--lr", "0.1"))
    net = sgntk.Net.mlp(input_dim=2, activation="sign")
    mean, std = sgntk.predict(net, XT, YT, XS, time=time, lr=lr, discrete="--discrete" in extra)
    np.testing.assert_array_equal(mean, want[:, 0])
    np.testing.assert_array_equal(std, want[:, 1])


def cli_train(cli, files, name, *net_args, nets, steps, seed, mode="sgl", lr="0.1"):
    tmp, train, test, _ = files
    out_dir = tmp / name
    run(cli, "train", *net_args, "--mode", mode, "--nets", nets, "--steps", steps, "--seed", seed, "--lr", lr,
        "--train", train, "--test", test, "--out", out_dir)
    outputs = read_csv(out_dir / "outputs.csv", header=True)  # points × nets
    loss = read_csv(out_dir / "loss.csv", header=True)  # step, loss
    return outputs, loss


@pytest.mark.parametrize("activation, mode", [("sign", "sgl"), ("erf:2", "gd")])
def test_train_equals_the_cli_bitwise(cli, files, activation, mode):
    outputs, loss = cli_train(cli, files, f"mlp-{mode}", "--activation", activation, "--width", "40",
                              nets=5, steps=120, seed=7, mode=mode)
    net = sgntk.Net.mlp(input_dim=2, activation=activation, width=40)
    outs, losses = sgntk.train(net, XT, YT, XS, nets=5, steps=120, lr=0.1, mode=mode, seed=7, progress=False)
    assert outs.shape == (5, 4, 1) and losses.shape == (121,)
    np.testing.assert_array_equal(outs[:, :, 0].T, outputs)
    np.testing.assert_array_equal(losses, loss[:, 1])
    np.testing.assert_array_equal(loss[:, 0], np.arange(121))
    # a different seed gives different networks
    other, _ = sgntk.train(net, XT, YT, XS, nets=5, steps=120, lr=0.1, mode=mode, seed=8, progress=False)
    assert not np.array_equal(other, outs)


def test_multi_output_training_equals_the_cli_bitwise(cli, files):
    # three targets: the MLP of the flags gets three outputs (the CLI's --targets 3)
    tmp, _, test, _ = files
    y3 = np.column_stack([YT, np.cos(ANGLES), -0.5 * YT])
    train3 = write_csv(tmp / "train3.csv", np.column_stack([XT, y3]), ["x0", "x1", "y0", "y1", "y2"])
    out_dir = tmp / "mlp3"
    run(cli, "train", "--activation", "sign", "--width", "24", "--mode", "sgl", "--nets", 3, "--steps", 40,
        "--seed", 5, "--lr", "0.1", "--train", train3, "--targets", 3, "--test", test, "--out", out_dir)
    header = (out_dir / "outputs.csv").read_text().splitlines()[0].split(",")
    outputs = read_csv(out_dir / "outputs.csv", header=True)  # points × (nets · outputs)
    loss = read_csv(out_dir / "loss.csv", header=True)
    net = sgntk.Net.mlp(input_dim=2, activation="sign", width=24)
    outs, losses = sgntk.train(net, XT, y3, XS, nets=3, steps=40, lr=0.1, seed=5, progress=False)
    assert outs.shape == (3, 4, 3)
    for col, name in enumerate(header):
        i, j = (int(v) for v in name.removeprefix("net_").split("_out_"))
        np.testing.assert_array_equal(outs[i, :, j], outputs[:, col])
    assert len(header) == 9
    np.testing.assert_array_equal(losses, loss[:, 1])
    # the outputs are not copies of one another
    assert not np.array_equal(outs[:, :, 0], outs[:, :, 1])


def test_train_of_a_toml_network_equals_the_cli_bitwise(cli, files):
    _, _, _, net_file = files
    outputs, loss = cli_train(cli, files, "res", "--net", net_file, nets=2, steps=15, seed=3)
    outs, losses = sgntk.train(sgntk.Net.from_toml(net_file), XT, YT, XS, nets=2, steps=15, seed=3, progress=False)
    np.testing.assert_array_equal(outs[:, :, 0].T, outputs)
    np.testing.assert_array_equal(losses, loss[:, 1])


def test_empirical_kernel_equals_the_cli(cli, files):
    _, _, test, net_file = files
    out = run(cli, "kernel", "--kind", "ntk", "--activation", "erf:2", "--empirical", "--width", "24", "--nets", "3",
              "--seed", "5", "--x", test)
    net = sgntk.Net.mlp(input_dim=2, activation="erf:2", width=24)
    got = sgntk.empirical_kernel(net, XS, kind="ntk", nets=3, seed=5, progress=False)
    np.testing.assert_array_equal(got, read_csv(out.stdout))
    per_net = sgntk.empirical_kernel(net, XS, kind="ntk", nets=3, seed=5, per_net=True, progress=False)
    assert per_net.shape == (3, 4, 4)
    np.testing.assert_allclose(per_net.mean(axis=0), got, rtol=1e-14)
    # any network: per-sample Jacobians (the SG-NTK needs φ', so erf here), or f(x) f(y)ᵀ
    erf_file = files[0] / "res-erf.toml"
    erf_file.write_text(RESIDUAL.replace('"sign"', '"erf:2"'))
    for kind, path in [("sgntk", erf_file), ("nngp", net_file)]:
        out = run(cli, "kernel", "--kind", kind, "--net", path, "--empirical", "--nets", "2", "--seed", "1", "--x", test)
        got = sgntk.empirical_kernel(sgntk.Net.from_toml(path), XS, kind=kind, nets=2, seed=1, progress=False)
        np.testing.assert_array_equal(got, read_csv(out.stdout))


def test_unknown_spec_strings_give_the_clis_message(cli, files):
    _, _, test, _ = files
    out = subprocess.run([cli, "kernel", "--kind", "ntk", "--activation", "erf:2", "--surrogate", "wiggle", "--x", test],
                         capture_output=True, text=True)
    assert out.returncode == 2
    with pytest.raises(ValueError) as e:
        sgntk.kernel(sgntk.Net.mlp(input_dim=2, activation="erf:2"), XS, kind="ntk", surrogate="wiggle")
    assert str(e.value) in out.stderr
