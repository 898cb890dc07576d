"""Avro events: records of the writer's schema become typed rows (logical types included);
bytes that do not decode go to the quarantine, kept as base64; the schema makes a new table."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from dap_kernel.errors import DapError
from dap_kernel.session import Workspace
from dap_kernel.streams import Event, StreamSpec
from dap_kernel.streams import decode as decode_events
from tests.streams.conftest import Broker
from tests.streams.helpers import produce, rows_at_least, run_until, table_frame

SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "Click",
        "fields": [
            {"name": "id", "type": "long"},
            {"name": "page", "type": ["null", "string"], "default": None},
            {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {
                "name": "amount",
                "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2},
            },
            {"name": "ok", "type": "boolean"},
        ],
    }
)


def encode(record: dict) -> bytes:
    import fastavro

    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(json.loads(SCHEMA)), record)
    return out.getvalue()


def click(i: int) -> dict:
    at = datetime(2026, 12, 1, 12, 0, i % 60, tzinfo=UTC)
    page = None if i % 5 == 0 else f"/p/{i % 3}"
    return {"id": i, "page": page, "at": at, "amount": Decimal(f"{i}.25"), "ok": i % 2 == 0}


def test_records_become_typed_rows_and_bad_bytes_the_quarantine() -> None:
    spec = StreamSpec(bootstrap="b:1", topic="t", table="clicks", format="avro", avro_schema=SCHEMA)
    assert spec.schema is not None and spec.schema.field("amount").type == pa.decimal128(9, 2)
    events = [Event(0, i, encode(click(i))) for i in range(10)]
    events.insert(3, Event(0, 100, b"\x02"))  # truncated
    events.insert(5, Event(1, 7, encode(click(1)) + b"junk"))  # trailing bytes

    decoded, _ = decode_events(
        events, topic="t", format="avro", schema=spec.schema, avro_schema=SCHEMA
    )

    rows = decoded.rows.to_pylist()
    assert [r["id"] for r in rows] == list(range(10))
    assert rows[1] == {
        "id": 1,
        "page": "/p/1",
        "at": datetime(2026, 12, 1, 12, 0, 1, tzinfo=UTC),
        "amount": Decimal("1.25"),
        "ok": False,
    }
    assert rows[0]["page"] is None
    bad = decoded.bad.to_dicts()
    assert [(b["_dap_source"], b["_dap_line"]) for b in bad] == [
        ("kafka:t/0", 100),
        ("kafka:t/1", 7),
    ]
    assert all("not an Avro record" in b["_dap_reason"] for b in bad)
    assert base64.b64decode(bad[0]["_dap_record"].removeprefix("base64:")) == b"\x02"


def test_an_avro_stream_needs_a_usable_schema() -> None:
    with pytest.raises(DapError, match="needs the writer's schema"):
        StreamSpec(bootstrap="b:1", topic="t", table="x", format="avro")
    with pytest.raises(DapError, match="not a usable Avro schema"):
        StreamSpec(bootstrap="b:1", topic="t", table="x", format="avro", avro_schema="{nope")
    with pytest.raises(DapError, match="is a record"):
        StreamSpec(bootstrap="b:1", topic="t", table="x", format="avro", avro_schema='"long"')
    with pytest.raises(DapError, match="for --format avro"):
        StreamSpec(bootstrap="b:1", topic="t", table="x", avro_schema=SCHEMA)


def test_avro_events_from_the_broker_fill_a_new_table(
    workspace: Workspace, broker: Broker, topic: str
) -> None:
    produce(broker.bootstrap, topic, [encode(click(i)) for i in range(500)] + [b"\x00\x01"])
    spec = StreamSpec(
        bootstrap=broker.bootstrap, topic=topic, table="clicks", format="avro", avro_schema=SCHEMA
    )

    summary = run_until(workspace, spec, rows_at_least(501))

    frame = table_frame(workspace, "main.clicks")
    assert sorted(frame["id"].to_list()) == list(range(500)) and summary.quarantined == 1
    got = workspace.session().sql("SELECT sum(amount) AS s FROM clicks WHERE ok")
    assert got["s"][0] == sum(Decimal(f"{i}.25") for i in range(0, 500, 2))
