"""The caller's default client, for the ``dap.*`` shortcuts that live in feature modules.

``dap.quality.check("orders")``, ``dap.lineage("orders")``, ``dap.export(df, ...)`` and
``dap.catalog.search(...)`` are functions of feature (or catalog) modules, yet they run on the
caller's client, which :mod:`dap_kernel.client` builds one layer above them. So that no feature
imports the client (dependencies point one way), the client registers its ``connect`` here when
it is imported (``import dap_kernel`` does), and the features ask :func:`default_client`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import DapError

_factory: Callable[[str], Any] | None = None
_adapter: Callable[[Any], Any] | None = None


def set_default_client(factory: Callable[[str], Any]) -> None:
    """Install ``factory(channel)`` as the source of the caller's client (done by the client)."""
    global _factory
    _factory = factory


def default_client(channel: str = "python") -> Any:
    """The caller's client (in process or on the DAP service); the caller annotates the
    variable it assigns with the small protocol it needs."""
    if _factory is None:  # fails closed: never a client made up down here
        raise DapError("no DAP client is configured: import dap_kernel first")
    return _factory(channel)


def set_client_adapter(adapter: Callable[[Any], Any]) -> None:
    """Install ``adapter(session)``: the client of a session a caller passed in (a bare
    in-process session is wrapped; a client is itself). Done by the client, like the factory."""
    global _adapter
    _adapter = adapter


def client_of(session: Any | None, channel: str = "python") -> Any:
    """The client of ``session``, or the caller's default client when there is none: what a
    feature calls for the operations a client offers per door (``.models``, ``.streams``)."""
    if session is None:
        return default_client(channel)
    if _adapter is None:  # fails closed, as above
        raise DapError("no DAP client is configured: import dap_kernel first")
    return _adapter(session)
