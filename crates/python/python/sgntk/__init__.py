"""sgntk: surrogate gradient learning through the neural tangent kernel, from numpy.

The SG-NTK (the asymmetric NTK of networks trained with a surrogate derivative), the NTK and the
NNGP of MLPs and any network description, their infinite-width GP predictions, and GD/SGL
training of ensembles of finite networks -- computed by the Rust library ``sgntk`` (the same
numbers as its command line, bit for bit).

- ``Net.mlp`` / ``Net.from_toml``: the network;
- ``kernel``: analytic kernels; ``empirical_kernel``: those of finite networks;
- ``predict``: the GP of the trained infinite-width network;
- ``train``: an ensemble trained by SGL or GD;
- ``paper_task``: the paper's training and test points.

Example:

>>> import numpy as np, sgntk
>>> net = sgntk.Net.mlp(input_dim=2, activation="sign", width=64)
>>> angles = np.linspace(-np.pi, np.pi, 8, endpoint=False)
>>> x = np.stack([np.cos(angles), np.sin(angles)], axis=1)
>>> y = np.sin(2 * angles)
>>> mean, std = sgntk.predict(net, x, y, x, time=100, lr=0.1, discrete=True)
>>> outs, losses = sgntk.train(net, x, y, x, nets=5, steps=100, lr=0.1, progress=False)
>>> outs.shape, losses.shape
((5, 8, 1), (101,))
"""

from ._sgntk import Net, __version__, empirical_kernel, kernel, paper_task, predict, train

__all__ = ["Net", "__version__", "empirical_kernel", "kernel", "paper_task", "predict", "train"]
