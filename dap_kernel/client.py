"""How front doors reach the governed core.

In the embedded default the client is the in-process :class:`~dap_kernel.session.Session`.
The server-extension issue adds an HTTP transport chosen when ``DAP_SERVICE_URL`` is set; both
expose the same methods, so ``%%dap sql`` works unchanged against either.
"""

from __future__ import annotations

from .session import Session, default_workspace


def connect(channel: str = "python") -> Session:
    """The session of the current principal on the default workspace."""
    return default_workspace().session(channel=channel)
