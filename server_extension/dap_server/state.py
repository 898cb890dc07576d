"""What the handlers share, in a module of its own so the handlers and the extension that
builds them do not import each other."""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import TYPE_CHECKING

from dap_kernel.errors import DapError
from dap_kernel.settings import Settings
from dap_kernel.sharedstate.results import SharedResultCache

from .auth import HubIdentity
from .runtime import Runtime

if TYPE_CHECKING:
    from dap_kernel.session import Workspace


class DapState:
    """What handlers share: the workspace (opened on first request, so a broken
    DAP_META_URL does not stop Jupyter), the runtime and how callers are identified."""

    def __init__(
        self, settings: Settings, runtime: Runtime, hub: HubIdentity | None, identity_mode: str
    ) -> None:
        self.settings = settings
        self.runtime = runtime
        self.hub = hub
        self.identity_mode = identity_mode
        self.owner = settings.user
        self._workspace: Workspace | None = None
        self._lock = threading.Lock()
        self._closed = threading.Event()
        runtime.attach(self.workspace)

    def workspace(self) -> Workspace:
        with self._lock:
            if self._workspace is None:
                from dap_kernel.session import Workspace

                ws = Workspace(self.settings)
                # Every worker of the service finds what another cached (encrypted rows).
                ws.results = SharedResultCache(
                    ws.meta, ws.secrets.cipher(), ws.results.max_bytes, ws.results.ttl_s
                )
                self._workspace = ws
                threading.Thread(
                    target=self._watch_cancels, name="dap-cancels", daemon=True
                ).start()
            return self._workspace

    def _watch_cancels(self, every_s: float = 0.2) -> None:
        """Cancel the queries running here that their owner cancelled through another worker."""
        while not self._closed.wait(every_s):
            ws = self._workspace
            if ws is None or not self.runtime.running_here():
                continue
            try:
                engine_ids = self.runtime.queries.cancel_requests()
            except DapError as e:  # the database is away: try again at the next round
                logging.getLogger(__name__).warning("DAP: cancel requests unread: %s", e)
                continue
            for engine_id in engine_ids:
                with contextlib.suppress(DapError):
                    ws.cancel(engine_id)

    async def drain(self) -> int:
        """Stop taking queries; let the running ones finish within the grace period. Returns
        how many were cancelled after it."""

        def cancel(engine_id: str) -> None:
            if self._workspace is not None:  # no workspace opened: nothing can be running
                self._workspace.cancel(engine_id)

        return await self.runtime.drain(self.settings.shutdown_grace_s, cancel)

    def close(self) -> None:
        self._closed.set()
        self.runtime.close()
        if self._workspace is not None:
            self._workspace.close()
