"""Every fenced block of README.md runs as written on the demo data (issue 20, item 5).

One IPython shell per README section runs its Python blocks and ``%%dap sql`` cells in order;
shell blocks run in bash with the same DAP_HOME and a temp working folder (so nothing is
written in the checkout). What a block may not do here (start a server, reach Kafka) is marked
in the README right before it (see :mod:`tests.docs.readme_blocks`). The quickstart notebook is
executed by ``tests/notebooks/test_quickstart.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dap_kernel.session import reset_default_workspace
from tests.docs.readme_blocks import Runner, Section, sections

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
SECTIONS = sections(README)
# What a reader's checkout has that the shell blocks name by relative path.
CHECKOUT_FOLDERS = ("notebooks", "pipelines")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def readme_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`dap init && dap demo --scale 0.01`: the tables, rules, derived table and dashboard a
    reader has after the tour's first commands."""
    home = tmp_path_factory.mktemp("readme") / "dap-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAP_")}
    env.update({"DAP_HOME": str(home), "DAP_USER": "tester"})
    dap = str(Path(sys.executable).parent / "dap")
    for args in (["init"], ["demo", "--scale", "0.01"]):
        subprocess.run([dap, *args], env=env, check=True, capture_output=True)
    return home


@pytest.fixture
def runner(readme_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runner]:
    from IPython.core.interactiveshell import InteractiveShell

    home = tmp_path / "dap-home"  # the DAP_HOME the autouse fixture set
    shutil.copytree(readme_home, home)
    work = tmp_path / "work"
    work.mkdir()
    (work / ".venv").symlink_to(Path(sys.executable).parent.parent)  # `.venv/bin/dap`
    for name in CHECKOUT_FOLDERS:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, work / name)
    monkeypatch.chdir(work)
    monkeypatch.setenv("DAP_HOME", str(home))
    reset_default_workspace()
    InteractiveShell.clear_instance()  # a fresh namespace per section
    shell = InteractiveShell.instance()
    yield Runner(shell, work, dict(os.environ))
    InteractiveShell.clear_instance()
    reset_default_workspace()


def _tour(ns: dict[str, Any], work: Path) -> None:
    import polars as pl

    revenue = ns["revenue"]
    assert isinstance(revenue, pl.DataFrame) and revenue.height > 0
    assert set(revenue.columns) == {"country", "revenue"}


def _charts(ns: dict[str, Any], work: Path) -> None:
    import plotly.graph_objects as go

    assert isinstance(ns["fig"], go.Figure)
    assert ns["fig"].data[0].type == "bar"
    assert (work / "orders.xlsx").stat().st_size > 0


def _stats(ns: dict[str, Any], work: Path) -> None:
    from dap_kernel.stats import Backtest, Forecast

    assert isinstance(ns["f"], Forecast)
    assert isinstance(ns["bt"], Backtest)
    assert 0 <= ns["bt"].coverage <= 1


# Outcomes checked after a section ran, beyond "nothing raised".
OUTCOMES: dict[str, Callable[[dict[str, Any], Path], None]] = {
    "A short tour": _tour,
    "Charts and exports": _charts,
    "Statistics": _stats,
}


def test_readme_has_blocks_and_outcomes() -> None:
    titles = {s.title for s in SECTIONS}
    assert sum(len(s.blocks) for s in SECTIONS) >= 15
    assert set(OUTCOMES) <= titles  # a renamed section does not lose its checks silently
    for section in SECTIONS:
        for block in section.blocks:
            assert block.skip is None or block.skip.strip(), block.where


@pytest.mark.parametrize("section", SECTIONS, ids=[s.title for s in SECTIONS])
def test_section_runs(section: Section, runner: Runner) -> None:
    if all(b.skip for b in section.blocks):
        pytest.skip("; ".join(sorted({b.skip for b in section.blocks if b.skip})))
    for block in section.blocks:
        runner.run(block)
    if check := OUTCOMES.get(section.title):
        check(runner.shell.user_ns, runner.cwd)
