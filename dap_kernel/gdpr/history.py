"""Erasing from history: the Delta versions that still hold a subject's rows, and the proof.

Deleting rows is a new Delta version; the versions before it still reference the files that
hold the rows, so time travel would return them. Where that may be so
(:func:`stale_stats_may_name`), two more steps make them go:

* **vacuum with no retention**: every file the current version does not reference is deleted,
  so an older version that needs one of them can no longer be read (versions whose files all
  survive stay readable, and the proof checks them).
* **log purge**: the Delta log keeps, for every file it ever added, its column statistics,
  whose min or max may *be* the subject's key (an email, an id). Once rows were deleted from a
  table, its log is checkpointed at the current version and the older commit files removed
  (``delta.logRetentionDuration`` is set to zero for that one cleanup, then put back).
  Time travel to those versions then answers "no such version".

:func:`prove_absent` then reads every version number up to the current one and records, for
each, that it is unreadable or has no row for the subject.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from ..errors import DapError
from ..lake import Lake, split_name
from .matching import RECORD, matches
from .scope import Target

LOG_RETENTION = "delta.logRetentionDuration"
DEFAULT_LOG_RETENTION = "interval 30 days"  # Delta's default when the table sets none


@dataclass
class Proof:
    """What re-reading every version of one table found."""

    table: str
    current_version: int
    readable: list[int] = field(default_factory=list)  # versions read: no row for the subject
    unreadable: list[int] = field(default_factory=list)  # files or log entries gone
    found: dict[int, int] = field(default_factory=dict)  # version -> rows still there

    @property
    def clean(self) -> bool:
        return not self.found

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "current_version": self.current_version,
            "readable_versions_without_subject": self.readable,
            "unreadable_versions": _ranges(self.unreadable),
            "versions_still_returning_subject": {str(v): n for v, n in self.found.items()},
        }


def vacuum_all(lake: Lake, table: str) -> int:
    """Delete every file the current version does not reference; how many went."""
    schema, name = split_name(table)
    return len(lake.vacuum(schema, name, retention_hours=0))


def stale_stats_may_name(lake: Lake, target: Target, subject: str) -> bool:
    """May a file the table no longer uses hold the subject's rows (and the log, its
    statistics, name them)? Then that history must go.

    The log keeps min/max/null counts of every file it ever added. A file whose key range
    (its min and max of the key column) excludes the subject held no row of theirs, so its
    statistics say nothing about them; any other file no longer in the table (or one without
    statistics) may have, and then the log is purged. A quarantine's key is inside JSON text:
    there the stale min/max of the record text is searched for the subject.
    """
    schema, name = split_name(target.table)
    root = lake.path(schema, name)
    current = {uri.rsplit("/", 1)[-1] for uri in DeltaTable(str(root)).file_uris()}
    for add in _logged_adds(root / "_delta_log"):
        path = str(add.get("path") or "")
        if path.rsplit("/", 1)[-1] in current:
            continue  # its rows are the table's rows now: none of them is about the subject
        if _may_hold(add.get("stats"), target, subject):
            return True
    return False


def _logged_adds(folder: Path) -> list[dict[str, Any]]:
    adds: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.json")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if '"add"' in line:
                action = json.loads(line).get("add")
                if isinstance(action, dict):
                    adds.append(action)
    for path in sorted(folder.glob("*.checkpoint*.parquet")):
        column = pq.read_table(path, columns=["add"]).column("add")
        adds += [a for a in column.to_pylist() if a]
    return adds


_TRUNCATED = 32  # Delta writers may cut text bounds at this length: then no upper bound


def _may_hold(stats_text: object, target: Target, subject: str) -> bool:
    if not isinstance(stats_text, str) or not stats_text:
        return True  # no statistics: nothing says the file did not hold the subject
    stats = json.loads(stats_text)
    lows, highs = stats.get("minValues") or {}, stats.get("maxValues") or {}
    if target.json_record:
        return any(subject in str(b.get(RECORD, "")) for b in (lows, highs))
    assert target.column is not None
    lo, hi = lows.get(target.column), highs.get(target.column)
    if lo is None or hi is None:
        return True
    if isinstance(lo, int | float) and isinstance(hi, int | float):
        try:
            return float(lo) <= float(subject) <= float(hi)
        except ValueError:
            return False  # not a number: no numeric key is this subject
    lo_text, hi_text = str(lo), str(hi)
    return lo_text <= subject and (subject <= hi_text or len(hi_text) >= _TRUNCATED)


def purge_log(lake: Lake, table: str) -> None:
    """Checkpoint at the current version and remove every older commit file of the log."""
    schema, name = split_name(table)
    path = str(lake.path(schema, name))
    try:
        dt = DeltaTable(path)
        before = dt.metadata().configuration.get(LOG_RETENTION)
        dt.alter.set_table_properties({LOG_RETENTION: "interval 0 seconds"})
        dt = DeltaTable(path)
        dt.create_checkpoint()
        dt.cleanup_metadata()
        DeltaTable(path).alter.set_table_properties(
            {LOG_RETENTION: before or DEFAULT_LOG_RETENTION}
        )
    except DeltaError as e:
        raise DapError(f"cannot purge the history of {table}: {e}") from e


def prove_absent(lake: Lake, target: Target, subject: str) -> Proof:
    """Read every version of ``target`` up to the current one: is the subject anywhere?

    A version is the set of files it references, and versions share most of their files, so
    each file's key column is read once (a partitioned key is read version by version). A
    version whose log entry or one of whose files is gone cannot be read by anyone.
    """
    assert target.column is not None
    schema, name = split_name(target.table)
    path = str(lake.path(schema, name))
    current = lake.version(schema, name)
    proof = Proof(target.table, current)
    wanted = RECORD if target.json_record else target.column
    per_file: dict[str, int] = {}
    for version in range(current + 1):
        try:
            dt = DeltaTable(path)
            dt.load_as_version(version)
            if wanted not in dt.schema().to_arrow().names:
                proof.found[version] = -1  # a version without the key: unsearchable, fail closed
                continue
            if wanted in dt.metadata().partition_columns:
                count = _count(dt.to_pyarrow_table(columns=[wanted]), target, subject)
            else:
                count = 0
                for uri in dt.file_uris():
                    if uri not in per_file:
                        file = pq.read_table(uri.removeprefix("file://"), columns=[wanted])
                        per_file[uri] = _count(file, target, subject)
                    count += per_file[uri]
        except (DeltaError, OSError, ValueError):  # its log entry or a file of it is gone
            proof.unreadable.append(version)
            continue
        if count:
            proof.found[version] = count
        else:
            proof.readable.append(version)
    return proof


def _count(data: pa.Table, target: Target, subject: str) -> int:
    assert target.column is not None
    hits = matches(data, target.column, subject, json_record=target.json_record)
    return sum(1 for h in hits.to_pylist() if h)


def _ranges(versions: list[int]) -> list[str]:
    """``[0, 1, 2, 5]`` → ``["0-2", "5"]``: a long history stays short in the certificate."""
    out: list[str] = []
    start = prev = None
    for v in sorted(versions):
        if start is None:
            start = prev = v
        elif prev is not None and v == prev + 1:
            prev = v
        else:
            out.append(f"{start}-{prev}" if start != prev else f"{start}")
            start = prev = v
    if start is not None:
        out.append(f"{start}-{prev}" if start != prev else f"{start}")
    return out
