"""The kernel's displayed results, and the comm that serves their pages to the grid.

The rows of a result live where the query returned them: in this kernel. A displayed frame is
kept here under a random handle (the last :data:`KEEP` results, each for :data:`MAX_AGE`
seconds after its last use); the grid asks for pages over a Jupyter comm, which reaches only
the front ends of this kernel — a saved notebook opened elsewhere, or after a restart, has
its first page and an expired handle. Sorting is done here, over all rows, never in a page.

A download is an export: the whole result (in the order shown) is written to a temporary file
by the ``exporter`` :func:`install` was given — DAP's audited export, the one ``%dap export``
uses — and that file is what the browser receives, in chunks of whole lines; the file is removed
once sent, or when its result expires.

Requests are checked before anything is read: an unknown operation, handle, column or a
malformed number is an error reply, never data.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import DapError
from .bundle import MIME, result_bundle
from .columns import json_page

COMM_TARGET = "dap.result"
KEEP = 16
MAX_AGE = 4 * 3600.0
MAX_PAGE_ROWS = 5_000
CSV_CHUNK_BYTES = 4 * 1024 * 1024
Exporter = Callable[[pl.DataFrame, Path], None]


class PageError(ValueError):
    """A page request the store refuses (expired handle, malformed request)."""


@dataclass
class _Entry:
    frame: pl.DataFrame
    used: float
    sorted_by: tuple[tuple[int, bool], ...] = ()
    sorted_frame: pl.DataFrame | None = field(default=None, repr=False)
    download: Path | None = None
    download_at: int = 0  # the byte the next chunk starts at

    def drop_download(self) -> None:
        if self.download is not None:
            self.download.unlink(missing_ok=True)
            self.download, self.download_at = None, 0


class ResultPages:
    """Displayed results by handle; thread-safe (comm messages and cells may interleave)."""

    def __init__(
        self, keep: int = KEEP, max_age: float = MAX_AGE, exporter: Exporter | None = None
    ) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._keep, self._max_age = keep, max_age
        self._lock = threading.Lock()
        self.exporter = exporter

    def register(self, frame: pl.DataFrame) -> str:
        handle = secrets.token_hex(16)
        with self._lock:
            self._entries[handle] = _Entry(frame, time.monotonic())
            self._expire()
        return handle

    def __contains__(self, handle: object) -> bool:
        with self._lock:
            self._expire()
            return isinstance(handle, str) and handle in self._entries

    def _expire(self) -> None:
        now = time.monotonic()
        for handle in [h for h, e in self._entries.items() if now - e.used > self._max_age]:
            self._entries.pop(handle).drop_download()
        while len(self._entries) > self._keep:
            self._entries.popitem(last=False)[1].drop_download()

    def _entry(self, handle: Any) -> _Entry:
        with self._lock:
            self._expire()
            entry = self._entries.get(handle) if isinstance(handle, str) else None
            if entry is None:
                raise PageError("this result has expired: run the cell again")
            entry.used = time.monotonic()
            self._entries.move_to_end(handle)
            return entry

    def _sorted(self, handle: Any, sort: Any) -> pl.DataFrame:
        """The result behind ``handle`` in the order ``sort`` asks: ``[{"column": i, "desc":
        bool}, …]`` (stable, nulls last); the last order asked is kept."""
        entry = self._entry(handle)
        order = _sort_spec(sort, entry.frame.width)
        if not order:
            return entry.frame
        if order != entry.sorted_by or entry.sorted_frame is None:
            names = [entry.frame.columns[i] for i, _ in order]
            entry.sorted_frame = entry.frame.sort(
                names, descending=[d for _, d in order], nulls_last=True, maintain_order=True
            )
            entry.sorted_by = order
        return entry.sorted_frame

    def page(self, handle: Any, offset: Any, limit: Any, sort: Any = None) -> dict[str, Any]:
        frame = self._sorted(handle, sort)
        start, count = _count(offset, "offset"), _count(limit, "limit")
        count = min(count, MAX_PAGE_ROWS)
        return {
            "offset": start,
            "row_count": frame.height,
            "rows": json_page(frame.slice(start, count)),
        }

    def csv(self, handle: Any, offset: Any, sort: Any = None) -> dict[str, Any]:
        """One chunk of the result as CSV, for the grid's download: offset 0 exports the whole
        result in ``sort`` order (audited, through :attr:`exporter`), each next chunk continues
        where the last ended (``next``; None after the last)."""
        start = _count(offset, "offset")
        frame = self._sorted(handle, sort)
        entry = self._entry(handle)
        if start == 0:
            entry.drop_download()
            fd, name = tempfile.mkstemp(prefix="dap-download-", suffix=".csv")
            os.close(fd)
            entry.download = Path(name)
            try:
                if self.exporter is not None:
                    self.exporter(frame, entry.download)
                else:
                    frame.write_csv(entry.download)
            except Exception as e:  # one line to the browser, never a traceback
                entry.drop_download()
                reason = str(e) if isinstance(e, DapError) else "the download failed"
                raise PageError(reason) from None
        elif entry.download is None or start != entry.download_at:
            raise PageError("the download was interrupted: start it again")
        assert entry.download is not None
        with entry.download.open("rb") as file:
            file.seek(start)
            chunk = file.read(CSV_CHUNK_BYTES)
            chunk += file.readline() if chunk and not chunk.endswith(b"\n") else b""
        end = start + len(chunk)
        done = len(chunk) == 0 or end >= entry.download.stat().st_size
        if done:
            entry.drop_download()
        else:
            entry.download_at = end
        return {"offset": start, "next": None if done else end, "csv": chunk.decode("utf-8")}


def _count(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PageError(f"{what} must be a non-negative integer")
    return value


def _sort_spec(sort: Any, width: int) -> tuple[tuple[int, bool], ...]:
    if sort is None:
        return ()
    if not isinstance(sort, list) or len(sort) > width:
        raise PageError("sort must be a list of {column, desc}")
    order = []
    for key in sort:
        if not isinstance(key, dict) or set(key) - {"column", "desc"}:
            raise PageError("sort must be a list of {column, desc}")
        column, desc = key.get("column"), key.get("desc", False)
        if not isinstance(column, int) or isinstance(column, bool) or not 0 <= column < width:
            raise PageError("sort column out of range")
        if not isinstance(desc, bool):
            raise PageError("sort desc must be true or false")
        order.append((column, desc))
    return tuple(order)


def answer(pages: ResultPages, message: Any) -> dict[str, Any]:
    """The reply to one grid request ``{"id", "op": "page"|"csv", "handle", …}``."""
    request_id = message.get("id") if isinstance(message, dict) else None
    try:
        if not isinstance(message, dict):
            raise PageError("a request is a JSON object")
        op, handle, sort = message.get("op"), message.get("handle"), message.get("sort")
        if op == "page":
            reply = pages.page(handle, message.get("offset"), message.get("limit"), sort)
        elif op == "csv":
            reply = pages.csv(handle, message.get("offset"), sort)
        else:
            raise PageError(f"unknown request {op!r}")
    except PageError as e:
        return {"id": request_id, "ok": False, "error": str(e)}
    return {"id": request_id, "ok": True, **reply}


PAGES = ResultPages()
_log = logging.getLogger(__name__)


def frame_bundle(frame: pl.DataFrame, *, served: bool = True) -> dict[str, Any]:
    """IPython's mimebundle formatter for polars frames: the grid's bundle; kept for paging
    when a comm serves pages (``served``) and there are rows beyond the first page."""
    try:
        bundle = result_bundle(frame, None)
    except Exception:  # a display must not break the cell: polars' own forms remain
        _log.exception("the DAP result grid could not show a frame")
        return {}
    if served and frame.height > bundle[MIME]["page_size"]:
        bundle[MIME]["handle"] = PAGES.register(frame)
    return bundle


def install(shell: Any, exporter: Exporter | None = None) -> None:
    """Show polars frames in ``shell`` through the DAP grid and serve their pages; once per
    shell. Without a kernel (plain IPython) only the HTML form is used. ``exporter`` writes a
    download (DAP's audited export)."""
    if shell is None:
        return
    if exporter is not None:
        PAGES.exporter = exporter
    formatter = shell.display_formatter.mimebundle_formatter
    try:
        if getattr(formatter.lookup_by_type(pl.DataFrame), "func", None) is frame_bundle:
            return
    except KeyError:
        pass
    kernel = getattr(shell, "kernel", None)
    manager = getattr(kernel, "comm_manager", None)
    formatter.for_type(pl.DataFrame, functools.partial(frame_bundle, served=manager is not None))
    if manager is None:
        return

    def opened(comm: Any, _open_message: Any) -> None:
        def received(message: dict[str, Any]) -> None:
            comm.send(answer(PAGES, message.get("content", {}).get("data")))

        comm.on_msg(received)

    manager.register_target(COMM_TARGET, opened)
