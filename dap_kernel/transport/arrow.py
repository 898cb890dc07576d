"""A query's result as it arrives: the Arrow IPC stream read batch by batch from the response
body, so the rows count up for the magics' progress while the rest is still on the wire."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx

from ..errors import DapError

if TYPE_CHECKING:
    import pyarrow as pa

ARROW_STREAM = "application/vnd.apache.arrow.stream"


class _Chunks(io.RawIOBase):
    """The response body as a file, read as it arrives (Arrow reads batch by batch)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def read_arrow(response: httpx.Response, on_batch: Callable[[int], None] | None) -> pa.Table:
    """The whole table; ``on_batch`` hears the running row count after each batch."""
    source = io.BufferedReader(_Chunks(response.iter_bytes()), buffer_size=1 << 20)
    with source:
        return _read_batches(source, on_batch)


def _read_batches(source: io.BufferedIOBase, on_batch: Callable[[int], None] | None) -> pa.Table:
    import pyarrow as pa

    try:
        reader = pa.ipc.open_stream(source)
        batches = []
        rows = 0
        for batch in reader:
            batches.append(batch)
            rows += batch.num_rows
            if on_batch is not None:
                on_batch(rows)
        return pa.Table.from_batches(batches, schema=reader.schema)
    except pa.ArrowInvalid as e:
        raise DapError(f"the DAP service sent a result that could not be read: {e}") from None
