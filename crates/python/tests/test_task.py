"""The paper's task: its 15 grid points of Fig. 3 (JAX PRNGKey(3), published with the paper) and
the target polynomial, recomputed here."""

import numpy as np
import pytest

import sgntk

PAPER_GRID_INDICES = [54, 69, 18, 41, 23, 50, 65, 82, 63, 3, 0, 4, 58, 79, 95]


def target(x):
    x0, x1 = x[:, 0], x[:, 1]
    return 4 * x0 * x1**2 - 0.8 * x0**3 + 1.2 * x1**2 - 0.8 * x0**2 * x1


def test_fig3_paper_points():
    task = sgntk.paper_task("Fig. 3a", data="paper")
    grid = 2 * np.pi * np.arange(100) / 100 - np.pi
    np.testing.assert_array_equal(task["test_angles"], grid)
    np.testing.assert_array_equal(task["train_angles"], grid[sorted(PAPER_GRID_INDICES)])
    a = task["train_angles"]
    np.testing.assert_allclose(task["x_train"], np.stack([np.sin(a), np.cos(a)], axis=1), rtol=0, atol=1e-15)
    np.testing.assert_allclose(task["y_train"], target(task["x_train"]), rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(task["y_test"], target(task["x_test"]), rtol=1e-14, atol=1e-14)


def test_seeded_points_depend_on_the_seed_only():
    a = sgntk.paper_task("3a", data="seeded", seed=2024)["train_angles"]
    b = sgntk.paper_task("3a", data="seeded", seed=2024)["train_angles"]
    c = sgntk.paper_task("3a", data="seeded", seed=5)["train_angles"]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    u = sgntk.paper_task("1", data="seeded", points=7)["train_angles"]
    assert u.shape == (7,) and np.all(np.diff(u) >= 0) and np.all(np.abs(u) <= np.pi)


@pytest.mark.parametrize("kwargs, match", [({"figure": "snn"}, "no regression task"), ({"figure": "9"}, "unknown figure"),
                                           ({"data": "mine"}, "unknown data source"), ({"points": 14, "data": "paper"}, "15")])
def test_bad_task_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sgntk.paper_task(**kwargs)
