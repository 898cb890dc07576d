"""Which engine runs a statement that names none: the one its tables are set to, else
``DAP_ENGINE``.

A table's engine is a catalog option (``dap catalog engine TABLE chdb``, set through
:meth:`~dap_kernel.changes.CatalogChanges.set_table_engine`), so a steward can put a large fact
table on chDB or Spark while everything else stays on the embedded DuckDB, and every front door
(``%%dap sql``, ``dap sql``, ``dap.sql``, REST, dashboards, schedules) follows it without naming
an engine. A statement that names one (``--engine``, ``engine=``) runs there. Tables set to
different engines cannot be read by one statement on any single one of them without moving data
behind the caller's back, so that is an error that says how to choose. The choice changes only
where the secured statement runs: governance is the same on every engine (the statement is
governed again in the chosen engine's dialect).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .engines.base import TABLE_ENGINE_OPTION
from .errors import QueryFailed


def engine_of_rows(rows: Mapping[str, Any]) -> str | None:
    """The engine the catalog ``rows`` a statement resolved (``name`` → a row with
    ``options``) are set to; None when none is set."""
    chosen = {
        name: str(row.options[TABLE_ENGINE_OPTION])
        for name, row in rows.items()
        if (row.options or {}).get(TABLE_ENGINE_OPTION)
    }
    engines = set(chosen.values())
    if len(engines) > 1:
        where = ", ".join(f"{table} on {engine}" for table, engine in sorted(chosen.items()))
        raise QueryFailed(
            f"the statement reads tables set to different engines ({where}): "
            "name one with --engine (engine=)"
        )
    return engines.pop() if engines else None
