"""What the REST-backed feature clients (:mod:`.remote_schedules`, :mod:`.remote_streams`) use
of :class:`~dap_kernel.transport.HttpSession`, as a protocol: the session imports them, so they
cannot import it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class RestCalls(Protocol):
    def _json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        missing_ok: bool = False,
    ) -> dict[str, Any] | None: ...

    def _content(self, path: str, *, method: str = "GET") -> bytes: ...
