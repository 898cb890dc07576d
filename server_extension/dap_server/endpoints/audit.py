"""The audit log: your own records, or everyone's for those who administer DAP."""

from __future__ import annotations

from dap_kernel.errors import QueryRefused

from ..api import Call, router
from ..models import AuditEntry, AuditList, AuditQuery


@router.get("audit", query=AuditQuery, response=AuditList, tag="audit", errors=(403,))
def list_audit(call: Call, query: AuditQuery) -> AuditList:
    """The latest audit records (newest first); managers may ask for any user and verify."""
    me = call.principal.name
    manager = call.session.check("MANAGE_GRANTS", "*").allowed
    if not manager and (query.verify or (query.user not in (None, me))):
        raise QueryRefused(
            f"{me} may only read their own audit records: MANAGE_GRANTS is needed for more"
        )
    user = query.user if manager else me
    audit = call.workspace.audit
    records = audit.tail(query.limit, principal=user)
    chain_ok = audit.verify() is None if query.verify else None
    return AuditList(
        records=[
            AuditEntry(
                seq=r.seq,
                ts=r.ts,
                user=r.principal,
                action=r.action,
                decision=r.decision,
                channel=r.channel,
                statement=r.statement,
                tables=list(r.tables or []),
                reason=r.reason,
                row_count=r.row_count,
                elapsed_ms=r.elapsed_ms,
            )
            for r in records
        ],
        chain_ok=chain_ok,
    )
