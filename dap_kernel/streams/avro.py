"""Avro events: each Kafka value one record in Avro's binary encoding, read with the writer's
schema the stream was given (``--avro-schema FILE``: the ``.avsc`` JSON), by fastavro.

The schema also gives a new table its columns: Avro's primitive and logical types map to
Arrow's (a ``["null", T]`` union is a nullable T). A value that does not decode with the schema
— a truncated record, another schema's bytes — is a bad event for the quarantine, kept as
base64 since it is not text. The Confluent Schema Registry framing (a zero byte and a schema
id before the record) is not read: a registry is a service this stream does not call.
"""

from __future__ import annotations

import functools
import io
import json
from typing import Any

import pyarrow as pa

from ..errors import DapError

_PRIMITIVE: dict[str, pa.DataType] = {
    "boolean": pa.bool_(),
    "int": pa.int32(),
    "long": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "string": pa.string(),
    "bytes": pa.binary(),
}
_LOGICAL: dict[str, pa.DataType] = {
    "timestamp-millis": pa.timestamp("us", tz="UTC"),
    "timestamp-micros": pa.timestamp("us", tz="UTC"),
    "local-timestamp-millis": pa.timestamp("us"),
    "local-timestamp-micros": pa.timestamp("us"),
    "date": pa.date32(),
    "uuid": pa.string(),
}


@functools.lru_cache(maxsize=16)
def parse(text: str) -> Any:
    """The parsed writer's schema (a record), or one clear error."""
    import fastavro

    try:
        schema = fastavro.parse_schema(json.loads(text))
    except (ValueError, TypeError, KeyError) as e:  # JSON or Avro: not a usable schema
        raise DapError(f"not a usable Avro schema: {e}") from None
    except Exception as e:  # fastavro's SchemaParseException and friends
        raise DapError(f"not a usable Avro schema: {e}") from None
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise DapError("an Avro stream's schema is a record (its fields become the columns)")
    return schema


def arrow_schema(text: str) -> pa.Schema:
    """A new table's columns from the record's fields."""
    fields = []
    for f in parse(text)["fields"]:
        kind, nullable = _arrow_type(f["type"], f["name"])
        fields.append(pa.field(f["name"], kind, nullable=nullable))
    return pa.schema(fields)


def _arrow_type(avro: Any, name: str) -> tuple[pa.DataType, bool]:
    if isinstance(avro, list):
        kinds = [t for t in avro if t != "null"]
        if len(kinds) != 1:
            raise DapError(f'Avro field {name}: only ["null", T] unions become columns')
        kind, _ = _arrow_type(kinds[0], name)
        return kind, True
    if isinstance(avro, dict):
        logical = avro.get("logicalType")
        if logical == "decimal":
            return pa.decimal128(int(avro["precision"]), int(avro.get("scale", 0))), True
        if logical in _LOGICAL:
            return _LOGICAL[logical], True
        if avro.get("type") in ("enum",):
            return pa.string(), True
        if avro.get("type") in ("record", "array", "map"):
            return pa.string(), True  # kept as JSON text, as nested JSON is
        return _arrow_type(avro.get("type"), name)
    if avro in _PRIMITIVE:
        return _PRIMITIVE[avro], True
    raise DapError(f"Avro field {name}: type {avro!r} has no column type")


def read(value: bytes, text: str) -> tuple[dict[str, Any] | None, str]:
    """One record, or why it could not be read."""
    import fastavro

    buffer = io.BytesIO(value)
    try:
        record = fastavro.schemaless_reader(buffer, parse(text), None)
    except Exception as e:  # EOFError, ValueError, UnicodeDecodeError …: not this schema's bytes
        return None, f"not an Avro record of the stream's schema: {type(e).__name__}: {e}"[:300]
    if buffer.tell() != len(value):
        left = len(value) - buffer.tell()
        return None, f"not an Avro record of the stream's schema: {left} bytes left over"
    if not isinstance(record, dict):
        return None, "not an Avro record"
    return {
        k: (json.dumps(v, default=str) if isinstance(v, dict | list) else v)
        for k, v in record.items()
    }, ""
