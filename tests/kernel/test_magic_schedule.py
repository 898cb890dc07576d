"""`%dap schedule` in a notebook: schedule this notebook, run it now, see its runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import polars as pl
import pytest
from IPython.core.error import UsageError

from tests.reports import notebook

pytestmark = pytest.mark.slow


def test_schedule_this_notebook_and_run_it(shell: Any, tmp_path: Path) -> None:
    path = tmp_path / "weekly.ipynb"
    nbformat.write(nbformat.from_dict(notebook("print('hello', region)")), path)
    shell.user_ns["__session__"] = str(path)  # what ipykernel sets in a Jupyter kernel
    schedule_id = shell.run_line_magic("dap", 'schedule add --cron "0 8 * * 1" -p region=APAC')
    assert isinstance(schedule_id, str) and schedule_id.startswith("s")
    runs = shell.run_line_magic("dap", f"schedule run {schedule_id}")
    assert isinstance(runs, pl.DataFrame)
    assert runs["status"].to_list() == ["succeeded"]
    listed = shell.run_line_magic("dap", "schedule list")
    assert listed["name"].to_list() == ["weekly"]
    assert shell.run_line_magic("dap", f"schedule history {schedule_id}").height == 1


def test_no_notebook_and_bad_forms_are_one_line(shell: Any) -> None:
    shell.user_ns.pop("__session__", None)
    with pytest.raises(UsageError, match="this kernel has no notebook"):
        shell.run_line_magic("dap", "schedule add --cron '0 8 * * 1'")
    with pytest.raises(UsageError, match="unknown command 'explode'"):
        shell.run_line_magic("dap", "schedule explode s1")
    with pytest.raises(UsageError, match="no schedule nope of yours"):
        shell.run_line_magic("dap", "schedule history nope")
