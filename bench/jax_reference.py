#!/usr/bin/env python3
"""Reference timing of the same full-batch SGL training with JAX on the CPU (jit, vmap over the
ensemble), to compare with `sgntk bench`. Runs only where JAX is installed; never in CI.

    python3 bench/jax_reference.py                       # widths 100,500,1000; ensembles 1,100
    python3 bench/jax_reference.py --widths 500 --nets 1,100 --steps 20

The network, loss and surrogate follow docs/MATH.md §1–3: 2 -> n -> n -> 1, NTK parameterization
(sigma_w = 1, sigma_b = 0.1), sign activation forward, erf' surrogate backward (custom_jvp), loss
1/(2d) sum (f - y)^2 on the 15 training points of Fig. 1/2, learning rate 0.1. Prints ms per step and
GFLOP/s with the same FLOP count as `sgntk bench` (6 d sum_l n_{l-1} n_l per network, minus the
first layer's backward vector).
"""
import argparse
import math

import jax
import jax.numpy as jnp

from jax_common import paper_angles_and_target, seconds_per_ensemble_step, sgl_step, sign_sg


def init(key, width):
    k = jax.random.split(key, 6)
    n = jax.random.normal
    return [
        (n(k[0], (width, 2)), n(k[1], (width,))),
        (n(k[2], (width, width)), n(k[3], (width,))),
        (n(k[4], (1, width)), n(k[5], (1,))),
    ]


def forward(params, x):
    a = x
    for l, (w, b) in enumerate(params):
        h = a @ w.T / math.sqrt(a.shape[-1]) + 0.1 * b
        a = sign_sg(h) if l + 1 < len(params) else h
    return a[:, 0]


def data():
    a, y = paper_angles_and_target()
    return jnp.stack([jnp.sin(a), jnp.cos(a)], axis=1), y


def flops(width, d, e):
    w = [2, width, width, 1]
    total = 0.0
    for l in range(3):
        mm = 2.0 * d * w[l] * w[l + 1]
        total += 2 * mm if l == 0 else 3 * mm
    return total * e


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--widths", default="100,500,1000")
    p.add_argument("--nets", default="1,100")
    p.add_argument("--steps", type=int, default=20)
    a = p.parse_args()
    x, y = data()
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}")
    for width in map(int, a.widths.split(",")):
        for e in map(int, a.nets.split(",")):
            s = seconds_per_ensemble_step(lambda k: init(k, width), sgl_step(forward), x, y,
                                          e, a.steps)
            print(f"train step SGL (sign, erf') n={width:<5} E={e:<4} {1e3 * s:10.3f} ms "
                  f"{flops(width, 15, e) / s / 1e9:8.1f} GFLOP/s")


if __name__ == "__main__":
    main()
