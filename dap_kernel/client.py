"""How front doors reach the governed core.

In the embedded default the client is a :class:`~dap_kernel.local.LocalClient` on the
in-process :class:`~dap_kernel.session.Session`.
With ``DAP_API_KEY`` (and no service) the session is that key's principal.
When ``DAP_SERVICE_URL`` is set it is an :class:`~dap_kernel.transport.HttpSession` on that DAP
service instead (with ``DAP_API_KEY``, else the kernel's ``JUPYTERHUB_API_TOKEN``). Both satisfy
:class:`DapClient`, so ``%%dap sql`` and ``dap.sql()`` work unchanged against either.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .caller import set_client_adapter, set_default_client

if TYPE_CHECKING:
    from pathlib import Path

    import polars as pl

    from .catalog import TableInfo
    from .export.formats import Data, Exported
    from .governance.policy import Decision
    from .ingestion import IngestResult
    from .lake import Data as TableData
    from .lineage.graph import LineageGraph
    from .ml.registry import ModelRegistry
    from .quality import QualityReport, Rule
    from .quality.view import QualityStatus
    from .scheduler.model import ScheduleClient
    from .session import QueryResult, Session
    from .streams.access import StreamClient
    from .transport import HttpSession


class CatalogReader(Protocol):
    """The catalog reads every client offers (writes exist in-process only)."""

    def get(self, name: str) -> TableInfo: ...

    def list_tables(self, schema: str | None = None) -> list[TableInfo]: ...

    def search(self, term: str) -> list[TableInfo]: ...


@runtime_checkable
class DapClient(Protocol):
    """What the magics, the CLI and the ``dap.*`` facades may call on a session, local or remote.

    :class:`~dap_kernel.local.LocalClient` (in process) and
    :class:`~dap_kernel.transport.HttpSession` (a DAP service) both implement every method, so
    a feature never asks which one it holds. Writes the service does not offer over REST yet
    (ingest, table creation and registration) raise ``NotAvailableOverHttp`` there.
    """

    @property
    def catalog(self) -> CatalogReader: ...

    def sql(
        self,
        sql: str,
        params: Mapping[str, Any] | Sequence[Any] | None = None,
        *,
        limit: int | None = None,
        as_of: int | str | datetime | None = None,
        engine: str | None = None,
    ) -> pl.DataFrame: ...

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
    ) -> QueryResult: ...

    def cancel(self, query_id: str) -> bool: ...

    def progress(self, query_id: str) -> float | None: ...

    def visible_tables(self, term: str = "") -> list[TableInfo]: ...

    def describe(self, table: str) -> TableInfo: ...

    def whoami(self) -> dict[str, Any]: ...

    def check(self, action: str, securable: str) -> Decision: ...

    def require(self, action: str, securable: str) -> None: ...

    def table_rules(self, table: str) -> list[dict[str, str]]: ...

    def lineage(self, name: str, *, depth: int = 5) -> LineageGraph: ...

    def quality_check(
        self,
        table: str,
        rules: Sequence[Mapping[str, Any] | Rule] | str | Path | None = None,
        *,
        write_failures: bool = False,
    ) -> QualityReport: ...

    def set_quality_rules(
        self, table: str, rules: Sequence[Mapping[str, Any] | Rule] | str | Path
    ) -> list[Rule]: ...

    def quality_status(self, table: str) -> QualityStatus: ...

    def export(self, data: Data | None, to: str, path: str | Path, **options: Any) -> Exported: ...

    @property
    def schedules(self) -> ScheduleClient: ...

    @property
    def streams(self) -> StreamClient: ...

    @property
    def models(self) -> ModelRegistry: ...

    def ingest(
        self,
        path: str | Path,
        table: str,
        *,
        mode: str = "append",
        keys: Sequence[str] = (),
        format: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> IngestResult: ...

    def create_table(
        self,
        name: str,
        data: TableData,
        *,
        description: str = "",
        tags: Iterable[str] = (),
        column_descriptions: dict[str, str] | None = None,
        column_tags: dict[str, list[str]] | None = None,
        replace: bool = False,
    ) -> TableInfo: ...

    def register_file(
        self,
        name: str,
        path: str | Path,
        *,
        format: str | None = None,
        options: dict[str, Any] | None = None,
        description: str = "",
        tags: Iterable[str] = (),
        replace: bool = False,
    ) -> TableInfo: ...

    def register_database_table(
        self,
        name: str,
        url: str,
        source_table: str,
        *,
        description: str = "",
        tags: Iterable[str] = (),
        replace: bool = False,
    ) -> TableInfo: ...

    def register_clickhouse_table(
        self,
        name: str,
        source_table: str,
        *,
        description: str = "",
        tags: Iterable[str] = (),
        replace: bool = False,
    ) -> TableInfo: ...

    def drop_table(self, name: str, *, purge: bool = False) -> None: ...


def service_url() -> str:
    """``DAP_SERVICE_URL``, or "" in the embedded default."""
    return os.environ.get("DAP_SERVICE_URL", "").strip()


def connect(channel: str = "python") -> DapClient:
    """The session of the current principal: on the DAP service if one is configured, else on
    the default workspace in this process."""
    url = service_url()
    if url:
        return _http_session(
            url,
            os.environ.get("DAP_API_KEY", "").strip(),
            os.environ.get("JUPYTERHUB_API_TOKEN", "").strip(),
            channel,
        )
    from .local import LocalClient
    from .session import default_workspace

    workspace = default_workspace()
    # A key says who the caller is in process too: a scheduled report's kernel on a laptop
    # runs as the schedule's owner, with the key minted for its run.
    key = os.environ.get("DAP_API_KEY", "").strip()
    principal = workspace.apikeys.authenticate(key, scope="query") if key else None
    return LocalClient(workspace.session(principal, channel=channel))


def as_client(session: Session | DapClient) -> DapClient:
    """The client of ``session``: any client as it is, a bare in-process
    :class:`~dap_kernel.session.Session` (what tests and embedders hand the magics) wrapped in
    a :class:`~dap_kernel.local.LocalClient`. The one place a front door's object is adapted,
    so the magics call the protocol and never ask which kind they hold."""
    if isinstance(session, DapClient):  # has every protocol member (Session lacks the features)
        return session
    from .local import LocalClient

    return LocalClient(session)


# Looked up at each call, so a replaced ``client.connect`` (tests, embedders) is what the
# shortcuts use too.
set_default_client(lambda channel: connect(channel))
set_client_adapter(lambda session: as_client(session))


# One HttpSession per configuration, so its connections stay alive from cell to cell; a change
# of URL or key (a new `%env`) opens a new one and closes the old.
_sessions: dict[tuple[str, str, str, str], HttpSession] = {}
_sessions_lock = threading.Lock()


def _http_session(url: str, api_key: str, hub_token: str, channel: str) -> HttpSession:
    from .transport import HttpSession

    key = (url, api_key, hub_token, channel)
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            for old_key in [k for k in _sessions if k[:3] != key[:3]]:
                _sessions.pop(old_key).close()
            session = HttpSession(url, api_key=api_key, hub_token=hub_token, channel=channel)
            _sessions[key] = session
        return session


def close_http_sessions() -> None:
    """Close every cached HTTP session (tests, or before changing ``DAP_SERVICE_URL``)."""
    with _sessions_lock:
        while _sessions:
            _sessions.popitem()[1].close()


atexit.register(close_http_sessions)
