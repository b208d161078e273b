"""What users expect of the package beyond the numbers: the GIL is released during computation,
Ctrl-C stops a long train within a second, a progress bar on stderr that progress=False turns
off, docstrings with a working example on every function, type stubs, __version__."""

import doctest
import importlib.metadata
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import sgntk
from helpers import circle

X = circle(np.linspace(-3, 3, 15))
Y = np.sin(2 * np.linspace(-3, 3, 15))
PUBLIC = [sgntk.Net, sgntk.Net.mlp, sgntk.Net.from_toml, sgntk.kernel, sgntk.predict, sgntk.train, sgntk.empirical_kernel,
          sgntk.paper_task]


def test_version_is_the_packages():
    assert sgntk.__version__ == importlib.metadata.version("sgntk")


@pytest.mark.parametrize("obj", PUBLIC + [sgntk], ids=lambda o: getattr(o, "__name__", str(o)))
def test_every_docstring_has_a_working_example(obj):
    doc = obj.__doc__
    assert doc and ">>>" in doc, f"{obj} has no example"
    tests = doctest.DocTestFinder(recurse=False).find(obj, getattr(obj, "__name__", "sgntk"), globs={})
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for t in tests:
        runner.run(t)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_signatures_are_introspectable():
    import inspect

    params = inspect.signature(sgntk.train).parameters
    assert list(params)[:4] == ["net", "x_train", "y_train", "x_test"]
    assert params["nets"].default == 10 and params["mode"].default == "sgl" and params["progress"].default is True
    assert inspect.signature(sgntk.predict).parameters["time"].default == float("inf")


def test_type_stubs_are_installed():
    pkg = pathlib.Path(sgntk.__file__).parent
    assert (pkg / "py.typed").is_file()
    stub = (pkg / "__init__.pyi").read_text()
    for name in ["class Net", "def kernel", "def predict", "def train", "def empirical_kernel", "__version__"]:
        assert name in stub


def test_the_gil_is_released_during_training():
    """A Python thread keeps running while another trains (it could not with the GIL held)."""
    net = sgntk.Net.mlp(input_dim=2, activation="sign", width=128)
    done = threading.Event()
    ticks = 0

    def work():
        sgntk.train(net, X, Y, X, nets=8, steps=300, progress=False)
        done.set()

    t = threading.Thread(target=work)
    t.start()
    started = time.monotonic()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    elapsed = time.monotonic() - started
    t.join()
    print(f"{ticks} ticks in {elapsed:.2f} s of training")
    assert elapsed > 0.05, "training too short to tell"
    # with the GIL held this loop would run once or twice; released, about every millisecond
    assert ticks > 0.2 * elapsed / 0.001, (ticks, elapsed)


CHILD = textwrap.dedent(
    """
    import sys, time, numpy as np, sgntk
    a = np.linspace(-3, 3, 15)
    x = np.stack([np.cos(a), np.sin(a)], axis=1)
    net = sgntk.Net.mlp(input_dim=2, activation="sign", width=128)
    print("training", flush=True)
    try:
        sgntk.train(net, x, np.sin(2 * a), x, nets=8, steps=10**8, progress={progress})
    except KeyboardInterrupt:
        print("interrupted", time.monotonic(), flush=True)
        sys.exit(0)
    print("finished", flush=True)
    """
)


def interactive_child(script, **kwargs):
    """`python -c script` with SIGINT handled as in a terminal: a shell that starts a job in the
    background (a CI runner, `cmd &`) makes it ignore SIGINT, and its children inherit that."""
    restore = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    return subprocess.Popen([sys.executable, "-c", script], preexec_fn=restore, text=True, **kwargs)


def test_ctrl_c_interrupts_a_long_train_within_a_second():
    child = interactive_child(CHILD.format(progress=False), stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline().strip() == "training"
        time.sleep(1.0)  # well into training
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, _ = child.communicate(timeout=30)
    finally:
        child.kill()
    words = out.split()
    assert words[0] == "interrupted", out
    latency = float(words[1]) - sent  # CLOCK_MONOTONIC is one clock for all processes
    print(f"Ctrl-C latency {latency * 1000:.0f} ms")
    assert 0 <= latency < 1.0, latency


def run_on_a_terminal(progress):
    """Runs a short train with stderr on a pseudo-terminal; returns what it drew there."""
    import pty

    script = CHILD.format(progress=progress).replace("10**8", "300")
    leader, follower = pty.openpty()
    child = interactive_child(script, stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    out, _ = child.communicate(timeout=120)
    os.close(leader)
    assert "finished" in out
    return drawn.decode(errors="replace")


def test_progress_bar_on_a_terminal_and_none_with_progress_false():
    assert "training steps" in run_on_a_terminal(True)
    assert run_on_a_terminal(False) == ""
