"""Live dashboards: redraw when a table behind the dashboard gets a new version.

A streamed table commits a new Delta version per micro-batch (one a second by default). The
dashboard's kernel asks the catalog for the versions of the tables its cards read, at most once
per ``every`` seconds — never faster than the batch interval, and one metadata lookup per table,
never a query of the data — and refreshes the cards (through the viewer's own session, as any
refresh does) only when a version moved. An idle table costs nothing but the lookup.

>>> d = Dashboard("Clicks", source="clicks")   # doctest: +SKIP
>>> d.chart(kind="line", x="minute", y="n"); d.show(); d.live(every=1.0)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from ..errors import DapError

log = logging.getLogger(__name__)
MIN_EVERY_S = 0.5  # no polling faster than a stream's batches could possibly land

Versions = Callable[[], Mapping[str, int | None]]


class LiveRefresh:
    """Calls ``refresh`` whenever ``versions()`` changes, checking every ``every_s`` seconds."""

    def __init__(self, versions: Versions, refresh: Callable[[], None], every_s: float = 1.0):
        if not every_s >= MIN_EVERY_S:
            raise DapError(f"a live dashboard checks at most every {MIN_EVERY_S} s, not {every_s}")
        self.versions = versions
        self.refresh = refresh
        self.every_s = every_s
        self.refreshes = 0  # refreshes caused by a new version
        self._stop = threading.Event()
        self._last: Mapping[str, int | None] = {}
        self._thread: threading.Thread | None = None

    def start(self) -> LiveRefresh:
        if self._thread is None:
            self._last = self._read()
            self._thread = threading.Thread(target=self._run, name="dap-live", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _read(self) -> Mapping[str, int | None]:
        try:
            return dict(self.versions())
        except DapError as e:  # a lost grant, a dropped table: stay as shown, say it once
            log.warning("live dashboard: %s", e)
            return self._last

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            now = self._read()
            if now == self._last:
                continue
            self._last = now
            try:
                self.refresh()
                self.refreshes += 1
            except Exception:  # the next version tries again; the thread must not die
                log.exception("live dashboard: refresh failed")
