"""Arrow tables to encrypted bytes and back: how results rest in the shared store."""

from __future__ import annotations

import pyarrow as pa
from cryptography.fernet import InvalidToken, MultiFernet


def seal(cipher: MultiFernet, table: pa.Table) -> bytes:
    """An Arrow IPC stream of ``table``, Fernet-encrypted (authenticated: a changed byte fails)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return cipher.encrypt(sink.getvalue().to_pybytes())


def unseal(cipher: MultiFernet, blob: bytes) -> pa.Table | None:
    """The table, or None when the bytes were not sealed by these keys (a rotated-away key,
    tampering): to the caller that is a result no longer held, never someone's data."""
    try:
        data = cipher.decrypt(blob)
    except InvalidToken:
        return None
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()
