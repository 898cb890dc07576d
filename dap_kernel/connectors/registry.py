"""Named connections to external sources, with the credentials kept in the secret store.

A connector is defined once (by someone with CREATE) and used by name afterwards, so nobody
needs to paste a password into a notebook. The metadata row keeps only a redacted URL; the full
URL is decrypted only for the moment a source is opened (:meth:`Connectors.url`). Authorization
is the caller's job: this class is the registry, the front doors check privileges.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import ConnectorError, UnknownConnector
from ..governance.secret_refs import check_references, redact_url
from ..governance.secrets import SecretStore
from ..meta import MetaStore
from ..meta.models import Connector, utcnow
from .kafka import kafka_settings, probe_kafka

if TYPE_CHECKING:
    from ..session import Session as DapSession

KINDS = ("postgresql", "sqlite", "mysql", "file", "http", "kafka")
MAX_OBJECTS = 100
DATA_SUFFIXES = (".csv", ".tsv", ".parquet", ".json", ".ndjson", ".jsonl", ".xlsx")
COMPRESSION_SUFFIXES = (".gz", ".zst")

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class ConnectorExists(ConnectorError):
    code = "connector_exists"
    http_status = 409


@dataclass(frozen=True)
class ConnectorInfo:
    """What anyone allowed to see a connector sees: never the password."""

    name: str
    kind: str
    url: str
    description: str
    owner: str
    created_at: datetime
    has_secret: bool

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data


@dataclass(frozen=True)
class ConnectorTest:
    """The outcome of trying a source: a dead source is an answer, not an exception."""

    ok: bool
    message: str
    elapsed_ms: float
    objects: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def redact(url: str) -> str:
    """The URL with its password and credential-like query parameters replaced by ``***``
    (the one redaction of :mod:`dap_kernel.governance.secret_refs`, which specs use too)."""
    return redact_url(url)


def securable(name: str) -> str:
    """What USE_CONNECTOR is granted on for one connector: ``connector:shop``. The colon
    keeps it apart from schema and table names; ``*`` still covers every connector."""
    return f"connector:{name}"


def connector_kind(url: str) -> str:
    """Which kind of source a URL names; :class:`ConnectorError` for anything else."""
    if url.startswith("/"):
        return "file"
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    base = scheme.split("+", 1)[0]
    if base in ("postgresql", "postgres"):
        return "postgresql"
    if base in ("sqlite", "mysql", "file"):
        return base
    if scheme in ("http", "https"):
        return "http"
    if scheme == "kafka":
        return "kafka"
    raise ConnectorError(
        f"unsupported connector URL {redact(url)!r}: use postgresql://, mysql://, "
        "sqlite:///PATH, file:///FOLDER (or an absolute path), http(s):// or kafka://"
    )


def _validate_url(kind: str, url: str) -> None:
    if kind in ("postgresql", "sqlite", "mysql"):
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError) as e:
            raise ConnectorError(f"{redact(url)!r} is not a valid database URL") from e
        if kind == "sqlite" and not (parsed.database and Path(parsed.database).is_absolute()):
            raise ConnectorError("a sqlite connector needs an absolute path: sqlite:////abs/db")
        if kind != "sqlite" and not parsed.host:
            raise ConnectorError(f"{redact(url)!r} names no host")
    elif kind == "file":
        if not _file_path(url).is_absolute():
            raise ConnectorError("a file connector needs an absolute path: file:///FOLDER")
    elif kind == "kafka":
        kafka_settings(url)
    elif not urlsplit(url).hostname:
        raise ConnectorError(f"{redact(url)!r} names no host")


def _file_path(url: str) -> Path:
    return Path(unquote(urlsplit(url).path)) if url.startswith("file://") else Path(url)


def _password(url: str) -> str:
    try:
        return unquote(urlsplit(url).password or "")
    except ValueError:
        return ""


def _scrub(text: str, url: str) -> str:
    """First line of a driver error, with the URL and every spelling of the password hidden."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    line = lines[0] if lines else "unknown error"
    line = line.replace(url, redact(url))
    password = _password(url)
    for spelling in {password, urlsplit(url).password or ""}:
        if spelling:
            line = line.replace(spelling, "***")
    return line if len(line) <= 300 else line[:299] + "…"


def _secret_name(name: str) -> str:
    return f"connector:{name}"


def _aware(value: datetime) -> datetime:
    # SQLite hands timezone-aware columns back naive; every timestamp DAP writes is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _info(row: Connector) -> ConnectorInfo:
    return ConnectorInfo(
        name=row.name,
        kind=row.kind,
        url=redact(row.url),
        description=row.description,
        owner=row.owner,
        created_at=_aware(row.created_at),
        has_secret=row.has_secret,
    )


