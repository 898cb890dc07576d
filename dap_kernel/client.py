"""How front doors reach the governed core.

In the embedded default the client is the in-process :class:`~dap_kernel.session.Session`.
When ``DAP_SERVICE_URL`` is set it is an :class:`~dap_kernel.transport.HttpSession` on that DAP
service instead (with ``DAP_API_KEY``, else the kernel's ``JUPYTERHUB_API_TOKEN``). Both satisfy
:class:`DapClient`, so ``%%dap sql`` and ``dap.sql()`` work unchanged against either.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import polars as pl

    from .catalog import TableInfo
    from .governance.policy import Decision
    from .session import QueryResult
    from .transport import HttpSession


class CatalogReader(Protocol):
    """The catalog reads every client offers (writes exist in-process only)."""

    def get(self, name: str) -> TableInfo: ...

    def list_tables(self, schema: str | None = None) -> list[TableInfo]: ...

    def search(self, term: str) -> list[TableInfo]: ...


class DapClient(Protocol):
    """What the magics and the ``dap.*`` facades may call on a session, local or remote."""

    @property
    def catalog(self) -> CatalogReader: ...

    def sql(
        self,
        sql: str,
        params: Mapping[str, Any] | Sequence[Any] | None = None,
        *,
        limit: int | None = None,
        as_of: int | str | datetime | None = None,
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
    ) -> QueryResult: ...

    def cancel(self, query_id: str) -> bool: ...

    def progress(self, query_id: str) -> float | None: ...

    def visible_tables(self, term: str = "") -> list[TableInfo]: ...

    def describe(self, table: str) -> TableInfo: ...

    def whoami(self) -> dict[str, Any]: ...

    def check(self, action: str, securable: str) -> Decision: ...

    def require(self, action: str, securable: str) -> None: ...


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
    from .session import default_workspace

    return default_workspace().session(channel=channel)


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
