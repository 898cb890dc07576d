"""``%dap stream`` and ``dap.streams``: the notebook's doors to streams, on the same core."""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from dap_kernel import streams
from dap_kernel.local import LocalClient
from dap_kernel.magics import DapMagics
from dap_kernel.session import Workspace
from dap_kernel.streams.supervisor import shared
from tests.streams.conftest import Broker
from tests.streams.helpers import produce, table_frame
from tests.streams.test_stream_supervised import wait_for


@pytest.fixture
def ip(workspace: Workspace) -> Iterator[InteractiveShell]:
    shell = InteractiveShell.instance()
    shell.register_magics(DapMagics(shell=shell, session_factory=workspace.session))
    shell.user_ns.clear()
    yield shell
    InteractiveShell.clear_instance()
    shared(workspace.settings).close(stop_streams=True)


def test_start_watch_and_stop_from_a_notebook(
    ip: InteractiveShell,
    workspace: Workspace,
    broker: Broker,
    topic: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    produce(broker.bootstrap, topic, ({"id": i, "page": "/"} for i in range(300)))

    ip.run_line_magic(
        "dap",
        f"stream start clicks --topic {topic} --bootstrap {broker.bootstrap} --batch-seconds 0.2",
    )

    assert "main.clicks: running" in capsys.readouterr().out
    wait_for(lambda: _rows(workspace) == 300, message="300 rows")
    frame = ip.run_line_magic("dap", "stream status")
    assert isinstance(frame, pl.DataFrame) and frame["stream"].to_list() == ["main.clicks"]
    wait_for(lambda: streams.get("clicks", session=LocalClient(workspace.session())).rows == 300)
    one = ip.run_line_magic("dap", "stream status clicks")
    assert one["rows"] == 300 and one["status"] == "running"
    # the Python API and the magic answer alike: one core
    same = streams.status(session=LocalClient(workspace.session()))
    assert same["rows"].to_list() == [300]
    ip.run_line_magic("dap", "stream stop clicks")
    assert "main.clicks: stopped (300 rows" in capsys.readouterr().out


def _rows(ws: Workspace) -> int:
    try:
        return table_frame(ws, "main.clicks").height
    except Exception:  # not created yet
        return 0


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("stream", "say start, status, stop"),
        ("stream begin", "say start, status, stop"),
        ("stream start clicks", "--topic"),
        ("stream start clicks --topic t", "--bootstrap HOST:PORT or --connector NAME"),
        ("stream start clicks --topic t --bootstrap b:1 --connector c", "not both"),
        ("stream stop", "name the stream"),
        ("stream status nope", "no stream named main.nope"),
        ("stream stop nope", "no stream named main.nope"),
    ],
)
def test_mistakes_are_one_line(ip: InteractiveShell, line: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        ip.run_line_magic("dap", line)
    assert "\n" not in str(caught.value)
