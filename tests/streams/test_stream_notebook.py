"""The streaming notebook runs top to bottom against a real broker: its producer's events all
land in the table exactly once, the live dashboard redraws, and the stream is stopped."""

from __future__ import annotations

import contextlib

import pytest

from dap_kernel.errors import DapError
from dap_kernel.session import Workspace
from dap_kernel.streams import read_state, stop_stream
from tests.notebooks.runner import run_notebook
from tests.streams.conftest import Broker


@pytest.mark.slow
def test_streaming_runs_top_to_bottom(
    demo_workspace: Workspace, broker: Broker, topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "DAP_HOME": str(demo_workspace.settings.home),
        "DAP_KAFKA_BOOTSTRAP": broker.bootstrap,
        "DAP_DEMO_TOPIC": topic,
    }
    try:
        text = run_notebook("streaming.ipynb", env, monkeypatch).text
    finally:  # a stream the notebook started outlives its kernel: never this test
        with contextlib.suppress(DapError):
            stop_stream(demo_workspace.settings.home, "main.clicks")
    assert "rows in clicks: 20000" in text
    redraws = int(text.split("dashboard redraws caused by new versions: ")[1].split()[0])
    assert redraws >= 2  # it redrew while the events arrived
    assert "event-to-queryable p50" in text and "main.clicks: stopped (20,000 rows" in text
    ids = demo_workspace.session().sql("SELECT count(DISTINCT id) AS d, count(*) AS n FROM clicks")
    assert ids.rows() == [(20_000, 20_000)]  # exactly once
    assert read_state(demo_workspace.settings.home, "main.clicks").status == "stopped"
