"""Shared fixtures of the sgntk Python tests.

``SGNTK_CLI`` names the ``sgntk`` binary the parity tests compare with (.ci/run sets it to the
test build's); without it they look in the workspace's target directory. ``SGNTK_PYTEST_STRICT=1``
(set by .ci/run) turns a missing binary or a missing neural-tangents into a failure instead of a
skip, so CI cannot pass without running them.
"""

import os
import pathlib
import shutil

import pytest

from helpers import missing

REPO = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def cli():
    """Path of the ``sgntk`` command-line binary."""
    candidates = [os.environ.get("SGNTK_CLI")]
    target = os.environ.get("CARGO_TARGET_DIR")
    for base in [target, REPO / "target"]:
        if base:
            candidates += [pathlib.Path(base) / "debug" / "sgntk", pathlib.Path(base) / "release" / "sgntk"]
    candidates.append(shutil.which("sgntk"))
    for c in candidates:
        if c and pathlib.Path(c).is_file():
            return str(c)
    missing("no sgntk binary: set SGNTK_CLI (cargo build builds target/debug/sgntk)")
