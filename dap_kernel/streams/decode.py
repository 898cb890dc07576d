"""Kafka events → Arrow rows of the table's schema; events that do not fit → quarantine rows.

An event is one JSON object or one CSV record. Decoding never raises on bad data: an event
that is not valid JSON, has a field the table lacks, or a value its column cannot hold becomes
a quarantine row naming topic, partition, offset and reason (``_dap_source`` is
``kafka:<topic>/<partition>``, ``_dap_line`` the offset), so nothing is lost and nothing stops
the stream. A missing field is a null, as a JSON writer that drops nulls means it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl
import pyarrow as pa

from ..quarantine import empty_quarantine, quarantine_frame
from .spec import Format

PARSE_RULE = "stream_parse"
_MAX_REASON = 300


@dataclass(frozen=True)
class Event:
    """One Kafka message as the stream needs it."""

    partition: int
    offset: int
    value: bytes | None
    timestamp_ms: int = 0


@dataclass
class Decoded:
    """A batch decoded: ``rows`` fit the schema; ``bad`` is shaped for the quarantine."""

    rows: pa.Table
    bad: pl.DataFrame
    partitions: list[int]  # per row of ``rows``
    offsets: list[int]


def source_of(topic: str, partition: int) -> str:
    return f"kafka:{topic}/{partition}"


def decode(
    events: Sequence[Event],
    *,
    topic: str,
    format: Format,
    schema: pa.Schema | None,
    columns: Sequence[str] = (),
    avro_schema: str = "",
) -> tuple[Decoded, pa.Schema]:
    """Decode ``events`` against ``schema`` (None: a new table, inferred from this batch).

    Returns the decoded batch and the schema it has (the inferred one for a new table).
    ``columns`` names the CSV fields when there is no schema yet.
    """
    if format == "json" and schema is not None:
        fast = _json_fast(events, schema)
        if fast is not None:
            return fast, schema
    bad: list[tuple[Event, str]] = []
    records: list[tuple[Event, dict[str, Any]]] = []
    names = list(schema.names) if schema is not None else list(columns)
    for event in events:
        record, reason = _parse(event.value, format, names, avro_schema)
        if record is None:
            bad.append((event, reason))
        else:
            records.append((event, record))
    if schema is None:
        schema = infer_schema([r for _, r in records], names)
    allowed = set(schema.names)
    kept: list[tuple[Event, dict[str, Any]]] = []
    for event, record in records:
        extra = [k for k in record if k not in allowed]
        if extra:
            bad.append((event, f"field(s) not in the table: {', '.join(extra[:5])}"))
        else:
            kept.append((event, record))
    rows, kept = _to_table(kept, schema, bad, csv_text=format == "csv", native=format == "avro")
    return (
        Decoded(
            rows=rows,
            bad=_quarantine(bad, topic, binary=format == "avro"),
            partitions=[e.partition for e, _ in kept],
            offsets=[e.offset for e, _ in kept],
        ),
        schema,
    )


def _json_fast(events: Sequence[Event], schema: pa.Schema) -> Decoded | None:
    """The whole batch in one pass of Arrow's JSON reader, when every event fits; None sends
    the batch down the event-by-event path, which finds and quarantines the ones that do not.

    Arrow reads newline-delimited JSON, so an event holding a newline (pretty-printed JSON)
    or no value at all, and a table with a required column, take the slow path from the start.
    """
    import io

    from pyarrow import json as pa_json

    if not events or any(not f.nullable for f in schema):
        return None
    values = [e.value for e in events]
    if any(v is None or b"\n" in v or b"\r" in v or not v.strip() for v in values):
        return None
    data = b"\n".join(v for v in values if v is not None)
    try:
        table = pa_json.read_json(
            io.BytesIO(data),
            read_options=pa_json.ReadOptions(block_size=max(1 << 20, len(data) + 1)),
            parse_options=pa_json.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="error"
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    if table.num_rows != len(events):
        return None
    try:
        rows = table.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, KeyError):
        return None
    return Decoded(
        rows=rows,
        bad=empty_quarantine(),
        partitions=[e.partition for e in events],
        offsets=[e.offset for e in events],
    )


def _raw(value: bytes | None) -> Any:
    if value is None:
        return None
    return value.decode("utf-8", errors="replace")


def _binary(value: bytes | None) -> str | None:
    import base64

    return None if value is None else "base64:" + base64.b64encode(value).decode("ascii")


def _parse(
    value: bytes | None, format: Format, names: list[str], avro_schema: str = ""
) -> tuple[Any, str]:
    if value is None:
        return None, "empty event (no value)"
    if format == "avro":
        from .avro import read

        return read(value, avro_schema)
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    if format == "json":
        try:
            # Numbers with a fraction as Decimal: a decimal column gets exactly the digits sent.
            record = json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as e:
            return None, f"not valid JSON: {e.msg} at character {e.pos}"
        if not isinstance(record, dict):
            return None, f"not a JSON object but a {type(record).__name__}"
        return record, ""
    try:
        rows = list(csv.reader([text.rstrip("\r\n")], strict=True))
    except csv.Error as e:
        return None, f"not a CSV record: {e}"
    if len(rows) != 1:
        return None, "not one CSV record"
    fields = rows[0]
    if len(fields) != len(names):
        return None, f"{len(fields)} CSV fields, the table has {len(names)} columns"
    return {n: (None if v == "" else v) for n, v in zip(names, fields, strict=True)}, ""


# -- a new table's schema, from its first batch -------------------------------------------------


def infer_schema(records: Sequence[dict[str, Any]], names: Sequence[str] = ()) -> pa.Schema:
    """Column types from the values of one batch: the narrowest of bool, bigint, double and
    text that holds every value of a column (a column with only nulls is text). Nested JSON
    values are kept as JSON text; later events whose values do not fit are quarantined."""
    order: dict[str, None] = dict.fromkeys(names)
    for r in records:
        order.update(dict.fromkeys(r))
    fields = []
    for name in order:
        values = [r.get(name) for r in records]
        fields.append(pa.field(name, _infer_type([v for v in values if v is not None])))
    return pa.schema(fields)


def _infer_type(values: list[Any]) -> pa.DataType:
    if not values:
        return pa.string()
    if all(isinstance(v, bool) for v in values):
        return pa.bool_()
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return pa.int64()
    if all(isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in values):
        return pa.float64()
    if all(isinstance(v, str) for v in values):
        # CSV fields are text: numbers in text stay numbers when every value is one.
        for kind, check in ((pa.int64(), _is_int), (pa.float64(), _is_float)):
            if all(check(v) for v in values):
                return kind
        if all(v.lower() in ("true", "false") for v in values):
            return pa.bool_()
    return pa.string()


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# -- values → Arrow columns, with per-row fallbacks -----------------------------------------------


def _column(values: list[Any], t: pa.DataType, *, csv_text: bool, native: bool = False) -> pa.Array:
    """One column; raises when any value does not fit ``t``. ``native``: the values are
    already typed (Avro's ints, datetimes, decimals), Arrow converts them as they are."""
    if native:
        return pa.array(values, type=t)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        # A nested JSON value is kept as its JSON text; a number is not text (Arrow refuses).
        nested = [json.dumps(v, default=float) if isinstance(v, dict | list) else v for v in values]
        return pa.array(nested, type=t)
    if csv_text or _text_typed(t):
        # Times, dates and decimals come as text (ISO 8601, exact digits): a bare number
        # would be read in some unit nobody declared, so it does not fit.
        if pa.types.is_decimal(t) and not csv_text:
            if any(isinstance(v, bool | float) for v in values):
                raise ValueError(f"{t} values are exact")
            exact = [Decimal(v) if isinstance(v, str | int) else v for v in values]
            return pa.array(exact, type=t)
        if not all(v is None or isinstance(v, str) for v in values):
            raise ValueError(f"{t} values are text")
        if pa.types.is_boolean(t):
            values = [None if v is None else v.lower() for v in values]
        return pa.array(values, type=pa.string()).cast(t, safe=True)
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        # Arrow would truncate 2.5 into an integer column and read true as 1: refuse both.
        whole = pa.types.is_integer(t)
        numbers: list[Any] = []
        for v in values:
            if isinstance(v, bool) or (isinstance(v, Decimal) and whole and v != v.to_integral()):
                raise ValueError(f"{v!r} is not a {t}")
            numbers.append((int(v) if whole else float(v)) if isinstance(v, Decimal) else v)
        return pa.array(numbers, type=t)
    return pa.array(values, type=t)


def _text_typed(t: pa.DataType) -> bool:
    """Types a JSON event writes as text: times, dates and exact decimals."""
    return bool(
        pa.types.is_timestamp(t)
        or pa.types.is_date(t)
        or pa.types.is_time(t)
        or pa.types.is_decimal(t)
    )


def _to_table(
    records: list[tuple[Event, dict[str, Any]]],
    schema: pa.Schema,
    bad: list[tuple[Event, str]],
    *,
    csv_text: bool,
    native: bool = False,
) -> tuple[pa.Table, list[tuple[Event, dict[str, Any]]]]:
    """Build each column at once; when one refuses, find the events whose value does not fit,
    quarantine them and build again without them."""
    while True:
        arrays: list[pa.Array] = []
        failed: dict[int, str] = {}
        for f in schema:
            values = [r.get(f.name) for _, r in records]
            if not f.nullable and any(v is None for v in values):
                for i, v in enumerate(values):
                    if v is None:
                        failed.setdefault(i, f"no value for the required column {f.name}")
                continue
            try:
                arrays.append(_column(values, f.type, csv_text=csv_text, native=native))
            except (
                pa.ArrowInvalid,
                pa.ArrowTypeError,
                pa.ArrowNotImplementedError,
                TypeError,
                ValueError,
                OverflowError,
            ):
                for i, v in enumerate(values):
                    if i in failed:
                        continue
                    try:
                        _column([v], f.type, csv_text=csv_text, native=native)
                    except Exception:  # whatever Arrow says: this value does not fit
                        shown = (str(v) if isinstance(v, Decimal) else json.dumps(v, default=str))[
                            :80
                        ]
                        failed[i] = f"column {f.name}: {shown} does not fit {f.type}"
        if not failed:
            return pa.Table.from_arrays(arrays, schema=schema), records
        for i in sorted(failed):
            bad.append((records[i][0], failed[i]))
        records = [r for i, r in enumerate(records) if i not in failed]


def _quarantine(bad: list[tuple[Event, str]], topic: str, *, binary: bool = False) -> pl.DataFrame:
    """Quarantine rows keeping each event as it came (its text; ``base64:…`` for binary
    Avro), so it can be fixed and replayed as sent."""
    if not bad:
        return empty_quarantine()
    bad.sort(key=lambda b: (b[0].partition, b[0].offset))
    frame = quarantine_frame(
        pl.DataFrame({"event": [""] * len(bad)}),
        rule=PARSE_RULE,
        reason=[reason[:_MAX_REASON] for _, reason in bad],
        source=[source_of(topic, e.partition) for e, _ in bad],
        line=[e.offset for e, _ in bad],
    )
    records = [_binary(e.value) if binary else _raw(e.value) for e, _ in bad]
    return frame.with_columns(pl.Series("_dap_record", records, dtype=pl.String))
