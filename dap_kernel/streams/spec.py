"""What one stream is: a Kafka topic, the lake table it fills, and how events are read.

A stream is named for its table (``main.clicks``), so ``dap stream stop clicks`` finds it, and
its offsets live in that table: partition ``p`` of topic ``t`` is the Delta application
transaction ``dap-stream/<table>/<t>/<p>``, whose version is the last offset committed
(:func:`app_id`). Nothing else needs to remember where a stream is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa

from ..errors import DapError
from ..lake import split_name

Format = Literal["json", "csv", "avro"]
FORMATS: tuple[Format, ...] = ("json", "csv", "avro")
APP_PREFIX = "dap-stream"
DEFAULT_BATCH_ROWS = 50_000  # a batch closes at this many events …
DEFAULT_BATCH_SECONDS = 1.0  # … or this long after its first event, whichever comes first

# Consumer settings DAP chooses; the caller's ``kafka`` options override them (SASL, TLS …).
# Short session timeouts: a stream killed with SIGKILL leaves a member the broker must expire
# before its successor gets the partitions (the default 45 s would stall a restart that long).
CONSUMER_DEFAULTS: dict[str, Any] = {
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 1000,
    "max.poll.interval.ms": 30000,
}
# Settings that would break exactly-once if a caller changed them: DAP decides these.
CONSUMER_FIXED: dict[str, Any] = {
    "enable.auto.commit": False,  # broker offsets are a hint, committed after the Delta commit
    "enable.auto.offset.store": False,
    "isolation.level": "read_committed",  # never read a producer's aborted transactions
    # Eager rebalancing: every assignment positions *all* partitions from the table again.
    "partition.assignment.strategy": "range,roundrobin",
}

_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "text": pa.string(),
    "varchar": pa.string(),
    "int": pa.int32(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "long": pa.int64(),
    "smallint": pa.int16(),
    "double": pa.float64(),
    "float": pa.float32(),
    "real": pa.float32(),
    "bool": pa.bool_(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
}
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


def app_id(table: str, topic: str, partition: int) -> str:
    """The Delta application id under which ``table`` records its offset of one partition."""
    return f"{APP_PREFIX}/{table}/{topic}/{partition}"


def quarantine_app_id(table: str, topic: str, partition: int) -> str:
    """The same, in the quarantine table: how far the bad events of a partition were kept."""
    return f"{APP_PREFIX}/{table}/{topic}/{partition}/quarantine"


def parse_schema(text: str) -> pa.Schema:
    """``"id:bigint, page:string, at:timestamp"`` → an Arrow schema (types as in SQL)."""
    fields = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, _, kind = part.partition(":")
        name, kind = name.strip(), (kind.strip().lower() or "string")
        if kind not in _TYPES:
            raise DapError(f"unknown column type {kind!r} for {name}: use {', '.join(_TYPES)}")
        fields.append(pa.field(name, _TYPES[kind]))
    if not fields:
        raise DapError("the schema names no columns: give NAME:TYPE pairs separated by commas")
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise DapError("the schema names a column twice")
    return pa.schema(fields)


@dataclass(frozen=True)
class StreamSpec:
    """A stream from ``topic`` on ``bootstrap`` into ``table``.

    ``schema``: the columns a new table gets (default: inferred from the first batch; a CSV
    stream into a new table needs at least the names). An existing table keeps its own.
    ``kafka``: librdkafka settings passed through (``security.protocol``, ``sasl.*``,
    ``ssl.*``), for a production cluster.
    ``connector``: a Kafka connector (``kafka://…``) naming the brokers and holding the
    credentials instead; :func:`~dap_kernel.streams.access.resolve` fills ``bootstrap`` and
    ``credentials`` from it, and ``kafka`` may then only tune the consumer.
    """

    bootstrap: str
    topic: str
    table: str
    format: Format = "json"
    group: str = ""
    schema: pa.Schema | None = None
    batch_rows: int = DEFAULT_BATCH_ROWS
    batch_seconds: float = DEFAULT_BATCH_SECONDS
    start: Literal["earliest", "latest"] = "earliest"
    kafka: Mapping[str, Any] = field(default_factory=dict)
    connector: str = ""
    avro_schema: str = ""  # the writer's schema (.avsc JSON) of an Avro stream
    # From the connector, in the consuming process only: never shown, stored or sent back.
    credentials: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "table", "{}.{}".format(*split_name(self.table)))
        if not _TOPIC.match(self.topic):
            raise DapError(f"invalid topic name {self.topic!r}")
        if self.format not in FORMATS:
            raise DapError(f"unknown stream format {self.format!r}: use json, csv or avro")
        if self.format == "avro":
            from .avro import arrow_schema

            if not self.avro_schema.strip():
                raise DapError("an Avro stream needs the writer's schema (--avro-schema FILE)")
            if self.schema is None:
                object.__setattr__(self, "schema", arrow_schema(self.avro_schema))
        elif self.avro_schema:
            raise DapError("--avro-schema is for --format avro")
        if not self.bootstrap.strip() and not self.connector:
            raise DapError("a stream needs --bootstrap HOST:PORT or --connector NAME")
        if self.batch_rows < 1 or self.batch_seconds <= 0:
            raise DapError("a batch needs at least one row and a positive time")
        if self.start not in ("earliest", "latest"):
            raise DapError("--start is earliest or latest")
        if not self.group:
            object.__setattr__(self, "group", f"dap-stream.{self.table}")
        for key in self.kafka:
            if key in CONSUMER_FIXED or key in ("bootstrap.servers", "group.id"):
                raise DapError(f"the Kafka setting {key} is chosen by DAP, not by the stream")

    @property
    def name(self) -> str:
        """A stream is named for its table: one stream fills a table."""
        return self.table

    def app_id(self, partition: int) -> str:
        return app_id(self.table, self.topic, partition)

    def quarantine_app_id(self, partition: int) -> str:
        return quarantine_app_id(self.table, self.topic, partition)

    def consumer_config(self) -> dict[str, Any]:
        if self.connector and not self.credentials.get("bootstrap.servers"):
            raise DapError(f"stream {self.name}: connector {self.connector} was not resolved")
        config: dict[str, Any] = {
            **CONSUMER_DEFAULTS,
            **dict(self.kafka),
            **dict(self.credentials),
            **CONSUMER_FIXED,
        }
        config["bootstrap.servers"] = (
            self.credentials["bootstrap.servers"] if self.connector else self.bootstrap
        )
        config["group.id"] = self.group
        config["auto.offset.reset"] = self.start
        return config

    def to_dict(self) -> dict[str, Any]:
        """What ``dap stream status`` shows (no Kafka settings: they may hold secrets)."""
        return {
            "name": self.name,
            "bootstrap": self.bootstrap,
            "topic": self.topic,
            "table": self.table,
            "format": self.format,
            "group": self.group,
            "batch_rows": self.batch_rows,
            "batch_seconds": self.batch_seconds,
            "connector": self.connector,
        }


def stream_name(name: str) -> str:
    """``clicks`` → ``main.clicks``: the names ``dap stream stop`` accepts."""
    return "{}.{}".format(*split_name(name))
