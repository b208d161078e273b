"""examples/fig3a.py runs (tiny: 3 networks, 30 steps) and writes its plot when matplotlib is there."""

import importlib.util
import pathlib
import subprocess
import sys

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "fig3a.py"


def test_fig3a_example_runs(tmp_path):
    png = tmp_path / "fig3a.png"
    out = subprocess.run([sys.executable, str(EXAMPLE), "--nets", "3", "--steps", "30", "--out", str(png)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "networks inside the ±2σ band" in out.stdout
    if importlib.util.find_spec("matplotlib") is not None:
        assert png.stat().st_size > 10_000
    else:
        assert "matplotlib is not installed" in out.stdout
