"""Finding one subject's rows in a table: the same test for reading, deleting and the proof.

A subject is given as text (``--subject 42`` or ``--subject ann@example.com``); a row is about
them when its key column, written as text, is exactly that. A quarantine keeps each row as JSON
text, so its rows are decoded and their key compared the same way.

>>> import pyarrow as pa
>>> matches(pa.table({"id": [1, 42, None]}), "id", "42", json_record=False).to_pylist()
[False, True, False]
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.exc import SQLAlchemyError

from ..errors import DapError

if TYPE_CHECKING:
    from ..governance.secrets import SecretStore

RECORD = "_dap_record"  # the quarantine's JSON text of the row (dap_kernel.quarantine)


SUBJECT_KEY_SECRET = "dap.gdpr.subject_key"


def subject_hash(secrets: SecretStore, subject: str) -> str:
    """What the audit log, the job record and the certificate keep instead of the subject: an
    HMAC-SHA256 under a random key of the workspace (in the encrypted secret store, made on
    first use). A subject's identifier is often guessable (``42``, an e-mail address), so a
    plain hash of it would tell anyone who reads the audit log whom a request was about."""
    if SUBJECT_KEY_SECRET not in secrets.names():
        with contextlib.suppress(SQLAlchemyError):  # another process made it first
            secrets.add(SUBJECT_KEY_SECRET, os.urandom(32).hex())
    key = bytes.fromhex(secrets.get(SUBJECT_KEY_SECRET))  # undecryptable: an error, not a new key
    return hmac.new(key, subject.encode(), hashlib.sha256).hexdigest()


def check_subject(subject: str) -> str:
    subject = subject.strip()
    if not subject:
        raise DapError("--subject needs the subject's identifier (the value of their key)")
    return subject


def matches(table: pa.Table, column: str, subject: str, *, json_record: bool) -> pa.Array:
    """One boolean per row of ``table``: is it about ``subject``? (Null is never a match.)"""
    if json_record:
        records = table.column(RECORD).to_pylist() if table.num_rows else []
        return pa.array([_record_matches(r, column, subject) for r in records], pa.bool_())
    values = table.column(column)
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = pc.cast(values, pa.string())
    found = pc.fill_null(pc.equal(values, pa.scalar(subject, values.type)), False)
    return found.combine_chunks() if isinstance(found, pa.ChunkedArray) else found


def _record_matches(record: str | None, column: str, subject: str) -> bool:
    if not record:
        return False
    try:
        row = json.loads(record)
    except ValueError:
        return False
    if not isinstance(row, dict):
        return False
    wanted = column.lower()
    return any(k.lower() == wanted and _text(v) == subject for k, v in row.items())


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def delete_predicate(
    schema: pa.Schema, column: str, subject: str, *, records: list[str] | None = None
) -> str:
    """A Delta (DataFusion SQL) predicate for exactly the subject's rows.

    A typed key compares as a literal of its own type where the text is one (so file
    statistics still skip files); anything else compares as text. A quarantine's rows are
    named by their exact JSON text (``records``), as found by :func:`matches`.
    """
    if records is not None:
        if not records:
            raise DapError("no quarantined rows to delete")
        return f'"{RECORD}" IN ({", ".join(_quote(r) for r in records)})'
    name = _ident(column)
    dtype = schema.field(column).type
    if pa.types.is_integer(dtype):
        try:
            return f"{name} = {int(subject)}" if str(int(subject)) == subject else "false"
        except ValueError:
            return "false"  # no integer is written as this text: nothing can match
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return f"{name} = {_quote(subject)}"
    return f"CAST({name} AS VARCHAR) = {_quote(subject)}"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
