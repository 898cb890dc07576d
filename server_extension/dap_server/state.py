"""What the handlers share, in a module of its own so the handlers and the extension that
builds them do not import each other."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from dap_kernel.settings import Settings

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

    def workspace(self) -> Workspace:
        with self._lock:
            if self._workspace is None:
                from dap_kernel.session import Workspace

                self._workspace = Workspace(self.settings)
            return self._workspace

    async def drain(self) -> int:
        """Stop taking queries; let the running ones finish within the grace period. Returns
        how many were cancelled after it."""

        def cancel(engine_id: str) -> None:
            if self._workspace is not None:  # no workspace opened: nothing can be running
                self._workspace.cancel(engine_id)

        return await self.runtime.drain(self.settings.shutdown_grace_s, cancel)

    def close(self) -> None:
        self.runtime.close()
        if self._workspace is not None:
            self._workspace.close()
