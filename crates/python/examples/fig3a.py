"""Fig. 3a of the paper from Python, at the CLI's quick preset: 48 sign networks of width 200
trained by SGL (surrogate erf') for 5000 steps on 15 points vs the SG-NTK GP after the same
steps (mean ± 2σ) and the Σ (NNGP) regression. Writes fig3a.png (matplotlib, optional).

    python fig3a.py [--nets 48] [--steps 5000] [--out fig3a.png]
"""

import argparse

import numpy as np
import sgntk

p = argparse.ArgumentParser()
p.add_argument("--nets", type=int, default=48)
p.add_argument("--steps", type=int, default=5000)
p.add_argument("--out", default="fig3a.png")
a = p.parse_args()

task = sgntk.paper_task("3a", data="seeded")  # the quick preset's 15 of 100 grid points
xt, yt, x, alpha = task["x_train"], task["y_train"], task["x_test"], task["test_angles"]
net = sgntk.Net.mlp(input_dim=2, activation="sign", width=200)  # σw = 1, σb = 0.1, depth 3
outs, losses = sgntk.train(net, xt, yt, x, nets=a.nets, steps=a.steps, lr=0.1, mode="sgl", surrogate="erf-prime")
mean, std = sgntk.predict(net, xt, yt, x, kind="sgntk", time=a.steps, lr=0.1, discrete=True)
sigma_mean, _ = sgntk.predict(net, xt, yt, x, kind="nngp")
inside = np.mean(np.abs(outs[:, :, 0] - mean) <= 2 * std)
print(f"loss {losses[0]:.3f} -> {losses[-1]:.2e}; networks inside the ±2σ band: {inside:.3f}")

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib is not installed: no plot (pip install matplotlib)")
    raise SystemExit(0)
fig, ax = plt.subplots(figsize=(7, 4.6))
ax.plot(alpha, outs[:, :, 0].T, color="tab:blue", lw=0.5, alpha=0.35)
ax.fill_between(alpha, mean - 2 * std, mean + 2 * std, color="tab:orange", alpha=0.3, label="SG-NTK GP ± 2σ")
ax.plot(alpha, mean, color="tab:orange", lw=2, label="SG-NTK GP mean")
ax.plot(alpha, sigma_mean, "--", color="tab:green", lw=2, label="Σ regression")
ax.plot(alpha, task["y_test"], color="black", lw=1, label="target")
ax.scatter(task["train_angles"], yt, color="black", zorder=3, label="training points")
ax.plot([], [], color="tab:blue", lw=0.5, label=f"{a.nets} sign networks, SGL")
ax.set(xlabel="α (x = (sin α, cos α))", ylabel="output", title=f"Fig. 3a from Python: width 200, {a.steps} steps")
ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.14))
fig.tight_layout()
fig.savefig(a.out, dpi=120)
print(f"wrote {a.out}")
