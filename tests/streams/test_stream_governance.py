"""A stream writes like any other door: CREATE on the schema for a new table, MODIFY on an
existing one, checked before every commit; another writer's offsets stop it from overwriting."""

from __future__ import annotations

import threading
import time

import pyarrow as pa
import pytest

from dap_kernel.errors import QueryRefused
from dap_kernel.governance.identity import Principal
from dap_kernel.session import Workspace
from dap_kernel.streams import Decoded, Event, OffsetsMoved, StreamRunner, StreamSink, StreamSpec
from dap_kernel.streams import decode as decode_events
from tests.streams.conftest import Broker
from tests.streams.helpers import produce, table_frame


def _multi_user(ws: Workspace) -> None:
    admin = ws.admin("tester")
    admin.set_multi_user(True)
    admin.add_user("ann", {"region": "EMEA"})


def test_no_stream_into_a_new_table_without_create(
    workspace: Workspace, broker: Broker, topic: str
) -> None:
    _multi_user(workspace)
    spec = StreamSpec(bootstrap=broker.bootstrap, topic=topic, table="main.sneaky")
    runner = StreamRunner(workspace.session(Principal(name="ann", source="test")), spec)
    with pytest.raises(QueryRefused):
        runner.run()
    assert "main.sneaky" not in workspace.catalog.known_names()


def test_a_revoked_grant_stops_the_stream_at_its_next_batch(
    workspace: Workspace, broker: Broker, topic: str
) -> None:
    _multi_user(workspace)
    workspace.catalog.create_table("main.feed", pa.schema([("id", pa.int64())]).empty_table())
    admin = workspace.admin("tester")
    admin.grant("MODIFY", "main.feed", "user", "ann")
    spec = StreamSpec(bootstrap=broker.bootstrap, topic=topic, table="main.feed")
    runner = StreamRunner(workspace.session(Principal(name="ann", source="test")), spec)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            runner.run()
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        produce(broker.bootstrap, topic, [{"id": i} for i in range(30)])
        deadline = time.monotonic() + 60
        while runner.state.rows < 30 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert runner.state.rows == 30
        admin.revoke("MODIFY", "main.feed", "user", "ann")
        produce(broker.bootstrap, topic, [{"id": i} for i in range(30, 60)])
        thread.join(30)
    finally:
        runner.stop()
        thread.join(10)
    assert errors and isinstance(errors[0], QueryRefused)
    assert runner.state.status == "failed"
    assert sorted(table_frame(workspace, "main.feed")["id"].to_list()) == list(range(30))


def test_offsets_another_writer_committed_are_never_overwritten(workspace: Workspace) -> None:
    # Given a table where this stream believes partition 0 stands at offset 9
    workspace.catalog.create_table("main.fenced", pa.schema([("id", pa.int64())]).empty_table())
    spec = StreamSpec(bootstrap="127.0.0.1:1", topic="t", table="main.fenced")
    sink = StreamSink(workspace.session(), spec)

    def batch(first: int, n: int) -> tuple[Decoded, dict[int, int]]:
        events = [Event(0, o, f'{{"id": {o}}}'.encode()) for o in range(first, first + n)]
        decoded, _ = decode_events(events, topic="t", format="json", schema=sink.schema())
        return decoded, {0: first + n - 1}

    rows, last = batch(0, 10)
    assert sink.commit(rows, last, {0: None}).offsets == {0: 9}
    # When another process (a zombie of this stream) commits offsets 10..19
    other = StreamSink(workspace.session(), spec)
    rows, last = batch(10, 10)
    other.commit(rows, last, {0: 9})
    # Then this one's commit of the same offsets is refused, and nothing is written twice
    rows, last = batch(10, 5)
    with pytest.raises(OffsetsMoved):
        sink.commit(rows, last, {0: 9})
    assert sink.offsets([0]) == {0: 19}
    assert sorted(table_frame(workspace, "main.fenced")["id"].to_list()) == list(range(20))
