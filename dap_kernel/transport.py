"""The HTTP transport: the governed session of a DAP service, seen from a user kernel.

When ``DAP_SERVICE_URL`` is set the kernel holds no data and no credentials other than a DAP API
key or a JupyterHub token; every call goes to the service's REST API, which runs it through the
same ``Session`` as the embedded default. :class:`HttpSession` mirrors the methods the magics and
``dap.*`` facades use, and turns each JSON error back into the same :class:`DapError` subclass the
in-process path would have raised, so a notebook shows the same one line either way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from .errors import DapError, MissingParameter, QueryCancelled, Unauthenticated

if TYPE_CHECKING:
    from pathlib import Path

    import polars as pl
    import pyarrow as pa

    from .catalog import TableInfo
    from .export.formats import Data, Exported
    from .governance.policy import Decision
    from .ingestion import IngestResult
    from .lineage.graph import LineageGraph
    from .quality import QualityReport, Rule
    from .quality.view import QualityStatus
    from .remote_schedules import HttpSchedules
    from .session import QueryResult

API_PREFIX = "/dap/api/v1"
ARROW_STREAM = "application/vnd.apache.arrow.stream"
CONNECT_TIMEOUT_S = 5.0
METADATA_READ_TIMEOUT_S = 120.0  # catalog, whoami, checks: the service answers these quickly
GET_ATTEMPTS = 3  # a service restarting under a hub is back within a second or two
PROGRESS_EVERY_S = 0.5  # the magics poll every 50 ms; the network need not see each poll


class ServiceUnavailable(DapError):
    """The DAP service cannot be reached, or answered something that is not DAP."""

    code = "service_unavailable"
    http_status = 503


# The service did not accept the key or token this kernel sent.
NotAuthenticated = Unauthenticated


class NotAvailableOverHttp(DapError):
    """An operation the REST API does not offer (yet): writes to the catalog, policy details."""

    code = "not_available"
    http_status = 501


def public_url(url: str) -> str:
    """The URL as it may be shown: no user:password, no query string."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def auth_header(api_key: str = "", hub_token: str = "") -> dict[str, str]:
    """A DAP API key wins over the hub token: it was set on purpose for this kernel."""
    if api_key:
        return {"Authorization": f"Bearer {api_key}"}
    if hub_token:
        return {"Authorization": f"token {hub_token}"}
    return {}


