"""Lineage of a table. Until pipelines record lineage (the ingestion issue), what DAP knows is
where a registered table's data comes from: its file or database source."""

from __future__ import annotations

from dap_kernel.catalog.store import DATABASE_KINDS

from ..api import Call, router
from ..models import Lineage, LineageNode
from .catalog import readable_table


@router.get("lineage/{table}", response=Lineage, tag="lineage", errors=(403, 404))
def get_lineage(call: Call, table: str) -> Lineage:
    """Upstream sources and downstream tables of a table you may read."""
    info = readable_table(call, table)
    upstream = []
    if info.kind != "delta":
        kind = "database" if info.kind in DATABASE_KINDS else "file"
        upstream.append(LineageNode(name=info.location, kind=kind))
    return Lineage(table=info.qualified_name, upstream=upstream, downstream=[])
