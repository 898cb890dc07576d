"""Decoding events: what fits the table's schema becomes rows, the rest quarantine rows that
say where the event was and why it did not fit (no broker needed)."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from dap_kernel.errors import DapError
from dap_kernel.streams import Event, StreamSpec, decode, parse_schema

SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("page", pa.string()),
        ("at", pa.timestamp("us")),
        ("amount", pa.decimal128(10, 2)),
    ]
)


def _events(*values: bytes | str | None, partition: int = 2) -> list[Event]:
    return [
        Event(partition, 100 + i, v.encode() if isinstance(v, str) else v)
        for i, v in enumerate(values)
    ]


def test_good_json_events_become_typed_rows_in_one_pass() -> None:
    events = _events(
        *[json.dumps({"id": i, "page": f"/{i}", "at": "2026-01-02 03:04:05"}) for i in range(50)]
    )
    decoded, schema = decode(events, topic="t", format="json", schema=SCHEMA)
    assert schema == SCHEMA
    assert decoded.rows.schema == SCHEMA
    assert decoded.rows.column("id").to_pylist() == list(range(50))
    assert decoded.offsets == list(range(100, 150)) and set(decoded.partitions) == {2}
    assert decoded.bad.is_empty()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("{oops", "not valid JSON"),
        ("[1, 2]", "not a JSON object but a list"),
        ('{"id": 2.5}', "column id: 2.5 does not fit int64"),
        ('{"id": true}', "column id: true does not fit int64"),
        ('{"id": "7"}', 'column id: "7" does not fit int64'),
        ('{"page": 5}', "column page: 5 does not fit string"),
        ('{"at": 1700000000}', "column at: 1700000000 does not fit timestamp"),
        ('{"amount": 1.234}', "column amount: 1.234 does not fit decimal"),
        ('{"id": 1, "extra": 0}', "field(s) not in the table: extra"),
        ('{"id": 99999999999999999999999}', "does not fit int64"),
        (None, "empty event"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_an_event_that_does_not_fit_is_quarantined_with_its_place(
    value: str | bytes | None, reason: str
) -> None:
    good = '{"id": 1, "page": "/a", "amount": "12.50"}'
    decoded, _ = decode(_events(good, value, good), topic="clicks", format="json", schema=SCHEMA)
    assert decoded.rows.num_rows == 2
    assert decoded.offsets == [100, 102]
    assert decoded.bad.height == 1
    row = decoded.bad.row(0, named=True)
    assert reason in row["_dap_reason"]
    assert row["_dap_source"] == "kafka:clicks/2"
    assert row["_dap_line"] == 101
    assert row["_dap_rule"] == "stream_parse"


def test_missing_fields_are_nulls_and_nested_values_json_text() -> None:
    decoded, _ = decode(
        _events('{"id": 1}', '{"page": {"a": [1]}}'), topic="t", format="json", schema=SCHEMA
    )
    assert decoded.rows.to_pylist()[1]["page"] == '{"a": [1]}'
    assert decoded.rows.to_pylist()[0] == {"id": 1, "page": None, "at": None, "amount": None}


def test_a_pretty_printed_event_is_still_one_event() -> None:
    pretty = json.dumps({"id": 5, "page": "/x"}, indent=2)
    decoded, _ = decode(_events(pretty, '{"id": 6}'), topic="t", format="json", schema=SCHEMA)
    assert decoded.rows.column("id").to_pylist() == [5, 6]


def test_a_new_table_takes_its_types_from_the_first_batch() -> None:
    events = _events('{"id": 1, "ms": 1, "ok": true}', '{"id": 2, "ms": 2.5, "tag": null}')
    decoded, schema = decode(events, topic="t", format="json", schema=None)
    assert schema == pa.schema(
        [("id", pa.int64()), ("ms", pa.float64()), ("ok", pa.bool_()), ("tag", pa.string())]
    )
    assert decoded.rows.num_rows == 2


def test_csv_records_take_the_declared_columns() -> None:
    schema = parse_schema("id:bigint, name, vip:bool, at:timestamp")
    events = _events(
        "1,ann,true,2026-01-01 00:00:00", '2,"b, c",FALSE,', "x,d,true,", "4,e", "5,f,maybe,"
    )
    decoded, _ = decode(events, topic="t", format="csv", schema=schema)
    assert decoded.rows.to_pylist()[:2] == [
        {"id": 1, "name": "ann", "vip": True, "at": decoded.rows.column("at")[0].as_py()},
        {"id": 2, "name": "b, c", "vip": False, "at": None},
    ]
    reasons = decoded.bad["_dap_reason"].to_list()
    assert len(reasons) == 3
    assert any("column id" in r for r in reasons)
    assert any("2 CSV fields" in r for r in reasons)
    assert any("column vip" in r for r in reasons)


def test_a_spec_refuses_settings_that_would_break_exactly_once() -> None:
    with pytest.raises(DapError, match=r"enable\.auto\.commit"):
        StreamSpec(bootstrap="b:1", topic="t", table="x", kafka={"enable.auto.commit": True})
    with pytest.raises(DapError, match="topic"):
        StreamSpec(bootstrap="b:1", topic="bad topic!", table="x")
    spec = StreamSpec(bootstrap="b:1", topic="t", table="x", kafka={"security.protocol": "SSL"})
    config = spec.consumer_config()
    assert config["enable.auto.commit"] is False and config["security.protocol"] == "SSL"
    assert spec.name == "main.x" and spec.group == "dap-stream.main.x"
    assert spec.app_id(3) == "dap-stream/main.x/t/3"
    with pytest.raises(DapError, match="unknown column type"):
        parse_schema("a:blob")


def test_json_numbers_reach_a_decimal_column_exactly() -> None:
    decoded, _ = decode(
        _events('{"amount": 0.1}', '{"amount": 12345678.99}', '{"amount": "3"}'),
        topic="t",
        format="json",
        schema=SCHEMA,
    )
    assert [str(v) for v in decoded.rows.column("amount").to_pylist()] == [
        "0.10",
        "12345678.99",
        "3.00",
    ]


def test_the_quarantine_keeps_the_event_as_sent() -> None:
    sent = '{"id": 1.5,   "page": "/a"}'
    decoded, _ = decode(_events(sent), topic="t", format="json", schema=SCHEMA)
    assert decoded.bad["_dap_record"].to_list() == [sent]
