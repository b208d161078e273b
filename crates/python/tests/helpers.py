"""Helpers of the sgntk Python tests: points on the circle, CSV in full precision."""

import os
import pathlib

import numpy as np
import pytest

STRICT = os.environ.get("SGNTK_PYTEST_STRICT") == "1"


def missing(reason):
    """Skips the test, or fails it under SGNTK_PYTEST_STRICT=1."""
    if STRICT:
        pytest.fail(f"{reason} (SGNTK_PYTEST_STRICT=1: required)")
    pytest.skip(reason)


def circle(angles):
    """Points (cos a, sin a) on the unit circle, one row per angle."""
    angles = np.asarray(angles, dtype=np.float64)
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def write_csv(path, m, header=None):
    """A matrix as CSV in full precision (repr round-trips every float64)."""
    lines = [",".join(header)] if header else []
    lines += [",".join(repr(float(v)) for v in row) for row in np.atleast_2d(m)]
    pathlib.Path(path).write_text("\n".join(lines) + "\n")
    return str(path)


def read_csv(path_or_text, header=False):
    """A CSV file (or text) as a float64 matrix, parsed exactly."""
    text = str(path_or_text)
    if isinstance(path_or_text, os.PathLike) or "\n" not in text:
        text = pathlib.Path(path_or_text).read_text()
    rows = [r for r in text.strip().splitlines()]
    if header:
        rows = rows[1:]
    return np.array([[float(v) for v in r.split(",")] for r in rows], dtype=np.float64)
