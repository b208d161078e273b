#!/usr/bin/env python3
"""Reference timing of the CNN ensemble of `examples/spec_ensemble_timing.rs` with JAX on the CPU
(jit, vmap over the ensemble), to compare with its "CNN, batched ensemble" row. Runs only where
JAX is installed; never in CI.

    python3 bench/jax_cnn_reference.py --nets 100 --steps 10

The network, loss and surrogate follow docs/MATH.md §1–3 and `sgntk_model::conv`: 8x8x1 images
(NHWC), conv(16, 3x3, SAME) -> sign -> conv(16, 3x3, SAME) -> sign -> flatten -> Dense{1}, NTK
parameterization (sigma_w = 1, sigma_b = 0.1; a conv's scale sigma_w / sqrt(C * 9)), sign forward,
erf' surrogate backward (custom_jvp), loss 1/(2d) sum (f - y)^2 on 15 images, learning rate 0.1,
f32. Prints ms per ensemble step (every network one step).
"""
import argparse
import math

import jax
import jax.numpy as jnp

from jax_common import paper_angles_and_target, seconds_per_ensemble_step, sgl_step, sign_sg


CHANNELS, SIDE = 16, 8


def init(key):
    k = jax.random.split(key, 6)
    n = jax.random.normal
    return [
        (n(k[0], (3, 3, 1, CHANNELS)), n(k[1], (CHANNELS,))),
        (n(k[2], (3, 3, CHANNELS, CHANNELS)), n(k[3], (CHANNELS,))),
        (n(k[4], (SIDE * SIDE * CHANNELS, 1)), n(k[5], (1,))),
    ]


def conv(h, w, b):
    fan_in = w.shape[0] * w.shape[1] * w.shape[2]
    y = jax.lax.conv_general_dilated(h, w, (1, 1), "SAME",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y / math.sqrt(fan_in) + 0.1 * b


def forward(params, x):
    (w1, b1), (w2, b2), (w3, b3) = params
    h = sign_sg(conv(x, w1, b1))
    h = sign_sg(conv(h, w2, b2))
    a = h.reshape(h.shape[0], -1)
    return (a @ w3 / math.sqrt(a.shape[-1]) + 0.1 * b3)[:, 0]


def data():
    a, y = paper_angles_and_target()
    u = jax.random.normal(jax.random.PRNGKey(1), (2, SIDE * SIDE))
    x = (jnp.sin(a)[:, None] * u[0] + jnp.cos(a)[:, None] * u[1]).reshape(15, SIDE, SIDE, 1)
    return x, y


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nets", type=int, default=100)
    p.add_argument("--steps", type=int, default=10)
    a = p.parse_args()
    x, y = data()
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}")
    s = seconds_per_ensemble_step(init, sgl_step(forward), x, y, a.nets, a.steps)
    print(f"CNN, JAX jit + vmap (E={a.nets}) {1e3 * s:10.2f} ms/step")


if __name__ == "__main__":
    main()
