"""Events on a topic become rows of a lake table, each exactly once; bad ones are quarantined."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pytest

from dap_kernel.quarantine import quarantine_name
from dap_kernel.session import Workspace
from dap_kernel.streams import StreamSpec, app_id, parse_schema, read_state
from tests.streams.conftest import Broker
from tests.streams.helpers import produce, rows_at_least, run_until, table_frame


def _spec(broker: Broker, topic: str, table: str = "main.clicks", **kw: object) -> StreamSpec:
    return StreamSpec(bootstrap=broker.bootstrap, topic=topic, table=table, **kw)  # type: ignore[arg-type]


def test_events_become_exactly_those_rows(workspace: Workspace, broker: Broker, topic: str) -> None:
    # Given 3,000 click events on a topic of three partitions
    events = [{"id": i, "page": f"/p/{i % 7}", "ms": i * 1.5} for i in range(3000)]
    produce(broker.bootstrap, topic, events)
    # When a stream runs until it has read them all
    summary = run_until(workspace, _spec(broker, topic), rows_at_least(3000))
    # Then the table holds exactly those events, once each, with their types
    frame = table_frame(workspace, "main.clicks")
    assert sorted(frame["id"].to_list()) == list(range(3000))
    assert frame.schema == {"id": pl.Int64, "page": pl.String, "ms": pl.Float64}
    assert summary.quarantined == 0
    # and its state reports the last minute: events/s and event-to-queryable percentiles
    state = read_state(workspace.settings.home, "main.clicks")
    assert state.events_per_s is not None and state.events_per_s > 0
    assert state.latency_p50_ms is not None and state.latency_p99_ms is not None
    assert 0 < state.latency_p50_ms <= state.latency_p99_ms < 60_000
    assert state.batch_p50_ms is not None and state.batch_p50_ms > 0
    # and the catalog knows the table, its version and row count (queryable at once)
    info = workspace.catalog.get("main.clicks")
    assert info.version == workspace.lake.version("main", "clicks")
    assert info.row_count == 3000
    assert "stream" in info.tags and info.owner == "tester"
    got = workspace.session().sql("SELECT count(*) AS n, count(DISTINCT id) AS d FROM clicks")
    assert got.rows() == [(3000, 3000)]
    # and the offsets it holds are the last of each partition (1,000 events each)
    from deltalake import DeltaTable

    dt = DeltaTable(str(workspace.lake.path("main", "clicks")))
    assert [dt.transaction_version(app_id("main.clicks", topic, p)) for p in range(3)] == [
        999,
        999,
        999,
    ]


def test_malformed_events_go_to_the_quarantine_with_partition_and_offset(
    workspace: Workspace, broker: Broker, topic: str
) -> None:
    # Given a table of typed columns and a topic where some events do not fit it
    workspace.catalog.create_table(
        "main.orders", pa.schema([("id", pa.int64()), ("amount", pa.float64())]).empty_table()
    )
    values: list[str] = []
    for i in range(300):
        if i % 50 == 7:
            values.append("{not json")
        elif i % 50 == 8:
            values.append('{"id": "eight", "amount": 1}')
        elif i % 50 == 9:
            values.append('{"id": 9, "amount": 2, "surprise": true}')
        else:
            values.append(f'{{"id": {i}, "amount": {i / 2}}}')
    produce(broker.bootstrap, topic, values)
    # When the stream reads them all
    run_until(workspace, _spec(broker, topic, "main.orders"), rows_at_least(300))
    # Then the good ones are rows and each bad one is in the quarantine, once, with where it was
    good = table_frame(workspace, "main.orders")
    assert good.height == 300 - 18
    bad = table_frame(workspace, quarantine_name("main.orders")).sort("_dap_source", "_dap_line")
    assert bad.height == 18
    expected = sorted((f"kafka:{topic}/{i % 3}", i // 3) for i in range(300) if i % 50 in (7, 8, 9))
    assert list(zip(bad["_dap_source"], bad["_dap_line"], strict=True)) == expected
    reasons = set(bad["_dap_reason"].to_list())
    assert any(r.startswith("not valid JSON") for r in reasons)
    assert any("column id" in r for r in reasons)
    assert any("surprise" in r for r in reasons)
    assert "{not json" in bad["_dap_record"].to_list()


def test_quality_rules_of_the_table_quarantine_failing_events(
    workspace: Workspace, broker: Broker, topic: str
) -> None:
    from dap_kernel.quality.store import QualityStore

    workspace.catalog.create_table(
        "main.pay", pa.schema([("id", pa.int64()), ("amount", pa.float64())]).empty_table()
    )
    QualityStore(workspace.meta).set_rules(
        "main.pay", [{"range": {"column": "amount", "min": 0}}, {"not_null": "id"}]
    )
    values = [{"id": i, "amount": -1.0 if i % 10 == 0 else 5.0} for i in range(100)]
    values += [{"amount": 1.0}]  # no id
    produce(broker.bootstrap, topic, values)
    run_until(workspace, _spec(broker, topic, "main.pay"), rows_at_least(101))
    good = table_frame(workspace, "main.pay")
    assert sorted(good["id"].to_list()) == [i for i in range(100) if i % 10]
    bad = table_frame(workspace, quarantine_name("main.pay"))
    assert bad.height == 11
    assert set(bad["_dap_line"].to_list()) >= {0}
    lines = {(s, n) for s, n in zip(bad["_dap_source"], bad["_dap_line"], strict=True)}
    assert (f"kafka:{topic}/{100 % 3}", 100 // 3) in lines


def test_csv_events_need_and_get_the_declared_columns(
    workspace: Workspace, broker: Broker, topic: str
) -> None:
    values = [f"{i},user{i},{'true' if i % 2 else 'false'}" for i in range(200)] + ["x,y"]
    produce(broker.bootstrap, topic, values)
    spec = _spec(
        broker, topic, "main.users", format="csv", schema=parse_schema("id:bigint,name,vip:bool")
    )
    run_until(workspace, spec, rows_at_least(201))
    frame = table_frame(workspace, "main.users").sort("id")
    assert frame["id"].to_list() == list(range(200))
    assert frame["vip"].to_list()[:3] == [False, True, False]
    assert table_frame(workspace, quarantine_name("main.users")).height == 1


def test_a_restart_continues_where_the_table_is_whatever_the_broker_says(
    workspace: Workspace, broker: Broker, topic: str
) -> None:
    from confluent_kafka import Consumer, TopicPartition

    spec = _spec(broker, topic, "main.events")
    produce(broker.bootstrap, topic, [{"id": i} for i in range(600)])
    run_until(workspace, spec, rows_at_least(600))
    produce(broker.bootstrap, topic, [{"id": i} for i in range(600, 900)])
    # Given the broker's committed offsets of the group moved: behind on one partition, ahead
    # on another, gone on the third
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": spec.group})
    c.commit(
        offsets=[TopicPartition(topic, 0, 10), TopicPartition(topic, 1, 290)], asynchronous=False
    )
    c.close()
    # When the stream starts again
    run_until(workspace, spec, rows_at_least(300))
    # Then every event is in the table exactly once
    ids = table_frame(workspace, "main.events")["id"].to_list()
    assert sorted(ids) == list(range(900))


def test_an_analyst_reads_a_streamed_table_only_through_governance(
    workspace: Workspace, broker: Broker, topic: str
) -> None:
    from dap_kernel.errors import QueryRefused
    from dap_kernel.governance.identity import Principal

    admin = workspace.admin("tester")
    admin.set_multi_user(True)
    admin.add_user("ann", {"region": "EMEA"})
    admin.add_user("bob", {"region": "EMEA"})
    produce(
        broker.bootstrap,
        topic,
        [{"id": i, "region": "EMEA" if i % 2 else "APAC"} for i in range(100)],
    )
    run_until(workspace, _spec(broker, topic, "main.sales_live"), rows_at_least(100))
    admin.grant("SELECT", "main.sales_live", "user", "ann")
    admin.add_row_filter("main.sales_live", "region = current_user_attr('region')")
    # bob has no grant: refused
    bob = workspace.session(Principal(name="bob", source="test"))
    with pytest.raises(QueryRefused):
        bob.sql("SELECT * FROM sales_live")
    # ann sees only her region's rows
    ann = workspace.session(Principal(name="ann", source="test"))
    rows = ann.sql("SELECT DISTINCT region FROM sales_live").rows()
    assert rows == [("EMEA",)]
    assert ann.sql("SELECT count(*) FROM sales_live").rows() == [(50,)]
