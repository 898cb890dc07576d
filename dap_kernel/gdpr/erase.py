"""``dap gdpr erase``: delete one data subject's rows everywhere DAP keeps them, then certify.

The steps, for every table in scope (:mod:`.scope`: keyed tables, tables derived from them,
their archives and quarantines):

1. **Plan first.** A table in scope that cannot be searched (derived without a key column, an
   external source) stops the request *before anything is deleted* (:class:`ErasureRefused`,
   naming the tables). ``allow_uncovered`` erases what can be erased and records the request
   as ``uncertified``: no certificate is written while a copy may remain.
2. **Delete** the subject's rows: one Delta commit per table (atomic: all of that table's rows
   or none), then the catalog's statistics are recomputed (min/max no longer show the key).
3. **History**: where older versions may still hold the subject's rows (rows were deleted
   now, or a file the table no longer uses has a key range that includes the subject), vacuum
   with no retention and purge the log (:mod:`.history`), so time travel cannot return them.
   Tables with no trace of the subject keep their history.
4. **Caches**: this process's result cache is emptied (a cached time-travel answer would
   otherwise outlive the files).
5. **Proof and certificate**: every version of every table is read again; only if none returns
   the subject is the certificate written (JSON under ``DAP_HOME/gdpr/certificates``) and
   audited with its SHA-256.

**Failing midway.** Tables are erased one at a time and each table's progress is saved in the
request's record (``gdpr_erasures``) as soon as it is done. If anything fails (or the process
dies), the request stays ``failed``/``running`` with the error; no certificate exists. Running
the same erasure again resumes that request: tables already done delete nothing more (their
rows are gone) but are vacuumed and proved again, the rest are done, and the certificate counts
the rows deleted by every attempt.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from ..errors import DapError
from ..lake import split_name
from ..meta.models import utcnow
from ..sharedstate.queries import forget_results
from .export import read_matching
from .history import Proof, prove_absent, purge_log, stale_stats_may_name, vacuum_all
from .keys import require_admin
from .matching import RECORD, check_subject, delete_predicate, subject_hash
from .rows import ErasureRow
from .scope import Scope, Target, plan_scope

if TYPE_CHECKING:
    from ..session import Session

CERTIFICATES = Path("gdpr") / "certificates"  # under DAP_HOME


class ErasureRefused(DapError):
    """A table in scope cannot be searched: erasing the rest could not be certified."""

    code = "erasure_refused"


class ErasureIncomplete(DapError):
    """After erasing, a readable version still returns the subject: no certificate."""

    code = "erasure_incomplete"


@dataclass
class Erasure:
    request_id: str
    subject_hmac: str
    status: str
    steps: dict[str, dict[str, Any]]
    proofs: list[Proof] = field(default_factory=list)
    uncovered: list[Target] = field(default_factory=list)
    certificate: Path | None = None
    resumed: bool = False

    @property
    def rows_deleted(self) -> int:
        return sum(int(s.get("rows_deleted", 0)) for s in self.steps.values())


def erase_subject(session: Session, subject: str, *, allow_uncovered: bool = False) -> Erasure:
    """Erase ``subject`` from every table in scope and certify it; administrators only."""
    subject = check_subject(subject)
    digest = subject_hash(session.workspace.secrets, subject)
    what = f"gdpr erase of subject hmac:{digest[:16]}"
    with session.audit_change("gdpr_erase", (), statement=what) as change:
        require_admin(session, "erase a data subject's rows")
        scope = plan_scope(session)
        uncovered = scope.uncovered
        if uncovered and not allow_uncovered:
            raise ErasureRefused(
                "refusing to erase and certify: "
                + "; ".join(f"{t.table} is not searchable ({t.reason})" for t in uncovered)
                + ". Nothing was deleted."
            )
        erasure = _open_request(session, digest)
        change.statement += f" (request {erasure.request_id}"
        change.statement += ", resumed)" if erasure.resumed else ")"
        try:
            _erase_all(session, scope, subject, erasure)
            session.workspace.results.clear()
            forget_results(session.workspace.meta)  # REST results kept for paging, too
            erasure.proofs = [
                prove_absent(session.workspace.lake, t, subject)
                for t in scope.targets
                if t.searchable
            ]
            dirty = [p for p in erasure.proofs if not p.clean]
            if dirty:
                raise ErasureIncomplete(
                    "no certificate: "
                    + "; ".join(
                        f"{p.table} versions {sorted(p.found)} still return the subject"
                        for p in dirty
                    )
                )
            erasure.uncovered = uncovered
            if uncovered:
                erasure.status = "uncertified"
            else:
                erasure.certificate = _write_certificate(session, erasure, scope)
                erasure.status = "certified"
        except BaseException as e:
            _save(session, erasure, "failed", error=f"{type(e).__name__}: {e}")
            change.touch(*erasure.steps)  # the audit names what was erased before the failure
            raise
        _save(session, erasure, erasure.status)
        change.touch(*erasure.steps)
        change.rows = erasure.rows_deleted
        if erasure.certificate is not None:
            change.statement += f"; certificate sha256:{_sha256_file(erasure.certificate)}"
        else:
            change.statement += "; NOT certified: " + ", ".join(t.table for t in uncovered)
    return erasure


def erasures(session: Session) -> list[dict[str, Any]]:
    """The erasure requests, newest first (administrators only)."""
    require_admin(session, "list erasure requests")
    with session.workspace.meta.session() as s:
        rows = s.execute(select(ErasureRow).order_by(ErasureRow.started_at.desc())).scalars()
        return [
            {
                "request": r.id,
                "subject_hmac": r.subject_sha256,
                "by": r.principal,
                "status": r.status,
                "started_at": r.started_at.isoformat(timespec="seconds"),
                "certificate": r.certificate,
                "error": r.error,
            }
            for r in rows
        ]


# -- the request record -----------------------------------------------------------------------


def _open_request(session: Session, digest: str) -> Erasure:
    """The unfinished request for this subject (resumed), or a new one."""
    with session.workspace.meta.session() as s:
        row = (
            s.execute(
                select(ErasureRow)
                .where(
                    ErasureRow.subject_sha256 == digest,
                    ErasureRow.status.in_(("running", "failed")),
                )
                .order_by(ErasureRow.started_at.desc())
            )
            .scalars()
            .first()
        )
        if row is not None:
            row.status = "running"
            row.error = ""
            return Erasure(row.id, digest, "running", dict(row.steps or {}), resumed=True)
        request_id = uuid.uuid4().hex
        s.add(
            ErasureRow(
                id=request_id,
                subject_sha256=digest,
                principal=session.principal.name,
                status="running",
                steps={},
                error="",
                certificate="",
                started_at=utcnow(),
            )
        )
    return Erasure(request_id, digest, "running", {})


def _save(session: Session, erasure: Erasure, status: str, *, error: str = "") -> None:
    with session.workspace.meta.session() as s:
        row = s.get(ErasureRow, erasure.request_id)
        if row is None:
            return
        row.steps = json.loads(json.dumps(erasure.steps))  # a new value: the JSON change shows
        row.status = status
        row.error = error[:2000]
        row.certificate = str(erasure.certificate or "")
        if status in ("certified", "uncertified"):
            row.finished_at = utcnow()


# -- erasing ----------------------------------------------------------------------------------


def _erase_all(session: Session, scope: Scope, subject: str, erasure: Erasure) -> None:
    for target in scope.targets:
        if not target.searchable:
            continue
        step = erasure.steps.setdefault(
            target.table,
            {
                "kind": target.kind,
                "key_column": target.column,
                "origin": target.origin,
                "versions_before": [],
                "rows_deleted": 0,
                "files_vacuumed": 0,
                "history_purged": False,
            },
        )
        erase_table(session, target, subject, step)
        _save(session, erasure, "running")  # this table is done, whatever happens next


def erase_table(session: Session, target: Target, subject: str, step: dict[str, Any]) -> None:
    """Delete the subject's rows of one table, then its history of them (idempotent)."""
    ws = session.workspace
    schema, name = split_name(target.table)
    version, rows = read_matching(session, target, subject)
    if version not in step["versions_before"]:
        step["versions_before"].append(version)
    if rows.num_rows:
        fields = ws.lake.snapshot(schema, name).schema
        records = rows.column(RECORD).to_pylist() if target.json_record else None
        assert target.column is not None
        predicate = delete_predicate(fields, target.column, subject, records=records)
        deleted = ws.lake.delete_where(schema, name, predicate)
        if deleted != rows.num_rows:
            raise DapError(
                f"{target.table}: {rows.num_rows} rows about the subject, {deleted} deleted"
            )
        step["rows_deleted"] += deleted
        step["history_purged"] = False
    # Rows went (now, or in an attempt that died before this step), or a file the table no
    # longer uses may hold some (they left another way, an archive run say): end that
    # history. Otherwise time travel is left as it was: nobody's erasure costs others theirs.
    unfinished = step["rows_deleted"] and not step["history_purged"]
    if unfinished or stale_stats_may_name(ws.lake, target, subject):
        step["files_vacuumed"] += vacuum_all(ws.lake, target.table)
        purge_log(ws.lake, target.table)
        step["history_purged"] = True
    info = ws.catalog.refresh(target.table)  # version and statistics of what is left
    step["version_after"] = info.version