class HttpSession:
    """The methods of :class:`~dap_kernel.session.Session` the front doors use, over REST.

    One ``httpx.Client`` per instance keeps connections alive between cells.
    """

    def __init__(
        self,
        url: str,
        *,
        api_key: str = "",
        hub_token: str = "",
        channel: str = "python",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        from ._version import __version__

        if not url.startswith(("http://", "https://")):
            raise DapError(f"DAP_SERVICE_URL={public_url(url)!r} is not an http(s) URL")
        self.url = public_url(url)
        self.channel = channel
        headers = {
            "User-Agent": f"dap-client/{__version__}",
            "X-DAP-Channel": channel,  # the audit log names the front door behind the REST call
            **auth_header(api_key, hub_token),
        }
        self._has_credentials = bool(api_key or hub_token)
        self._client = httpx.Client(
            base_url=url.rstrip("/") + API_PREFIX + "/",
            headers=headers,
            timeout=httpx.Timeout(METADATA_READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
            transport=transport,
        )
        self._progress: dict[str, tuple[float, float | None]] = {}
        self.catalog = HttpCatalog(self)

    def __repr__(self) -> str:
        return f"HttpSession({self.url!r})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpSession:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- the governed path ------------------------------------------------------------------

    def sql(
        self,
        sql: str,
        params: Mapping[str, Any] | Sequence[Any] | None = None,
        *,
        limit: int | None = None,
        as_of: int | str | datetime | None = None,
    ) -> pl.DataFrame:
        """Run one governed query on the service and return a polars DataFrame."""
        return self.query(sql, params, limit=limit, as_of=as_of).to_polars()

    def query(
        self,
        sql: str,
        params: Mapping[str, Any] | Sequence[Any] | None = None,
        *,
        limit: int | None = None,
        query_id: str | None = None,
        on_batch: Callable[[int], None] | None = None,
        cache: bool = False,
        timeout_s: float | None = None,
        as_of: int | str | datetime | None = None,
    ) -> QueryResult:
        """Run one governed query on the service; the result comes back as an Arrow stream.

        A mapping of parameters (the magics pass the whole notebook namespace) is cut down to
        the names the statement uses before anything leaves the kernel.
        """
        from .session import QueryResult

        query_id = query_id or uuid.uuid4().hex
        body: dict[str, Any] = {
            "sql": sql,
            "params": _wire_params(sql, params),
            "query_id": query_id,
            "cache": cache,
        }
        if limit is not None:
            body["limit"] = limit
        if timeout_s is not None and timeout_s > 0:
            body["timeout"] = timeout_s
        if as_of is not None:
            body["as_of"] = as_of.isoformat() if isinstance(as_of, datetime) else as_of
        started = time.perf_counter()
        try:
            request = self._client.build_request(
                "POST",
                "query",
                json=body,
                headers={"Accept": ARROW_STREAM},
                timeout=httpx.Timeout(None, connect=CONNECT_TIMEOUT_S),  # queries may run long
            )
            response = self._client.send(request, stream=True)
        except httpx.HTTPError as e:
            raise self._unreachable(e) from None
        except KeyboardInterrupt:
            raise self._interrupted(query_id) from None
        try:
            if response.status_code >= 400 or ARROW_STREAM not in response.headers.get(
                "Content-Type", ""
            ):
                response.read()
                raise self._error(response)
            table = _read_arrow(response, on_batch)
        except httpx.HTTPError as e:
            raise self._unreachable(e) from None
        except KeyboardInterrupt:
            raise self._interrupted(query_id) from None
        finally:
            response.close()
            self._progress.pop(query_id, None)
        rows = response.headers.get("X-DAP-Row-Count")
        if (
            response.headers.get("X-DAP-Truncated") == "true"
            and (limit is None or table.num_rows < limit)
            and rows is not None
        ):
            import warnings

            warnings.warn(
                f"the DAP service cut the result at {int(rows):,} rows (its max_rows); "
                "aggregate in SQL or export in steps",
                stacklevel=2,
            )
        return QueryResult(
            table,
            response.headers.get("X-DAP-Query-Id", query_id),
            (time.perf_counter() - started) * 1000,
            _header_list(response.headers.get("X-DAP-Tables", "")),
            response.headers.get("X-DAP-Sql", ""),
            cached=response.headers.get("X-DAP-Cached") == "true",
        )

    def _interrupted(self, query_id: str) -> QueryCancelled:
        """Ctrl-C in the kernel: the service must stop the query too, not run on unread."""
        # Unreachable, or a second Ctrl-C: the service's own limits stop it then.
        with contextlib.suppress(DapError, KeyboardInterrupt):
            self.cancel(query_id)
        return QueryCancelled("the query was cancelled (interrupted)")

    def cancel(self, query_id: str) -> bool:
        """Stop a running query of this caller; False if the service no longer runs it."""
        data = self._json("DELETE", f"query/{quote(query_id, safe='')}", missing_ok=True)
        return bool(data and data.get("cancelled"))

    def progress(self, query_id: str) -> float | None:
        """Percent done of a running query, or None (unknown, finished, or not started yet)."""
        now = time.monotonic()
        last = self._progress.get(query_id)
        if last is not None and now - last[0] < PROGRESS_EVERY_S:
            return last[1]
        data = self._json(
            "GET", f"query/{quote(query_id, safe='')}", params={"page_size": 1}, missing_ok=True
        )
        value = data.get("progress") if data and data.get("status") == "running" else None
        done = float(value) if isinstance(value, int | float) else None
        self._progress[query_id] = (now, done)
        return done

    # -- identity and access ----------------------------------------------------------------

    def whoami(self) -> dict[str, Any]:
        answer = dict(self._json("GET", "whoami") or {})
        answer["service"] = self.url
        return answer

    def check(self, action: str, securable: str) -> Decision:
        from .governance.policy import Decision

        body = {"checks": [{"action": action, "securable": securable}]}
        data = self._json("POST", "access/check", json=body) or {}
        result = (data.get("results") or [{}])[0]
        return Decision(bool(result.get("allowed")), str(result.get("reason", "")))

    def require(self, action: str, securable: str) -> None:
        """Raise :class:`QueryRefused` unless this principal may ``action`` the securable."""
        from .errors import QueryRefused

        decision = self.check(action, securable)
        if not decision.allowed:
            raise QueryRefused(decision.reason)

    def visible_tables(self, term: str = "") -> list[TableInfo]:
        """The tables this caller may read (the service filters them), or a search of them."""
        data = self._json("GET", "catalog", params={"q": term} if term.strip() else None) or {}
        return [table_info(t) for t in data.get("tables", [])]

    def describe(self, table: str) -> TableInfo:
        """One table as this caller may see it (the service governs it; no sample rows)."""
        data = self._json("GET", f"catalog/{quote(table, safe='')}", params={"sample": 0})
        return table_info(data or {})

    # -- features ---------------------------------------------------------------------------

    def lineage(self, name: str, *, depth: int = 5) -> LineageGraph:
        """Through the service's ``lineage/{table}``, which applies the same governance."""
        from .lineage.graph import LineageGraph

        parts = name.strip().split(".")
        table, column = (".".join(parts[:2]), parts[2]) if len(parts) == 3 else (name.strip(), None)
        params: dict[str, Any] = {"depth": depth}
        if column:
            params["column"] = column
        data = self._json("GET", f"lineage/{quote(table, safe='')}", params=params) or {}
        return LineageGraph.from_dict(data)

    def quality_check(
        self,
        table: str,
        rules: Sequence[Mapping[str, Any] | Rule] | str | Path | None = None,
        *,
        write_failures: bool = False,
    ) -> QualityReport:
        """The same check, run where the data lives (``POST quality/{table}/check``)."""
        body: dict[str, Any] = {"write_failures": write_failures}
        if rules is not None:
            body["rules"] = _rule_specs(rules)
        data = self._json("POST", f"quality/{quote(table, safe='')}/check", json=body) or {}
        return quality_report(data, table)

    def set_quality_rules(
        self, table: str, rules: Sequence[Mapping[str, Any] | Rule] | str | Path
    ) -> list[Rule]:
        """Replace a table's rules on the service (``POST quality/{table}/rules``)."""
        from .quality import parse_rules

        body = {"rules": _rule_specs(rules)}
        data = self._json("POST", f"quality/{quote(table, safe='')}/rules", json=body) or {}
        return parse_rules(list(data.get("rules") or []))

    def quality_status(self, table: str) -> QualityStatus:
        """The service's governed answer (``GET quality/{table}``), as in-process."""
        from .quality.view import QualityStatus

        return QualityStatus.from_dict(self._json("GET", f"quality/{quote(table, safe='')}") or {})

    def table_rules(self, table: str) -> list[dict[str, str]]:
        """Grants and policies stay with the service; an admin manages them there."""
        self.require("SELECT", table)
        raise NotAvailableOverHttp(
            f"you may read {table}; its grants, row filters and masks are not shown through "
            "the DAP service: ask an admin (they manage them with `dap grant`, `dap policy`)"
        )

    @property
    def schedules(self) -> HttpSchedules:
        """Scheduled reports on the service (REST ``schedules`` and ``schedule-runs``)."""
        from .remote_schedules import HttpSchedules

        return HttpSchedules(self)

    def export(self, data: Data | None, to: str, path: str | Path, **options: Any) -> Exported:
        """Write the file in this kernel; its SQL runs (and is audited) on the service."""
        from .export.api import write_export

        return write_export(data, to, path, session=self, **options)

    def ingest(self, path: str | Path, table: str, **_options: Any) -> IngestResult:
        raise no_writes("loading files")

    def create_table(self, name: str, *_args: Any, **_options: Any) -> TableInfo:
        raise no_writes(f"creating table {name}")

    def register_file(self, name: str, *_args: Any, **_options: Any) -> TableInfo:
        raise no_writes(f"registering {name}")

    def register_database_table(self, name: str, *_args: Any, **_options: Any) -> TableInfo:
        raise no_writes(f"registering {name}")

    def drop_table(self, name: str, *, purge: bool = False) -> None:
        raise no_writes(f"dropping {name}")

    # -- plumbing ---------------------------------------------------------------------------

    def _json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        missing_ok: bool = False,
    ) -> dict[str, Any] | None:
        """One JSON request; idempotent ones are retried while the service cannot be reached."""
        attempts = GET_ATTEMPTS if method in ("GET", "DELETE") else 1
        for attempt in range(attempts):
            try:
                response = self._client.request(method, path, params=params, json=json)
                break
            except (httpx.ConnectError, httpx.ConnectTimeout) as e:
                if attempt + 1 == attempts:
                    raise self._unreachable(e) from None
                time.sleep(0.2 * 2**attempt)
            except httpx.HTTPError as e:
                raise self._unreachable(e) from None
        if missing_ok and response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise self._error(response)
        try:
            data = response.json()
        except ValueError:
            raise self._not_dap(response) from None
        if not isinstance(data, dict):
            raise self._not_dap(response)
        return data

    def _content(self, path: str, *, method: str = "GET") -> bytes:
        """One request answered with a file rather than JSON (a report, a log), or with
        nothing (204)."""
        for attempt in range(GET_ATTEMPTS):
            try:
                response = self._client.request(method, path)
                break
            except (httpx.ConnectError, httpx.ConnectTimeout) as e:
                if attempt + 1 == GET_ATTEMPTS:
                    raise self._unreachable(e) from None
                time.sleep(0.2 * 2**attempt)
            except httpx.HTTPError as e:
                raise self._unreachable(e) from None
        if response.status_code >= 400:
            raise self._error(response)
        return response.content

    def _unreachable(self, error: httpx.HTTPError) -> DapError:
        if isinstance(error, httpx.TimeoutException):
            why = "timed out"
        elif isinstance(error, httpx.ConnectError):
            why = "connection refused or host not found"
        else:
            why = type(error).__name__
        return ServiceUnavailable(f"the DAP service at {self.url} does not answer ({why})")

    def _not_dap(self, response: httpx.Response) -> DapError:
        return ServiceUnavailable(
            f"the DAP service at {self.url} answered HTTP {response.status_code} with something "
            "that is not DAP: check DAP_SERVICE_URL"
        )

    def _error(self, response: httpx.Response) -> DapError:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not (isinstance(body, dict) and isinstance(body.get("message"), str)):
            return self._not_dap(response)
        code = str(body.get("error", ""))
        message = _one_line(body["message"])
        if response.status_code == 401 or code == "unauthenticated":
            hint = (
                "check DAP_API_KEY"
                if self._has_credentials
                else "set DAP_API_KEY (create one with `dap apikey create`)"
            )
            return NotAuthenticated(f"the DAP service at {self.url} refused: {message}; {hint}")
        return error_from(code, message, response.status_code)


class HttpCatalog:
    """``connect().catalog`` over HTTP: reads only, and only of tables the caller may read."""

    def __init__(self, session: HttpSession) -> None:
        self._session = session

    def get(self, name: str) -> TableInfo:
        return self._session.describe(name)

    def list_tables(self, schema: str | None = None) -> list[TableInfo]:
        tables = self._session.visible_tables()
        return [t for t in tables if schema is None or t.schema == schema]

    def search(self, term: str) -> list[TableInfo]:
        return self._session.visible_tables(term)


def no_writes(what: str) -> DapError:
    """Catalog writes need the lake, which only the service holds."""
    return NotAvailableOverHttp(
        f"{what} is not available through the DAP service yet: "
        "ask an admin to run `dap catalog register` on the service"
    )


# -- JSON ↔ core types ------------------------------------------------------------------------


def table_info(data: Mapping[str, Any]) -> TableInfo:
    """A catalog entry from ``GET catalog`` (no columns) or ``GET catalog/{table}``."""
    from .catalog import ColumnInfo, TableInfo

    name = str(data.get("name", ""))
    schema = str(data.get("schema") or name.partition(".")[0])
    updated = data.get("updated_at")
    return TableInfo(
        schema=schema,
        name=str(data.get("table") or name.partition(".")[2]),
        kind=str(data.get("kind", "")),
        location="",  # where the data lives is the service's business
        description=str(data.get("description") or ""),
        owner=str(data.get("owner") or ""),
        tags=list(data.get("tags") or []),
        row_count=data.get("row_count"),
        version=int(data.get("version") or 0),
        updated_at=dt.datetime.fromisoformat(updated) if updated else dt.datetime.min,
        columns=[
            ColumnInfo(
                name=str(c["name"]),
                data_type=str(c.get("type", "")),
                nullable=bool(c.get("nullable", True)),
                description=str(c.get("description") or ""),
                tags=list(c.get("tags") or []),
                null_count=c.get("null_count"),
                distinct_count=c.get("distinct_count"),
                min_value=c.get("min_value"),
                max_value=c.get("max_value"),
            )
            for c in data.get("columns") or []
        ],
    )


def quality_report(data: Mapping[str, Any], table: str) -> QualityReport:
    """A check's answer from ``POST quality/{table}/check``; failing rows stay on the service."""
    import polars as pl

    from .quality import QualityReport, RuleResult

    checked = data.get("checked_at")
    results = [
        RuleResult(
            rule=str(r.get("rule", "")),
            kind=str(r.get("kind", "")),
            severity=r.get("severity", "error"),
            status=r.get("status", "fail"),
            failures=r.get("failures"),  # None: the service hides it from this caller
            message=str(r.get("message") or ""),
            column=r.get("column"),
            details=dict(r.get("details") or {}),
        )
        for r in data.get("results") or []
    ]
    return QualityReport(
        results=results,
        passed=pl.DataFrame(),
        failed=pl.DataFrame(),
        ok=bool(data.get("ok")),
        table=str(data.get("table") or table),
        checked_at=dt.datetime.fromisoformat(checked)
        if isinstance(checked, str)
        else dt.datetime.now(dt.UTC),
        rows=data.get("rows"),
        recorded=bool(data.get("recorded")),
        quarantined=int(data.get("quarantined") or 0),
    )


def _rule_specs(rules: Sequence[Mapping[str, Any] | Rule] | str | Path) -> list[dict[str, Any]]:
    """Rules in their YAML form, as the REST body takes them (files are read here)."""
    from .quality import parse_rules

    return [r.to_spec() for r in parse_rules(rules)]


def error_from(code: str, message: str, status: int = 500) -> DapError:
    """The DapError subclass whose ``code`` the service sent, carrying its message."""
    cls = _error_classes().get(code)
    if cls is None:
        error = DapError(message)
        error.code = code or DapError.code  # keep what the service said on the instance
        error.http_status = status
        return error
    error = cls.__new__(cls)  # subclasses may take other arguments: set the message directly
    DapError.__init__(error, message)
    if isinstance(error, MissingParameter):
        error.names = re.findall(r":(\w+)", message)
    return error


def _error_classes() -> dict[str, type[DapError]]:
    """Every DapError subclass the kernel knows, by code; the most general one wins a tie."""
    # Modules that define more error classes (imported by their own name, not the package's).
    import dap_kernel.governance.apikeys
    import dap_kernel.governance.secrets
    import dap_kernel.querybuild  # noqa: F401

    found: dict[str, type[DapError]] = {}
    queue: list[type[DapError]] = [DapError]
    while queue:
        cls = queue.pop(0)
        found.setdefault(cls.code, cls)
        queue.extend(cls.__subclasses__())
    return found


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _header_list(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _wire_params(
    sql: str, params: Mapping[str, Any] | Sequence[Any] | None
) -> dict[str, Any] | list[Any] | None:
    """Parameters as JSON: only the names the statement uses, values in JSON types.

    The statement is parsed here only to pick names; the service parses and checks it again.
    """
    if params is None:
        return None
    if isinstance(params, Mapping):
        from .governance.rewrite import parameters, parse_one_statement

        try:
            names, _ = parameters(parse_one_statement(sql))
        except DapError:
            return None  # the service reports the same syntax error, with nothing sent
        return {n: _wire_value(n, params[n]) for n in names if n in params}
    if isinstance(params, str | bytes):
        return [_wire_value("1", params)]
    return [_wire_value(str(i + 1), v) for i, v in enumerate(params)]


def _wire_value(name: str, value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", None) == 0:
        return _wire_value(name, value.item())  # numpy and friends' scalars
    if isinstance(value, list | tuple):
        return [_wire_value(name, v) for v in value]
    raise DapError(
        f"parameter :{name} is a {type(value).__name__}, which cannot be sent to the DAP "
        "service: pass a string, number, boolean, date or list of those"
    )


class _Chunks(io.RawIOBase):
    """The response body as a file, read as it arrives (Arrow reads batch by batch)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def _read_arrow(response: httpx.Response, on_batch: Callable[[int], None] | None) -> pa.Table:
    source = io.BufferedReader(_Chunks(response.iter_bytes()), buffer_size=1 << 20)
    with source:
        return _read_batches(source, on_batch)


def _read_batches(source: io.BufferedIOBase, on_batch: Callable[[int], None] | None) -> pa.Table:
    import pyarrow as pa

    try:
        reader = pa.ipc.open_stream(source)
        batches = []
        rows = 0
        for batch in reader:
            batches.append(batch)
            rows += batch.num_rows
            if on_batch is not None:
                on_batch(rows)
        return pa.Table.from_batches(batches, schema=reader.schema)
    except pa.ArrowInvalid as e:
        raise DapError(f"the DAP service sent a result that could not be read: {e}") from None
