"""``dap.experiments`` sits on the governed query path, below the client, and stays cheap to
import: scipy, statsmodels and plotly load only when a number or a plot needs them."""

from __future__ import annotations

import subprocess
import sys

from tests.kernel.test_layers import import_graph


def test_experiments_know_no_client_and_the_session_knows_no_experiments() -> None:
    graph = import_graph()
    modules = [m for m in graph if m.startswith("dap_kernel.experiments")]
    assert {"dap_kernel.experiments.analysis", "dap_kernel.experiments.assignment"} <= set(modules)
    for module in modules:
        assert not graph[module] & {"dap_kernel.client", "dap_kernel.local", "dap_kernel.magics"}
    assert not graph["dap_kernel.session"] & set(modules)


def test_importing_experiments_loads_no_heavy_library() -> None:
    code = (
        "import sys, dap_kernel as dap; dap.experiments.Experiment('x'); "
        "print(sorted(m for m in ('scipy', 'statsmodels', 'plotly') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
