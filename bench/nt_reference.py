#!/usr/bin/env python3
"""Reference timing of analytic NTKs with neural-tangents, to compare with `sgntk bench
--analytic-only` (its rows `analytic NTK 1000x1000 (…)`). Runs only where neural-tangents is
installed; never in CI.

    python3 bench/nt_reference.py                          # 1000 points, best of 5
    python3 bench/nt_reference.py --sgntk target/release/sgntk   # also check the values

The networks follow docs/MATH.md §1 and §5: depth 3 (Dense -> phi -> Dense -> phi -> Dense(1)),
NTK parameterization, sigma_w = 1, sigma_b = 0.1 (stax.Dense(..., W_std=1, b_std=0.1,
parameterization='ntk')), phi = erf (stax.Erf(a=1, b=1, c=0), sgntk's `erf`), ReLU (stax.Relu)
and sign (stax.Sign), in float64 (jax_enable_x64). The points are sgntk bench's: 1000 points
(sin a, cos a) on the unit circle, a = 2 pi i / 1000 - pi. Timed is the jitted kernel_fn(x, x,
'ntk') alone (compute only: after a warm-up call that compiles it, each call ends with
block_until_ready; the best of --reps calls). With --sgntk, `sgntk kernel --kind ntk` writes the
same matrices as .npy and the largest relative difference is printed. neural-tangents' stax.Sign
takes the derivative of sign to be 0, so its "NTK" of a sign network is another kernel than the
paper's (sgntk's: sign' = 2 delta, +inf on the diagonal, docs/MATH.md section 5): for sign the
NNGPs are compared instead (both `nngp`), while the timing is of neural-tangents' sign NTK.
"""
import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
import types

import jax

jax.config.update("jax_enable_x64", True)
# neural-tangents imports its TensorFlow interop on import; stax does not need it (as in
# crates/python/tests/test_neural_tangents.py)
if importlib.util.find_spec("tensorflow") is None:
    sys.modules.setdefault("neural_tangents.experimental",
                           types.ModuleType("neural_tangents.experimental"))

import numpy as np  # noqa: E402
from neural_tangents import stax  # noqa: E402

SIGMA_W = 1.0
SIGMA_B = 0.1


def activations():
    acts = {"erf": stax.Erf(a=1.0, b=1.0, c=0.0), "relu": stax.Relu()}
    if hasattr(stax, "Sign"):
        acts["sign"] = stax.Sign()
    else:
        print("stax.Sign does not exist in this neural-tangents: no sign row")
    return acts


def network(phi):
    dense = lambda n: stax.Dense(n, W_std=SIGMA_W, b_std=SIGMA_B, parameterization="ntk")
    return stax.serial(dense(512), phi, dense(512), phi, dense(1))


def points(n):
    a = 2.0 * np.pi * np.arange(n) / n - np.pi
    return np.stack([np.sin(a), np.cos(a)], axis=1)


def best_of(reps, f):
    f()  # compile
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--points", type=int, default=1000)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--sgntk", help="an sgntk binary: check its kernels against these")
    a = p.parse_args()
    x = jax.numpy.asarray(points(a.points))
    print(f"jax {jax.__version__}, devices {jax.devices()}, {a.points} points, float64")
    for name, phi in activations().items():
        _, _, kernel_fn = network(phi)
        kfn = jax.jit(lambda x1, x2, kernel_fn=kernel_fn: kernel_fn(x1, x2, "ntk"))
        s = best_of(a.reps, lambda: kfn(x, x).block_until_ready())
        print(f"neural-tangents NTK {a.points}x{a.points} ({name}): {1e3 * s:.3f} ms")
        if a.sgntk:
            # sign: the NNGPs (neural-tangents' sign NTK uses sign' = 0, see above)
            kind = "nngp" if name == "sign" else "ntk"
            k_nt = np.asarray(jax.jit(lambda x1, x2: kernel_fn(x1, x2, kind))(x, x))
            with tempfile.TemporaryDirectory() as d:
                xf, kf = os.path.join(d, "x.npy"), os.path.join(d, "k.npy")
                np.save(xf, np.asarray(x))
                subprocess.run([a.sgntk, "kernel", "--kind", kind, "--activation", name,
                                "--sigma-w", str(SIGMA_W), "--sigma-b", str(SIGMA_B),
                                "--depth", "3", "--x", xf, "--out", kf], check=True)
                k_sg = np.load(kf)
            both_inf = np.isinf(k_nt) & np.isinf(k_sg) & (np.sign(k_nt) == np.sign(k_sg))
            finite = ~both_inf
            rel = np.abs(k_nt - k_sg) / np.maximum(np.abs(k_nt), 1e-300)
            rel[both_inf] = 0.0
            off = ~np.eye(len(rel), dtype=bool)
            # on the diagonal x = x' (correlation 1) arcsin/arccos formulas are ill-conditioned:
            # there the rounding of either library shows (sgntk's sign NNGP is exactly
            # 1 + sigma_b^2 there, neural-tangents' off by up to 1e-4)
            print(f"  sgntk vs neural-tangents ({kind}): max rel diff {rel.max():.2e} "
                  f"({rel[off].max():.2e} off the diagonal), "
                  f"{int(both_inf.sum())} entries +-inf in both")


if __name__ == "__main__":
    main()