class Connectors:
    """The registry of named sources, stored in the metadata database."""

    def __init__(self, meta: MetaStore, secrets: SecretStore) -> None:
        self.meta = meta
        self.secrets = secrets

    def create(
        self, name: str, url: str, *, owner: str, description: str = "", replace: bool = False
    ) -> ConnectorInfo:
        """Define (or with ``replace`` redefine) a connector; the password goes to the secrets."""
        if not _NAME.match(name):
            raise ConnectorError(
                f"invalid connector name {name!r}: use lower-case letters, digits and _, "
                "starting with a letter (at most 63 characters)"
            )
        url = url.strip()
        # A connector holds its own credentials (the URL's password goes to the secret store):
        # a ${secret:…} in it would hand another secret to whoever may use this connector.
        check_references(
            {"name": name, "url": url, "description": description},
            lambda _field, _value: False,
            what=f"connector {name}",
        )
        kind = connector_kind(url)
        _validate_url(kind, url)
        shown = redact(url)
        has_secret = shown != url
        with self.meta.session() as s:
            existing = s.execute(
                select(Connector).where(Connector.name == name)
            ).scalar_one_or_none()
        if existing is not None and not replace:
            raise ConnectorExists(f"connector {name!r} already exists (use replace to redefine it)")
        if has_secret:
            self.secrets.put(_secret_name(name), url)
        try:
            with self.meta.session() as s:
                row = s.execute(
                    select(Connector).where(Connector.name == name)
                ).scalar_one_or_none()
                if row is None:
                    row = Connector(name=name)
                    s.add(row)
                row.kind = kind
                row.url = shown
                row.description = description
                row.owner = owner
                row.has_secret = has_secret
                row.updated_at = utcnow()
                s.flush()
                info = _info(row)
        except IntegrityError as e:
            if has_secret and existing is None:
                self.secrets.delete(_secret_name(name))
            raise ConnectorExists(f"connector {name!r} already exists") from e
        if not has_secret and existing is not None and existing.has_secret:
            self.secrets.delete(_secret_name(name))  # the new URL carries no password
        return info

    def list(self) -> list[ConnectorInfo]:
        with self.meta.session() as s:
            rows = s.execute(select(Connector).order_by(Connector.name)).scalars()
            return [_info(r) for r in rows]

    def get(self, name: str) -> ConnectorInfo:
        with self.meta.session() as s:
            return _info(self._row(s, name))

    def url(self, name: str) -> str:
        """The full URL, password included: for opening the source, never for display."""
        with self.meta.session() as s:
            row = self._row(s, name)
            has_secret, shown = row.has_secret, row.url
        return self.secrets.get(_secret_name(name)) if has_secret else shown

    def delete(self, name: str) -> None:
        with self.meta.session() as s:
            row = self._row(s, name)
            has_secret = row.has_secret
            s.delete(row)
        if has_secret:
            self.secrets.delete(_secret_name(name))

    def test(self, name: str, timeout_s: float = 10) -> ConnectorTest:
        """Try to reach the source and list what it holds; a failure is ``ok=False``."""
        kind = self.get(name).kind
        url = self.url(name)
        probe: dict[str, Callable[[str, float], tuple[str, list[str]]]] = {
            "postgresql": _probe_database,
            "mysql": _probe_database,
            "sqlite": _probe_sqlite,
            "file": _probe_files,
            "http": _probe_http,
            "kafka": probe_kafka,
        }
        start = time.perf_counter()
        try:
            message, objects = probe[kind](url, timeout_s)
            ok = True
        except _Unhealthy as e:
            message, objects, ok = _scrub(str(e), url), [], False
        except Exception as e:  # any driver's error: the answer is "not reachable, because …"
            message, objects, ok = _scrub(str(getattr(e, "orig", None) or e), url), [], False
        elapsed = (time.perf_counter() - start) * 1000
        return ConnectorTest(ok=ok, message=message, elapsed_ms=elapsed, objects=objects)

    @staticmethod
    def _row(s: Session, name: str) -> Connector:
        row: Connector | None = s.execute(
            select(Connector).where(Connector.name == name)
        ).scalar_one_or_none()
        if row is None:
            raise UnknownConnector(f"connector {name!r} does not exist")
        return row


class _Unhealthy(Exception):
    """The source answered, but not well enough to be used."""


# -- probes: each returns (message, objects) or raises --------------------------------------


