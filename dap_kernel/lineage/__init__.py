"""Table- and column-level lineage: worked out from SQL, stored as a graph, emitted as OpenLineage.

Who made a table from what is recorded by the process that did it (``pipeline:NAME``,
``sql:<user>``, ``ingest:<file>`` …); a re-run of the same process replaces its edges, so the
graph never piles up duplicates. Sources that are not catalog tables (files, database URLs, API
URLs) are nodes too, with passwords and query strings removed from their names.

Governance: :func:`lineage` (``dap.lineage("main.orders")``, ``dap lineage``, ``%dap lineage``,
REST ``lineage/{table}``) needs SELECT on the table asked about; every other table the caller
may not read is shown as a ``(restricted)`` node, so the shape of the flow stays visible while
the name does not. A file or URL is shown only if it feeds a table the caller may read.
A name that is not in the catalog is an :class:`~dap_kernel.errors.UnknownTable` there;
:meth:`LineageStore.graph`, below governance, answers it with a graph of just that node.
"""

from __future__ import annotations

from .._modules import callable_module
from .access import governed_graph, lineage, session_graph
from .access import resolve_name as resolve_name
from .graph import LineageEdge, LineageGraph, LineageNode
from .names import CATALOG_PROCESS as CATALOG_PROCESS
from .names import DEFAULT_SCHEMA as DEFAULT_SCHEMA
from .names import NODE_KINDS as NODE_KINDS
from .names import RESTRICTED as RESTRICTED
from .names import ColumnEdge, classify_source, table_name
from .openlineage import PRODUCER as PRODUCER
from .openlineage import emit_run, run_event
from .openlineage import namespace as namespace
from .record import record_sql
from .render import render_svg
from .rows import LineageColumnEdgeRow, LineageEdgeRow
from .sql import sql_lineage
from .store import LineageStore

__all__ = [
    "ColumnEdge",
    "LineageColumnEdgeRow",
    "LineageEdge",
    "LineageEdgeRow",
    "LineageGraph",
    "LineageNode",
    "LineageStore",
    "classify_source",
    "emit_run",
    "governed_graph",
    "lineage",
    "record_sql",
    "render_svg",
    "run_event",
    "session_graph",
    "sql_lineage",
    "table_name",
]


callable_module(__name__, lineage)
