"""Cancels that arrive before their query does.

A REST ``DELETE query/{id}`` or a stopping service can cancel a query while it is still being
governed, before any engine runs it, or even before the engine it will run on has been opened.
Such a cancel is remembered here for a while, so the query fails as cancelled the moment it
reaches an engine instead of running to its end.
"""

from __future__ import annotations

import threading
import time

__all__ = ["EarlyCancels"]


class EarlyCancels:
    """Query ids cancelled before they ran, forgotten after ``keep_s`` seconds."""

    def __init__(self, keep_s: float = 300.0) -> None:
        self.keep_s = keep_s
        self._at: dict[str, float] = {}
        self._lock = threading.Lock()

    def note(self, query_id: str) -> None:
        """Remember that ``query_id`` was cancelled (and forget the expired ones)."""
        now = time.monotonic()
        with self._lock:
            self._at = {q: t for q, t in self._at.items() if now - t < self.keep_s}
            self._at[query_id] = now

    def take(self, query_id: str) -> bool:
        """Whether ``query_id`` was cancelled before it started; the note is used up."""
        with self._lock:
            noted = self._at.pop(query_id, None)
        return noted is not None and time.monotonic() - noted < self.keep_s

    def recent(self) -> list[str]:
        """The ids still remembered (handed to an engine opened after they were cancelled)."""
        now = time.monotonic()
        with self._lock:
            return [q for q, t in self._at.items() if now - t < self.keep_s]
