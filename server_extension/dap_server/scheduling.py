"""The scheduler of this server: one per process, started once the server listens.

Both ``dap serve`` and the lab server of ``dap up`` run one (:class:`DapExtension.scheduler`
turns it off). Its report kernels reach data through this server's own REST API, with the API
key minted for their run (:func:`dap_kernel.scheduler.execute.kernel_env`), so a report reads
exactly what its owner may read. That is why a server that cannot name a URL of its own (one
listening on a Unix socket) does not schedule at all: the only other way for a kernel to reach
DAP is to open the home itself, with the service's secret key and database, which an analyst's
notebook must never hold.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dap_kernel.scheduler.loop import Scheduler
    from dap_kernel.session import Workspace

log = logging.getLogger("dap.scheduler")

# B104: the addresses that mean "every interface", recognised here, never bound.
_ANY_ADDRESS = ("", "0.0.0.0", "*", "localhost")  # nosec B104


def own_url(serverapp: Any) -> str:
    """Where a kernel on this machine reaches this server: what ``DAP_SERVICE_URL`` takes
    (the server's root with its base URL; :class:`~dap_kernel.transport.HttpSession` adds
    ``/dap/api/v1``). Empty for a server on a Unix socket."""
    if getattr(serverapp, "sock", ""):
        return ""
    ip = str(serverapp.ip or "")
    if ip in _ANY_ADDRESS:
        host = "127.0.0.1"
    elif ip == "::":
        host = "[::1]"
    else:
        host = f"[{ip}]" if ":" in ip and not ip.startswith("[") else ip
    scheme = "https" if getattr(serverapp, "certfile", "") else "http"
    base = str(serverapp.base_url or "/")
    return f"{scheme}://{host}:{serverapp.port}{base if base.startswith('/') else '/' + base}"


class ServiceScheduler:
    """Starts the workspace's :class:`~dap_kernel.scheduler.loop.Scheduler` in the background
    (opening the workspace must not hold up the server, nor a broken metadata URL stop it),
    wakes it when a run is queued over REST, and stops it with the server."""

    def __init__(
        self, open_workspace: Callable[[], Workspace], service_url: str, *, lease_s: float = 60.0
    ) -> None:
        self.open_workspace = open_workspace
        self.service_url = service_url
        self.lease_s = lease_s
        self.scheduler: Scheduler | None = None
        self._lock = threading.Lock()
        self._stopped = False

    def start(self) -> None:
        threading.Thread(target=self._start, name="dap-scheduler-start", daemon=True).start()

    def _start(self) -> None:
        from dap_kernel.scheduler.loop import Scheduler

        try:
            scheduler = Scheduler(
                self.open_workspace(), service_url=self.service_url, lease_s=self.lease_s
            )
        except Exception:  # the server still serves; its requests report the same failure
            log.exception("the report scheduler could not start")
            return
        with self._lock:
            if self._stopped:
                return
            scheduler.start()
            self.scheduler = scheduler
        log.info("report scheduler started (reports reach DAP at %s)", self.service_url)

    def wake(self) -> None:
        """Look at what is due now: a run was just queued."""
        with self._lock:
            if self.scheduler is not None:
                self.scheduler.wake()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self.scheduler is not None:
                self.scheduler.stop()
