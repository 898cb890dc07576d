"""Which engine runs a statement that names none: the one its tables are set to, else the
one their schemas are set to, else ``DAP_ENGINE`` (the catalog's default).

A table's engine is a catalog option (``dap catalog engine TABLE chdb``, set through
:meth:`~dap_kernel.changes.CatalogChanges.set_table_engine`), a schema's a setting its tables
follow unless they name their own (``dap catalog engine --schema tpch chdb``,
:meth:`~dap_kernel.changes.CatalogChanges.set_schema_engine`). So a steward can put a large fact
table, or a whole warehouse schema, on chDB or Spark while everything else stays on the embedded
DuckDB, and every front door
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
    ``options`` and its schema's ``schema_options``) are set to; None when none is set."""
    chosen = {name: engine for name, row in rows.items() if (engine := engine_of_row(row))}
    engines = set(chosen.values())
    if len(engines) > 1:
        where = ", ".join(f"{table} on {engine}" for table, engine in sorted(chosen.items()))
        raise QueryFailed(
            f"the statement reads tables set to different engines ({where}): "
            "name one with --engine (engine=)"
        )
    return engines.pop() if engines else None


def engine_of_row(row: Any) -> str | None:
    """The engine one catalog row is set to: its own setting, else its schema's."""
    return chosen_engine(row.options, row.schema_options)[0]


def chosen_engine(
    options: Mapping[str, Any] | None, schema_options: Mapping[str, Any] | None
) -> tuple[str | None, str]:
    """The engine a table with these ``options`` in a schema with ``schema_options`` is set
    to, and whose setting it is (``"table"``, ``"schema"``; ``""``: none, ``DAP_ENGINE``)."""
    for source, settings in (("table", options), ("schema", schema_options)):
        engine = (settings or {}).get(TABLE_ENGINE_OPTION)
        if engine:
            return str(engine), source
    return None, ""
