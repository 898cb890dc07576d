"""`pip install` makes Jupyter see both halves of DAP, enabled."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def run(*args: str) -> str:
    result = subprocess.run(
        [str(BIN / "jupyter"), *args], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)


def test_server_extension_is_enabled() -> None:
    out = run("server", "extension", "list")
    assert re.search(r"dap_server\s+enabled", out)
    assert re.search(r"dap_server\s+OK", out)


def test_lab_extension_is_enabled() -> None:
    out = run("labextension", "list")
    assert re.search(r"@dap/labextension v\S+ enabled\s+OK", out)


def test_benchmark_only_packages_stay_out_of_the_workbench() -> None:
    """JupySQL is compared against in bench/ only: its lab plugin must not load into the
    workbench `make up` serves (it threw in the browser console and added a toolbar button)."""
    from importlib.metadata import PackageNotFoundError, distribution

    assert "jupysql" not in run("labextension", "list")
    for name in ("jupysql", "jupysql-plugin"):
        try:
            distribution(name)
        except PackageNotFoundError:
            continue
        raise AssertionError(f"{name} is installed in the workbench's environment")