# -- the certificate --------------------------------------------------------------------------


def _write_certificate(session: Session, erasure: Erasure, scope: Scope) -> Path:
    ws = session.workspace
    folder = ws.settings.home / CERTIFICATES
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{erasure.request_id}.json"
    reports = ws.settings.home / "reports"
    report_files = sum(1 for p in reports.rglob("*") if p.is_file()) if reports.is_dir() else 0
    body = {
        "certificate": "erasure of a data subject's rows",
        "request_id": erasure.request_id,
        "subject_hmac": erasure.subject_hmac,
        "erased_by": session.principal.name,
        "issued_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "resumed_after_failure": erasure.resumed,
        "rows_deleted": erasure.rows_deleted,
        "tables": [{"table": t, **s} for t, s in sorted(erasure.steps.items())],
        "proof": [p.to_dict() for p in erasure.proofs],
        "other_copies": {
            "catalog_statistics": "recomputed from the remaining rows of every table touched",
            "result_cache": "emptied in the process that erased",
            "delta_log_statistics": "log checkpointed and older commits removed where rows went",
        },
        "not_covered": [
            "files exported out of DAP before the erasure (dap export, dashboards, earlier "
            "gdpr exports)",
            f"scheduled report outputs under DAP_HOME/reports ({report_files} files)",
            "result caches of other running DAP processes (they expire within "
            f"{ws.settings.result_cache_ttl_s:g} s)",
            "models trained on the rows (MLflow) and statements in the audit log that name "
            "the subject",
        ],
        "unkeyed_columns": [{"table": t, "column": c} for t, c in scope.unkeyed],
        "declared_not_personal": [{"table": t, "declared_by": b} for t, b in scope.not_personal],
    }
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)
    return path


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
