"""The forecasting notebook runs top to bottom on the demo data in a real kernel."""

from __future__ import annotations

import pytest

from dap_kernel.session import Workspace
from tests.notebooks.runner import run_notebook


@pytest.mark.slow
def test_forecast_runs_top_to_bottom(
    demo_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = run_notebook(
        "forecast.ipynb", {"DAP_HOME": str(demo_workspace.settings.home)}, monkeypatch
    )
    text, plots = run.text, run.plots
    assert "ETS(" in text and "history: 730 days" in text
    fetched = int(text.split("rows fetched: ")[1].split()[0])
    assert fetched <= 730  # one row per day with orders came back, not one per order
    assert "coverage" in text and "seasonal naive MAE" in text
    assert "ARIMA(" in text and "forecast of SELECT o.order_ts" in text
    assert len(plots) >= 2  # the forecast and the backtest are drawn
