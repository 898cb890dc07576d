"""The audit log: your own records, or everyone's for those who administer DAP."""

from __future__ import annotations

from dap_kernel.governance.audit import read_audit

from ..api import Call, router
from ..models import AuditEntry, AuditList, AuditQuery


@router.get("audit", query=AuditQuery, response=AuditList, tag="audit", errors=(403,))
def list_audit(call: Call, query: AuditQuery) -> AuditList:
    """The latest audit records (newest first): your own; managers may ask for anyone's and
    verify the chain (the rule is the core's, the same as `dap audit`)."""
    ws = call.workspace
    view = read_audit(
        ws.audit,
        ws.policy,
        call.principal,
        user=query.user,
        limit=query.limit,
        verify=query.verify,
        action=query.action,
    )
    records, chain_ok = view.records, view.chain_ok
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
