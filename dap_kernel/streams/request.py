"""What a caller asks for when starting a stream, and the rules that turn it into a spec.

Every door (``dap.streams.start``, ``%dap stream start``, REST ``POST streams``) builds a
:class:`StreamRequest`; :func:`resolve` then applies the one rule about where a stream's
credentials come from, in the process that will consume:

* With ``connector``, the brokers and credentials are the Kafka connector's (the caller needs
  USE_CONNECTOR on it). The request may not name brokers of its own — the connector's password
  goes only to the connector's hosts — nor any security setting; only consumer tuning.
* Without one, the request names ``bootstrap`` itself. A stream the DAP service runs on
  someone's behalf (``supervised``) may do so only for an administrator (CREATE on ``*``, who
  may define connectors anyway), and never with credentials: the service would otherwise
  connect anywhere an analyst pointed it, and a password in a request would be stored with it.

A request holds no secret, so it is what the state file keeps to restart a stream.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import DapError, QueryRefused
from .spec import DEFAULT_BATCH_ROWS, DEFAULT_BATCH_SECONDS, StreamSpec, parse_schema

if TYPE_CHECKING:
    from ..session import Session

_SECURITY_PREFIXES = ("sasl.", "ssl.", "security.")
_SECRET_WORDS = ("password", "secret", "token", "credential")


def security_key(key: str) -> bool:
    """A librdkafka setting that is about who connects, not how fast."""
    lowered = key.lower()
    return lowered.startswith(_SECURITY_PREFIXES) or any(w in lowered for w in _SECRET_WORDS)


@dataclass(frozen=True)
class StreamRequest:
    """A stream as asked for: plain values (the schema as ``name:type`` text), no secret."""

    topic: str
    table: str
    connector: str = ""
    bootstrap: str = ""
    format: str = "json"
    schema: str = ""
    group: str = ""
    batch_rows: int = DEFAULT_BATCH_ROWS
    batch_seconds: float = DEFAULT_BATCH_SECONDS
    start: str = "earliest"
    kafka: Mapping[str, str] = field(default_factory=dict)
    avro_schema: str = ""  # the writer's schema (.avsc JSON) of an Avro stream

    def __post_init__(self) -> None:
        if self.connector and self.bootstrap:
            raise DapError(
                "a stream through a connector takes its brokers from the connector: "
                "give --connector or --bootstrap, not both"
            )
        for key, value in self.kafka.items():
            if not isinstance(key, str) or not isinstance(value, str | int | float | bool):
                raise DapError("Kafka settings are KEY=VALUE pairs of plain values")

    def to_spec(self) -> StreamSpec:
        return StreamSpec(
            bootstrap=self.bootstrap,
            topic=self.topic,
            table=self.table,
            format=self.format,  # type: ignore[arg-type]  # StreamSpec checks it
            group=self.group,
            schema=parse_schema(self.schema) if self.schema.strip() else None,
            batch_rows=self.batch_rows,
            batch_seconds=self.batch_seconds,
            start=self.start,  # type: ignore[arg-type]  # StreamSpec checks it
            kafka=dict(self.kafka),
            connector=self.connector,
            avro_schema=self.avro_schema,
        )

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["kafka"] = dict(self.kafka)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StreamRequest:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise DapError(f"unknown stream setting {unknown[0]!r}")
        try:
            return cls(**dict(data))
        except TypeError as e:
            raise DapError(f"invalid stream request: {e}") from None


def resolve(session: Session, spec: StreamSpec, *, supervised: bool) -> StreamSpec:
    """The spec ready to consume: the connector's brokers and credentials filled in after the
    caller's right to use it is checked, or the caller's right to name brokers checked."""
    if spec.connector:
        return _through_connector(session, spec)
    if supervised:
        if any(security_key(k) for k in spec.kafka):
            raise QueryRefused(
                "a stream the DAP service runs takes its credentials from a Kafka connector "
                "(dap connector add NAME kafka://USER:PASSWORD@HOST:PORT), never from a request"
            )
        if not session.check("CREATE", "*").allowed:
            raise QueryRefused(
                "a stream the DAP service runs reads through a Kafka connector (--connector "
                "NAME); only an administrator names brokers directly"
            )
    return spec


def _through_connector(session: Session, spec: StreamSpec) -> StreamSpec:
    from ..connectors import Connectors, securable
    from ..connectors.kafka import kafka_settings

    for key in spec.kafka:
        if security_key(key) or key in ("bootstrap.servers", "group.id"):
            raise QueryRefused(
                f"the Kafka setting {key} belongs to connector {spec.connector}: a stream "
                "through a connector only tunes the consumer"
            )
    session.require("USE_CONNECTOR", securable(spec.connector))
    ws = session.workspace
    connectors = Connectors(ws.meta, ws.secrets)
    info = connectors.get(spec.connector)
    if info.kind != "kafka":
        raise DapError(f"connector {info.name} is a {info.kind} connector, not a Kafka one")
    settings = kafka_settings(connectors.url(info.name))
    return dataclasses.replace(spec, bootstrap=settings["bootstrap.servers"], credentials=settings)
