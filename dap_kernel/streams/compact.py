"""Small-file compaction of streamed tables, keeping the offsets they hold.

A stream commits one small Parquet file per batch (one a second by default): a day is 86,400
files, and reading the table pays for each. :func:`compact` rewrites the small files into a
few large ones in one Delta commit, with delta-rs's ``optimize.compact``.

Why that keeps exactly-once intact (each checked by ``tests/streams/test_stream_compact.py``):

* **Offsets.** A stream's offsets are Delta application transactions (``txn`` actions), which
  are table state, not file state: a commit that only adds and removes files leaves every
  ``transaction_version`` as it was, and the stream keeps seeking from them.
* **A running stream.** The compaction commit removes only files it read and changes no data
  (``dataChange: false``); a stream commit landing meanwhile only adds files, so delta-rs
  rebases one onto the other and both stand: nothing lost, nothing read twice. A concurrent
  delete or rewrite of the same files makes delta-rs refuse the compaction
  (``CommitFailedError``); it is then planned again from the new version (``retries``).
* **Two compactions.** delta-rs 1.6 does *not* see two compactions that read the same version
  as a conflict (both commit, and every row is then there twice), so a compaction holds a lock
  of the DAP home for its table, and afterwards checks the history: another OPTIMIZE that ran
  concurrently (one that bypassed DAP) is reported as :class:`CompactionConflict` naming the
  versions, never passed over in silence.

Governed and audited like every write: MODIFY on the table (what a stream into an existing
table needs), one ``compact`` audit record.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DapError
from ..lake import split_name

if TYPE_CHECKING:
    from deltalake import DeltaTable

    from ..session import Session

DEFAULT_TARGET_ROWS = 1_000_000  # a compacted file holds about this many rows …
DEFAULT_MIN_FILES = 8  # … and fewer small files than this are not worth a commit
RETRIES = 5  # plans again after a concurrent delete/rewrite refused the commit


class CompactionConflict(DapError):
    """Another compaction committed between this one's read and its commit (outside DAP's
    lock): the table may hold rows twice until that commit is undone."""


@dataclass(frozen=True)
class Compacted:
    table: str
    version: int | None  # the compaction's commit (None: nothing worth compacting)
    files_before: int
    files_after: int
    files_removed: int
    files_added: int
    rows: int  # rows in the table (unchanged by the compaction)


def compact(
    session: Session,
    table: str,
    *,
    target_rows: int = DEFAULT_TARGET_ROWS,
    min_files: int = DEFAULT_MIN_FILES,
    retries: int = RETRIES,
) -> Compacted:
    """Rewrite the small files of ``table`` into files of about ``target_rows`` rows.

    Nothing is committed when fewer than ``min_files`` files are smaller than that. Safe while
    a stream appends to the table (see the module docstring); needs MODIFY on the table.
    """
    if target_rows < 1 or min_files < 2:
        raise DapError("compaction needs target_rows ≥ 1 and min_files ≥ 2")
    info = session.governed_catalog.find(table)
    name = info.qualified_name
    with session.audit_change("compact", (name,), statement=f"compact {name}") as change:
        if info.kind != "delta":
            raise DapError(f"{name} is an external {info.kind} source: only lake tables compact")
        session.require("MODIFY", name)
        ws = session.workspace
        schema, short = split_name(name)
        with _lock(ws.settings.home, name):
            done = _compact(ws.lake.path(schema, short), name, target_rows, min_files, retries)
        change.rows = done.rows
        change.statement += (
            f" ({done.files_removed} files into {done.files_added}, version {done.version})"
            if done.version is not None
            else " (nothing to do)"
        )
        if done.version is not None:
            ws.catalog.refresh(name)
    return done


def _compact(path: Path, name: str, target_rows: int, min_files: int, retries: int) -> Compacted:
    from deltalake import CommitProperties, DeltaTable
    from deltalake.exceptions import CommitFailedError

    for attempt in range(retries + 1):
        dt = DeltaTable(str(path))
        sizes, records = _files(dt)
        rows = sum(records)
        small = sum(1 for n in records if n < target_rows)
        if small < min_files:
            return Compacted(name, None, len(sizes), len(sizes), 0, 0, rows)
        per_row = sum(sizes) / rows if rows else 1.0
        target_size = max(1 << 20, int(target_rows * per_row))
        read = int(dt.version())
        run = uuid.uuid4().hex  # finds this commit in the history
        try:
            metrics = dt.optimize.compact(
                target_size=target_size,
                commit_properties=CommitProperties(custom_metadata={"dap.compaction": run}),
            )
        except CommitFailedError:
            if attempt == retries:
                raise DapError(
                    f"cannot compact {name}: other writers kept changing its files "
                    f"({retries + 1} attempts)"
                ) from None
            time.sleep(0.1 * (attempt + 1))
            continue
        dt = DeltaTable(str(path))
        version = _own_commit(dt, read, run)
        after, _ = _files(dt)
        return Compacted(
            name,
            version,
            len(sizes),
            len(after),
            int(metrics.get("numFilesRemoved", 0)),
            int(metrics.get("numFilesAdded", 0)),
            rows,
        )
    raise AssertionError("unreachable")  # pragma: no cover


def _files(dt: DeltaTable) -> tuple[list[int], list[int]]:
    """Sizes and row counts of the table's current files."""
    actions = dt.get_add_actions(flatten=True)
    names = set(actions.column_names)
    sizes = [int(s) for s in actions.column("size_bytes").to_pylist()] if actions.num_rows else []
    if "num_records" in names:
        records = [int(n or 0) for n in actions.column("num_records").to_pylist()]
    else:  # no statistics in the log: assume every file is small
        records = [0] * len(sizes)
    return sizes, records


def _own_commit(dt: DeltaTable, read: int, run: str) -> int | None:
    """The version of compaction ``run``, which read version ``read``; refuse if another
    OPTIMIZE ran concurrently with it (landed between ``read`` and it, or read a version before
    it and landed after): two compactions of the same files duplicate their rows."""
    history: list[dict[str, Any]] = list(dt.history(max(1, int(dt.version()) - read)))
    mine = [h for h in history if h.get("dap.compaction") == run]
    if not mine:
        return None
    version = int(mine[0]["version"])
    between = [
        int(h["version"])
        for h in history
        if h.get("operation") == "OPTIMIZE"
        and int(h["version"]) != version
        and (int(h["version"]) < version or int(h.get("readVersion", version)) < version)
    ]
    if between:
        raise CompactionConflict(
            f"another compaction (version {between[0]}) ran concurrently with version {version}: "
            f"check the table for duplicate rows (if any, restore version {read} and replay "
            "the commits since)"
        )
    return version


@contextlib.contextmanager
def _lock(home: Path, table: str) -> Iterator[None]:
    """One compaction per table at a time in this DAP home (see the module docstring)."""
    folder = home / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"compact-{table}.lock").open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DapError(f"a compaction of {table} is already running") from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
