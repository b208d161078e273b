"""What the JAX reference scripts share (docs/MATH.md §1–3): the sign activation with the erf'
surrogate in its backward pass, the loss 1/(2d) sum (f - y)^2 and one full-batch step of
learning rate 0.1, the paper's 15 training angles and target, and the timing of a jitted,
vmapped ensemble step."""
import math
import time

import jax
import jax.numpy as jnp


@jax.custom_jvp
def sign_sg(z):
    return jnp.sign(z)


@sign_sg.defjvp
def _sign_sg_jvp(primals, tangents):
    (z,), (dz,) = primals, tangents
    return jnp.sign(z), 2.0 / math.sqrt(math.pi) * jnp.exp(-z * z) * dz


def sgl_step(forward):
    """One full-batch step params - 0.1 * grad L of the loss L = 1/(2d) sum (forward - y)^2."""
    def loss(params, x, y):
        r = forward(params, x) - y
        return 0.5 * jnp.mean(r * r)

    def step(params, x, y):
        g = jax.grad(loss)(params, x, y)
        return jax.tree_util.tree_map(lambda p, q: p - 0.1 * q, params, g)

    return step


def paper_angles_and_target():
    """The 15 training angles of Fig. 1/2 and the target f(sin a, cos a)."""
    a = jnp.linspace(-math.pi, math.pi, 15, endpoint=False) + 0.1
    x0, x1 = jnp.sin(a), jnp.cos(a)
    return a, 4 * x0 * x1**2 - 0.8 * x0**3 + 1.2 * x1**2 - 0.8 * x0**2 * x1


def seconds_per_ensemble_step(init, step, x, y, nets, steps):
    """Seconds per step of `nets` networks `init(key)` trained together (jit + vmap), after a
    compiling warm-up step."""
    keys = jax.random.split(jax.random.PRNGKey(0), nets)
    params = jax.vmap(init)(keys)
    train = jax.jit(jax.vmap(step, in_axes=(0, None, None)))
    params = jax.block_until_ready(train(params, x, y))
    t = time.perf_counter()
    for _ in range(steps):
        params = train(params, x, y)
    jax.block_until_ready(params)
    return (time.perf_counter() - t) / steps
