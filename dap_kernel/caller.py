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
