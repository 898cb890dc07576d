"""The HTTP transport: the governed session of a DAP service, seen from a user kernel.

When ``DAP_SERVICE_URL`` is set the kernel holds no data and no credentials other than a DAP API
key or a JupyterHub token; every call goes to the service's REST API, which runs it through the
same ``Session`` as the embedded default. :class:`HttpSession` mirrors the methods the magics and
``dap.*`` facades use, and turns each JSON error back into the same :class:`DapError` subclass the
in-process path would have raised, so a notebook shows the same one line either way.

One module per concept: :mod:`.session` (:class:`HttpSession`), :mod:`.rest` (the connection:
base URL, credential, JSON requests with retries), :mod:`.catalog` (:class:`HttpCatalog`),
:mod:`.wire` (JSON ↔ core types), :mod:`.errors` (errors back as the same classes) and
:mod:`.arrow` (a query's Arrow stream, read as it arrives).
"""

from __future__ import annotations

from .arrow import ARROW_STREAM
from .catalog import HttpCatalog
from .errors import (
    NotAuthenticated,
    NotAvailableOverHttp,
    ServiceUnavailable,
    error_from,
    no_writes,
)
from .rest import (
    API_PREFIX,
    CONNECT_TIMEOUT_S,
    GET_ATTEMPTS,
    METADATA_READ_TIMEOUT_S,
    auth_header,
    public_url,
)
from .session import PROGRESS_EVERY_S, HttpSession
from .wire import quality_report, table_info

__all__ = [
    "API_PREFIX",
    "ARROW_STREAM",
    "CONNECT_TIMEOUT_S",
    "GET_ATTEMPTS",
    "METADATA_READ_TIMEOUT_S",
    "PROGRESS_EVERY_S",
    "HttpCatalog",
    "HttpSession",
    "NotAuthenticated",
    "NotAvailableOverHttp",
    "ServiceUnavailable",
    "auth_header",
    "error_from",
    "no_writes",
    "public_url",
    "quality_report",
    "table_info",
]
