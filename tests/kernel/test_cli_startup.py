"""`dap --help` stays quick: importing the CLI and printing help load none of the heavy stack.

Each check runs in a fresh interpreter, since this test process has long imported everything.
The figures themselves are measured by bench/cli_startup.py; here only what gets loaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = (
    "duckdb",
    "polars",
    "sqlglot",
    "sqlalchemy",
    "pyarrow",
    "deltalake",
    "nbformat",
    "papermill",
    "httpx",
)

# Prints the heavy modules loaded after running ARGS through the typer app in this process.
_PROBE = """
import json, sys
import dap_kernel.cli
loaded = {"import": sorted(m for m in HEAVY if m in sys.modules)}
if ARGS:
    from typer.testing import CliRunner
    result = CliRunner().invoke(dap_kernel.cli.app, ARGS)
    loaded["exit_code"] = result.exit_code
    loaded["output"] = result.output
    loaded["run"] = sorted(m for m in HEAVY if m in sys.modules)
print(json.dumps(loaded))
"""


def _probe(*args: str, env: dict[str, str] | None = None) -> dict[str, object]:
    code = f"HEAVY = {HEAVY!r}\nARGS = {list(args)!r}\n{_PROBE}"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env=env,
    )
    loaded: dict[str, object] = json.loads(out.stdout)
    return loaded


def test_importing_the_cli_loads_no_heavy_module() -> None:
    assert _probe()["import"] == []


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["--help"], "catalog"),
        (["schedule", "--help"], "Scheduled notebook reports"),
        (["catalog", "list", "--help"], "--schema"),
        (["quality", "check", "--help"], "--write-failures"),
        (["pipeline", "history", "--help"], "--limit"),
        (["archive", "set", "--help"], "--keep-days"),
    ],
)
def test_help_loads_no_heavy_module(args: list[str], shown: str) -> None:
    loaded = _probe(*args)
    assert loaded["exit_code"] == 0, loaded["output"]
    assert shown in str(loaded["output"])  # the help was really printed
    assert loaded["import"] == [] and loaded["run"] == []


def test_catalog_list_reads_the_catalog_without_the_lake_or_an_engine(
    demo_home: Path, tmp_path: Path
) -> None:
    """`dap catalog list` lists the demo's tables with the metadata database alone."""
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAP_")}
    env.update(DAP_HOME=str(home), DAP_USER="tester")
    loaded = _probe("catalog", "list", env=env)
    assert loaded["exit_code"] == 0, loaded["output"]
    assert "main.orders\tdelta" in str(loaded["output"])
    assert set(loaded["run"]) <= {"sqlalchemy"}, loaded["run"]  # type: ignore[arg-type]


def test_the_probe_sees_heavy_modules_when_they_load() -> None:
    """The check above can fail: a command that runs a query does load the engine."""
    code = f"HEAVY = {HEAVY!r}\nARGS = []\nimport dap_kernel.session\n{_PROBE}"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert {"duckdb", "polars", "sqlalchemy"} <= set(json.loads(out.stdout)["import"])
