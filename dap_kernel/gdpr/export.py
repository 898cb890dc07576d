"""``dap gdpr export``: every row about one data subject, for a subject access request.

The rows are read raw (no row filter, no mask: they are the subject's own data, handed to
them), which is why only an administrator may run it and why it is audited; the audit record
names the tables and the row count, and the subject only by hash. Each table is read at one
version, named in the file, so the answer says exactly what was held when.

The file is JSON (``.json``), or a zip of one JSON file per table plus ``manifest.json``
(``.zip``). Tables in scope that cannot be searched are listed under ``not_searchable``.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ..errors import DapError
from ..lake import split_name
from .keys import require_admin
from .matching import check_subject, matches, subject_hash
from .scope import Scope, Target, plan_scope

if TYPE_CHECKING:
    from ..session import Session


@dataclass(frozen=True)
class TableRows:
    target: Target
    version: int
    rows: pa.Table


@dataclass
class SubjectExport:
    path: Path
    subject_hmac: str
    tables: list[TableRows] = field(default_factory=list)
    not_searchable: list[Target] = field(default_factory=list)
    unkeyed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def row_count(self) -> int:
        return sum(t.rows.num_rows for t in self.tables)


def find_subject_rows(session: Session, subject: str, scope: Scope) -> list[TableRows]:
    """The subject's rows in every searchable table in scope (at its current version). No
    privilege check: the callers make it."""
    found: list[TableRows] = []
    for target in scope.targets:
        if not target.searchable:
            continue
        assert target.column is not None
        version, rows = read_matching(session, target, subject)
        found.append(TableRows(target, version, rows))
    return found


def read_matching(
    session: Session, target: Target, subject: str, version: int | None = None
) -> tuple[int, pa.Table]:
    """The subject's rows of one lake table at ``version`` (default: the current one)."""
    assert target.column is not None
    lake = session.workspace.lake
    schema, name = split_name(target.table)
    at = lake.version(schema, name) if version is None else version
    data = lake.read(schema, name, version=at)
    if not target.json_record and target.column not in data.column_names:
        raise DapError(f"{target.table} version {at} has no column {target.column}")
    return at, data.filter(matches(data, target.column, subject, json_record=target.json_record))


def export_subject(session: Session, subject: str, out: str | Path) -> SubjectExport:
    """Write every row about ``subject`` to ``out`` (.json or .zip); administrators only."""
    subject = check_subject(subject)
    path = Path(out).expanduser()
    if path.suffix.lower() not in (".json", ".zip"):
        raise DapError(f"--out must end in .json or .zip, not {path.name!r}")
    digest = subject_hash(session.workspace.secrets, subject)
    what = f"gdpr export of subject hmac:{digest[:16]} to {path.name}"
    with session.audit_change("gdpr_export", (), statement=what) as change:
        require_admin(session, "export a data subject's rows")
        scope = plan_scope(session)
        tables = find_subject_rows(session, subject, scope)
        result = SubjectExport(path, digest, tables, scope.uncovered, scope.unkeyed)
        change.touch(*(t.target.table for t in tables))
        change.rows = result.row_count
        _write(result, session.principal.name)
    return result


def _write(result: SubjectExport, by: str) -> None:
    manifest: dict[str, Any] = {
        "subject_hmac": result.subject_hmac,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "exported_by": by,
        "row_count": result.row_count,
        "not_searchable": [t.to_dict() for t in result.not_searchable],
        "unkeyed_columns": [{"table": t, "column": c} for t, c in result.unkeyed],
    }
    entries = [
        {**t.target.to_dict(), "version": t.version, "row_count": t.rows.num_rows}
        for t in result.tables
    ]
    path = result.path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    partial.touch(mode=0o600)  # personal data: readable by its writer only, from the start
    try:
        if path.suffix.lower() == ".zip":
            with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as z:
                files = []
                for i, (entry, t) in enumerate(zip(entries, result.tables, strict=True)):
                    file = f"{i:03d}_{t.target.table}.json"
                    files.append(file)
                    z.writestr(file, _dumps({**entry, "rows": _rows(t.rows)}))
                z.writestr(
                    "manifest.json",
                    _dumps(
                        {
                            **manifest,
                            "tables": [
                                {**e, "file": f} for e, f in zip(entries, files, strict=True)
                            ],
                        }
                    ),
                )
        else:
            body = {
                **manifest,
                "tables": [
                    {**e, "rows": _rows(t.rows)}
                    for e, t in zip(entries, result.tables, strict=True)
                ],
            }
            partial.write_text(_dumps(body), encoding="utf-8")
        os.replace(partial, path)  # a reader never sees half a file
    finally:
        partial.unlink(missing_ok=True)


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in row.items()} for row in table.to_pylist()]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _dumps(data: Any) -> str:
    return json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n"
