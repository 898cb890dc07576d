"""Kafka connectors: a cluster's bootstrap servers and credentials, defined once by an admin.

The URL names everything a consumer needs to reach the cluster, and nothing else::

    kafka://USER:PASSWORD@broker-1:9092,broker-2:9092?security.protocol=SASL_SSL
        &sasl.mechanism=SCRAM-SHA-512&ssl.ca.location=/etc/dap/kafka-ca.pem

The password goes to the secret store with the URL (:class:`~.registry.Connectors`); a stream
that names the connector gets these settings in the process that consumes, and can neither
point them at another host (the bootstrap comes from the URL, not from the stream) nor read
them back (``dap stream status`` and REST show the redacted URL's host list only).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote

from ..errors import ConnectorError

# The security settings a connector URL may carry (everything else a stream may tune itself).
SECURITY_KEYS = (
    "security.protocol",
    "sasl.mechanism",
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
    "ssl.endpoint.identification.algorithm",
)
PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")


def kafka_settings(url: str) -> dict[str, Any]:
    """librdkafka settings from a ``kafka://`` URL: ``bootstrap.servers``, the security keys,
    and ``sasl.username``/``sasl.password`` from the user part (SASL_SSL with PLAIN by default
    when a user is given)."""
    if not url.lower().startswith("kafka://"):
        raise ConnectorError("a Kafka connector URL starts with kafka://")
    rest = url[len("kafka://") :]
    netloc, _, query = rest.partition("?")
    netloc = netloc.rstrip("/")
    if "/" in netloc:
        raise ConnectorError("a Kafka connector URL has no path: kafka://HOST:PORT[,…]?…")
    user_part, at, hosts = netloc.rpartition("@")
    servers = [h.strip() for h in hosts.split(",")]
    for server in servers:
        host, colon, port = server.rpartition(":")
        if not host or not colon or not port.isdecimal() or not 0 < int(port) < 65536:
            raise ConnectorError("a Kafka connector names its brokers as HOST:PORT[,HOST:PORT…]")
    settings: dict[str, Any] = {"bootstrap.servers": ",".join(servers)}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        if key not in SECURITY_KEYS:
            raise ConnectorError(
                f"a Kafka connector URL takes {', '.join(SECURITY_KEYS)}, not {key!r}"
            )
        settings[key] = value
    if at:
        user, _, password = user_part.partition(":")
        if not user:
            raise ConnectorError("a Kafka connector's credentials are USER:PASSWORD@")
        settings["sasl.username"] = unquote(user)
        settings["sasl.password"] = unquote(password)
        settings.setdefault("security.protocol", "SASL_SSL")
        settings.setdefault("sasl.mechanism", "PLAIN")
    protocol = settings.get("security.protocol", "PLAINTEXT").upper()
    if protocol not in PROTOCOLS:
        raise ConnectorError(f"security.protocol is one of {', '.join(PROTOCOLS)}")
    return settings


def probe_kafka(url: str, timeout_s: float) -> tuple[str, list[str]]:
    """Reach the cluster and list its topics (what a stream could consume)."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({**kafka_settings(url), "socket.timeout.ms": int(timeout_s * 1000)})
    try:
        meta = admin.list_topics(timeout=timeout_s)
    except Exception as e:  # KafkaException: the broker did not answer in time, or refused
        raise ConnectorError(str(e.args[0] if e.args else e)) from None
    topics = sorted(t for t in meta.topics if not t.startswith("__"))
    return f"{len(meta.brokers)} broker(s), {len(topics)} topic(s)", topics[:100]
