"""The governed session of a DAP service, seen from a user kernel: :class:`HttpSession` mirrors
the methods of :class:`~dap_kernel.session.Session` that the magics and ``dap.*`` facades use,
each one a REST call that the service runs through that same ``Session``.

What a kernel may not do here (catalog writes, policy details) fails as
:class:`~.errors.NotAvailableOverHttp` rather than reaching for the lake.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from ..errors import DapError, QueryCancelled
from .arrow import ARROW_STREAM, read_arrow
from .catalog import HttpCatalog
from .errors import NotAvailableOverHttp, error_of, no_writes, unreachable
from .rest import CONNECT_TIMEOUT_S, RestConnection
from .wire import header_list, quality_report, rule_specs, table_info, wire_params

if TYPE_CHECKING:
    from pathlib import Path

    import polars as pl

    from ..catalog import TableInfo
    from ..export.formats import Data, Exported
    from ..governance.policy import Decision
    from ..ingestion import IngestResult
    from ..lineage.graph import LineageGraph
    from ..quality import QualityReport, Rule
    from ..quality.view import QualityStatus
    from ..remote_models import HttpModels
    from ..remote_schedules import HttpSchedules
    from ..remote_streams import HttpStreams
    from ..session import QueryResult

PROGRESS_EVERY_S = 0.5  # the magics poll every 50 ms; the network need not see each poll


class HttpSession(RestConnection):
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
        super().__init__(
            url, api_key=api_key, hub_token=hub_token, channel=channel, transport=transport
        )
        self._progress: dict[str, tuple[float, float | None]] = {}
        self.catalog = HttpCatalog(self)

    def __repr__(self) -> str:
        return f"HttpSession({self.url!r})"

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
        engine: str | None = None,
    ) -> pl.DataFrame:
        """Run one governed query on the service and return a polars DataFrame."""
        return self.query(sql, params, limit=limit, as_of=as_of, engine=engine).to_polars()

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
        engine: str | None = None,
    ) -> QueryResult:
        """Run one governed query on the service; the result comes back as an Arrow stream.

        A mapping of parameters (the magics pass the whole notebook namespace) is cut down to
        the names the statement uses before anything leaves the kernel.
        """
        from ..session import QueryResult

        query_id = query_id or uuid.uuid4().hex
        body: dict[str, Any] = {
            "sql": sql,
            "params": wire_params(sql, params),
            "query_id": query_id,
            "cache": cache,
        }
        if limit is not None:
            body["limit"] = limit
        if timeout_s is not None and timeout_s > 0:
            body["timeout"] = timeout_s
        if as_of is not None:
            body["as_of"] = as_of.isoformat() if isinstance(as_of, datetime) else as_of
        if engine is not None:
            body["engine"] = engine
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
            raise unreachable(self.url, e) from None
        except KeyboardInterrupt:
            raise self._interrupted(query_id) from None
        try:
            if response.status_code >= 400 or ARROW_STREAM not in response.headers.get(
                "Content-Type", ""
            ):
                response.read()
                raise error_of(self.url, response, has_credentials=self._has_credentials)
            table = read_arrow(response, on_batch)
        except httpx.HTTPError as e:
            raise unreachable(self.url, e) from None
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
            header_list(response.headers.get("X-DAP-Tables", "")),
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
        from ..governance.policy import Decision

        body = {"checks": [{"action": action, "securable": securable}]}
        data = self._json("POST", "access/check", json=body) or {}
        result = (data.get("results") or [{}])[0]
        return Decision(bool(result.get("allowed")), str(result.get("reason", "")))

    def require(self, action: str, securable: str) -> None:
        """Raise :class:`QueryRefused` unless this principal may ``action`` the securable."""
        from ..errors import QueryRefused

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
        from ..lineage.graph import LineageGraph

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
            body["rules"] = rule_specs(rules)
        data = self._json("POST", f"quality/{quote(table, safe='')}/check", json=body) or {}
        return quality_report(data, table)

    def set_quality_rules(
        self, table: str, rules: Sequence[Mapping[str, Any] | Rule] | str | Path
    ) -> list[Rule]:
        """Replace a table's rules on the service (``POST quality/{table}/rules``)."""
        from ..quality import parse_rules

        body = {"rules": rule_specs(rules)}
        data = self._json("POST", f"quality/{quote(table, safe='')}/rules", json=body) or {}
        return parse_rules(list(data.get("rules") or []))

    def quality_status(self, table: str) -> QualityStatus:
        """The service's governed answer (``GET quality/{table}``), as in-process."""
        from ..quality.view import QualityStatus

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
        from ..remote_schedules import HttpSchedules

        return HttpSchedules(self)

    @property
    def streams(self) -> HttpStreams:
        """Kafka streams on the service (REST ``streams``), run and watched by the service."""
        from ..remote_streams import HttpStreams

        return HttpStreams(self)

    @property
    def models(self) -> HttpModels:
        """The model registry on the service (REST ``models/{name}/…``)."""
        from ..remote_models import HttpModels

        return HttpModels(self)

    def export(self, data: Data | None, to: str, path: str | Path, **options: Any) -> Exported:
        """Write the file in this kernel; its SQL runs (and is audited) on the service."""
        from ..export.api import write_export

        return write_export(data, to, path, session=self, **options)

    def ingest(self, path: str | Path, table: str, **_options: Any) -> IngestResult:
        raise no_writes("loading files")

    def create_table(self, name: str, *_args: Any, **_options: Any) -> TableInfo:
        raise no_writes(f"creating table {name}")

    def register_file(self, name: str, *_args: Any, **_options: Any) -> TableInfo:
        raise no_writes(f"registering {name}")

    def register_database_table(self, name: str, *_args: Any, **_options: Any) -> TableInfo:
        raise no_writes(f"registering {name}")

    def register_clickhouse_table(self, name: str, *_args: Any, **_options: Any) -> TableInfo:
        raise no_writes(f"registering {name}")

    def drop_table(self, name: str, *, purge: bool = False) -> None:
        raise no_writes(f"dropping {name}")
