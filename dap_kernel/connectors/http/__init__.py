"""Read records from a REST/JSON API: auth, pagination, retries, and nothing silently dropped.

An :class:`ApiSource` describes the endpoint declaratively (it is what a pipeline's YAML holds),
so the same definition works from Python, the CLI and pipelines. Secrets are referenced as
``${secret:NAME}`` and resolved from the :class:`~dap_kernel.governance.secrets.SecretStore` at
read time, so the definition itself never holds a credential, and every message and log line
is scrubbed of the resolved values. A reference may stand only where its value is sent to the
source's host (``auth`` fields, credential headers: :mod:`dap_kernel.governance.secret_refs`),
and credentials never follow a redirect or a ``Link`` to another host.

Records become an Arrow table through polars: nested objects stay nested (struct columns,
lists stay lists) rather than being flattened, so no information is lost and SQL can reach
into them. A record that is not a JSON object, or whose field has another JSON type than the
same field in the other records, goes to ``Extracted.bad`` with the page URL as
``_dap_source`` and its index in that page's record list (0-based) as ``_dap_line``.

One module per concept: :mod:`.spec` (the definition), :mod:`.credentials` (secrets resolved
and scrubbed), :mod:`.auth` (how requests carry them), :mod:`.fetch` (requests with retries and
same-host redirects), :mod:`.pagination` (the pages), :mod:`.jsonpath` (finding records in a
body), :mod:`.records` (records to a table, and what is quarantined) and :mod:`.read`
(:func:`read_api`, which strings them together).
"""

from __future__ import annotations

from .fetch import MAX_REDIRECTS
from .read import read_api
from .spec import (
    ApiKeyAuth,
    ApiSource,
    Auth,
    BasicAuth,
    BearerAuth,
    CursorPagination,
    Incremental,
    LinkPagination,
    NoAuth,
    NoPagination,
    OAuth2Auth,
    OffsetPagination,
    PagePagination,
    Pagination,
)

__all__ = [
    "MAX_REDIRECTS",
    "ApiKeyAuth",
    "ApiSource",
    "Auth",
    "BasicAuth",
    "BearerAuth",
    "CursorPagination",
    "Incremental",
    "LinkPagination",
    "NoAuth",
    "NoPagination",
    "OAuth2Auth",
    "OffsetPagination",
    "PagePagination",
    "Pagination",
    "read_api",
]
