"""Reference NNGP/NTK values of small CNNs from neural-tangents, for crates/ntk/tests/cnn_reference.rs.

Run:  python3 -m venv /tmp/ntvenv
      /tmp/ntvenv/bin/pip install 'jax[cpu]==0.4.26' 'neural-tangents==0.6.5' 'numpy<2'
      /tmp/ntvenv/bin/python bench/nt_conv_reference.py > crates/ntk/tests/data/nt_conv.json

Every network is NTK-parameterized (stax.Conv/Dense(..., W_std=σw, b_std=σb, parameterization='ntk')),
computed in float64 (jax_enable_x64). Inputs are NHWC (2-D) or NLC (1-D); each point is written
flattened row-major, (h, w, c) order, as sgntk reads a CSV row. `layers` is the sgntk NetSpec
layer list of the same network, so the Rust test builds it from the file.
"""
import json
import sys

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
from neural_tangents import stax  # noqa: E402

SIGMA_W = 1.3
SIGMA_B = 0.2


def act(name):
    if name == "relu":
        return stax.Relu(), {"act": "relu"}
    if name.startswith("erf:"):
        m = float(name.split(":")[1])
        return stax.Erf(a=1.0, b=m, c=0.0), {"act": name}
    raise ValueError(name)


def conv(channels, filt, padding):
    layer = stax.Conv(channels, tuple(filt), padding=padding.upper(),
                      W_std=SIGMA_W, b_std=SIGMA_B, parameterization="ntk")
    return layer, {"conv": {"channels": channels, "filter": list(filt), "padding": padding}}


def dense(width):
    layer = stax.Dense(width, W_std=SIGMA_W, b_std=SIGMA_B, parameterization="ntk")
    return layer, {"dense": {"width": width}}


def readout(name):
    if name == "flatten":
        return stax.Flatten(), "flatten"
    return stax.GlobalAvgPool(), "global-average-pool"


CASES = [
    # name, input shape (without batch), layers
    ("2d-erf-same-flatten", [4, 5, 2],
     [conv(3, [3, 2], "same"), act("erf:2"), conv(3, [2, 3], "same"), act("erf:2"),
      readout("flatten"), dense(1)]),
    ("2d-relu-valid-gap", [5, 4, 2],
     [conv(3, [2, 3], "valid"), act("relu"), conv(3, [3, 1], "valid"), act("relu"),
      readout("gap"), dense(1)]),
    ("2d-erf-circular-gap", [4, 4, 1],
     [conv(3, [3, 2], "circular"), act("erf:1"), conv(3, [2, 2], "circular"), act("erf:1"),
      readout("gap"), dense(1)]),
    ("2d-relu-same-gap", [3, 4, 2],
     [conv(3, [2, 2], "same"), act("relu"), conv(3, [3, 3], "same"), act("relu"),
      readout("gap"), dense(4), act("relu"), dense(1)]),
    ("2d-relu-circular-flatten", [4, 3, 1],
     [conv(3, [3, 2], "circular"), act("relu"), readout("flatten"), dense(1)]),
    ("1d-erf-same-gap", [6, 2],
     [conv(3, [4], "same"), act("erf:2"), conv(3, [3], "same"), act("erf:2"),
      readout("gap"), dense(1)]),
    ("1d-relu-valid-flatten", [7, 3],
     [conv(3, [3], "valid"), act("relu"), conv(3, [2], "valid"), act("relu"),
      readout("flatten"), dense(1)]),
    ("1d-erf-circular-flatten", [5, 1],
     [conv(3, [2], "circular"), act("erf:5"), conv(3, [3], "circular"), act("erf:5"),
      readout("flatten"), dense(1)]),
    ("1d-relu-same-flatten", [6, 1],
     [conv(3, [2], "same"), act("relu"), readout("flatten"), dense(3), act("relu"), dense(1)]),
]


def main():
    rng = np.random.default_rng(20261206)
    out = {
        "provenance": "neural-tangents 0.6.5, jax 0.4.26, float64; bench/nt_conv_reference.py",
        "sigma_w": SIGMA_W,
        "sigma_b": SIGMA_B,
        "cases": [],
    }
    for name, shape, layers in CASES:
        init_fn, apply_fn, kernel_fn = stax.serial(*[l for l, _ in layers])
        x = rng.standard_normal((3,) + tuple(shape))
        y = rng.standard_normal((2,) + tuple(shape))
        k = kernel_fn(x, y, ("nngp", "ntk"))
        out["cases"].append({
            "name": name,
            "input_shape": shape,
            "layers": [s for _, s in layers],
            "x": x.reshape(x.shape[0], -1).tolist(),
            "y": y.reshape(y.shape[0], -1).tolist(),
            "nngp": np.asarray(k.nngp).tolist(),
            "ntk": np.asarray(k.ntk).tolist(),
        })
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