def _probe_database(url: str, timeout_s: float) -> tuple[str, list[str]]:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import NoSuchModuleError

    from ..meta.store import _normalise_url

    seconds = max(1, round(timeout_s))
    try:
        engine = create_engine(
            _normalise_url(url), connect_args={"connect_timeout": seconds}, poolclass=_null_pool()
        )
    except (ImportError, NoSuchModuleError) as e:
        scheme = url.split("://", 1)[0]
        hint = (
            " (for MySQL: pip install pymysql and use mysql+pymysql://)"
            if "mysql" in scheme
            else ""
        )
        raise _Unhealthy(f"no database driver for {scheme}:// is installed{hint}") from e
    return _inspect(engine)


def _probe_sqlite(url: str, timeout_s: float) -> tuple[str, list[str]]:
    import sqlite3

    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    path = Path(make_url(url).database or "")
    if not path.is_file():
        raise _Unhealthy(f"no such SQLite file: {path}")
    uri = path.resolve().as_uri() + "?mode=ro"  # a test must never create or change the file

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, timeout=timeout_s)

    return _inspect(create_engine("sqlite://", creator=connect, poolclass=_null_pool()))


def _null_pool() -> Any:
    from sqlalchemy.pool import NullPool

    return NullPool


_SYSTEM_SCHEMAS = {"information_schema", "pg_catalog", "pg_toast", "mysql", "performance_schema"}


def _inspect(engine: Any) -> tuple[str, list[str]]:
    from sqlalchemy import inspect, text

    try:
        with engine.connect() as con:
            con.execute(text("SELECT 1"))
            inspector = inspect(con)
            default = inspector.default_schema_name
            objects: list[str] = []
            others = sorted(
                s
                for s in inspector.get_schema_names()
                if s != default and s not in _SYSTEM_SCHEMAS and not s.startswith("pg_")
            )
            schemas = [default, *others]
            for schema in schemas:
                prefix = "" if schema == default else f"{schema}."
                objects += [prefix + t for t in sorted(inspector.get_table_names(schema=schema))]
                if len(objects) >= MAX_OBJECTS:
                    break
    finally:
        engine.dispose()
    more = "+" if len(objects) > MAX_OBJECTS else ""
    return f"connected, {min(len(objects), MAX_OBJECTS)}{more} tables", objects[:MAX_OBJECTS]


def is_data_file(name: str) -> bool:
    lower = name.lower()
    for suffix in COMPRESSION_SUFFIXES:
        lower = lower.removesuffix(suffix)
    return lower.endswith(DATA_SUFFIXES)


def _probe_files(url: str, timeout_s: float) -> tuple[str, list[str]]:
    path = _file_path(url)
    if path.is_file():
        if not os.access(path, os.R_OK):
            raise _Unhealthy(f"{path} is not readable")
        return f"file {path.name}", [path.name]
    if not path.is_dir():
        raise _Unhealthy(f"no such folder: {path}")
    if not os.access(path, os.R_OK | os.X_OK):
        raise _Unhealthy(f"folder {path} is not readable")
    deadline = time.monotonic() + timeout_s
    found: list[str] = []
    for folder, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel = Path(folder).relative_to(path)
        found += [str(rel / f) for f in sorted(files) if is_data_file(f) and not f.startswith(".")]
        if len(found) > MAX_OBJECTS or time.monotonic() > deadline:
            break  # a huge tree: the first hundred files show the source works
    more = "+" if len(found) > MAX_OBJECTS else ""
    count = min(len(found), MAX_OBJECTS)
    return f"folder {path}: {count}{more} data files", sorted(found[:MAX_OBJECTS])


def _probe_http(url: str, timeout_s: float) -> tuple[str, list[str]]:
    import httpx

    try:
        # Not followed: the URL may carry credentials, and they go only to its own host.
        with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
            response = client.head(url)
            if response.status_code in (405, 501):  # no HEAD here: ask for the page, unread
                with client.stream("GET", url) as streamed:
                    response = streamed
    except httpx.HTTPError as e:
        host = urlsplit(url).hostname
        raise _Unhealthy(f"cannot reach {host}: {str(e) or type(e).__name__}") from e
    status = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    if response.status_code >= 500:
        raise _Unhealthy(status)
    return status, []


def usable_connectors(session: DapSession, connectors: Connectors) -> list[ConnectorInfo]:
    """The connectors ``session``'s principal may use (USE_CONNECTOR on ``*`` or on each).

    Someone who may use none is refused outright rather than shown an empty list, so a missing
    grant is told apart from an empty registry.
    """
    if session.check("USE_CONNECTOR", "*").allowed:
        return connectors.list()
    mine = [
        c for c in connectors.list() if session.check("USE_CONNECTOR", securable(c.name)).allowed
    ]
    if not mine:
        session.require("USE_CONNECTOR", "*")  # raises with the usual reason
    return mine
