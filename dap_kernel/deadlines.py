"""Query timeouts on one watchdog thread for the whole process.

Every query has a timeout (``DAP_QUERY_TIMEOUT``, 300 s by default). A ``threading.Timer`` per
query starts (and waits for) a new OS thread each time: on a busy two-core machine that alone
cost 0.3–1 ms per query, more than the catalog lookup and the rewrite together. Here one daemon
thread keeps a heap of deadlines; arming and disarming one is a heap push and a flag under a lock.

>>> import threading
>>> fired = threading.Event()
>>> watch = Deadlines()
>>> _ = watch.after(0.01, fired.set)
>>> fired.wait(5)
True
>>> watch.after(60, fired.clear).cancel()  # disarmed: never fires
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Deadline:
    """One armed deadline; :meth:`cancel` disarms it (a no-op once it has fired)."""

    __slots__ = ("_owner", "callback", "cancelled", "when")

    def __init__(self, owner: Deadlines, when: float, callback: Callable[[], None]) -> None:
        self._owner = owner
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self._owner._cancel(self)


class Deadlines:
    """Calls each armed callback on the watchdog thread once its time has come.

    Callbacks must be quick (the engine's cancel hands the interrupting to a thread of its own);
    one that raises is logged and does not stop the watchdog. The thread starts on first use.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._seq = itertools.count()
        self._cancelled = 0  # entries still in the heap whose deadline was disarmed
        self._wake = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None

    def after(self, seconds: float, callback: Callable[[], None]) -> Deadline:
        """Call ``callback`` in ``seconds`` unless the returned deadline is cancelled first."""
        deadline = Deadline(self, time.monotonic() + seconds, callback)
        with self._wake:
            self._ensure_thread()
            earliest = self._heap[0][0] if self._heap else None
            heapq.heappush(self._heap, (deadline.when, next(self._seq), deadline))
            if earliest is None or deadline.when < earliest:
                self._wake.notify()  # the watchdog sleeps until the old earliest deadline
        return deadline

    def _cancel(self, deadline: Deadline) -> None:
        with self._wake:
            if deadline.cancelled:
                return
            deadline.cancelled = True
            self._cancelled += 1
            # Most deadlines are disarmed long before they are due (the query ended): drop
            # them in bulk once they make up most of the heap, so it stays the size of what runs.
            if self._cancelled > 64 and self._cancelled * 2 > len(self._heap):
                self._heap = [e for e in self._heap if not e[2].cancelled]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def _ensure_thread(self) -> None:
        """Start the watchdog (called under the lock)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._loop, name="dap-deadlines", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._wake:
                while True:
                    while self._heap and self._heap[0][2].cancelled:
                        heapq.heappop(self._heap)
                        self._cancelled -= 1
                    if not self._heap:
                        self._wake.wait()
                        continue
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        _, _, due = heapq.heappop(self._heap)
                        due.cancelled = True  # fired: a later cancel() is a no-op
                        break
                    self._wake.wait(wait)
            try:
                due.callback()
            except Exception:  # a failing callback must not end every later timeout
                log.exception("a query deadline callback failed")


_shared: Deadlines | None = None
_shared_lock = threading.Lock()


def _forget_in_child() -> None:
    """A forked child has none of the parent's threads, and its locks may be held by one."""
    global _shared, _shared_lock
    _shared, _shared_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


def shared_deadlines() -> Deadlines:
    """The process's watchdog, made on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Deadlines()
        return _shared
