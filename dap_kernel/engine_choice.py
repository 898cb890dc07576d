"""Which engine runs a statement that names none: the one its tables are set to, else
``DAP_ENGINE``.

A table's engine is a catalog option (``dap catalog engine TABLE chdb``), so a steward can put
a large fact table on chDB or Spark while everything else stays on the embedded DuckDB, and
every front door (``%%dap sql``, ``dap sql``, ``dap.sql``, REST, dashboards, schedules) follows
it without naming an engine. A statement that names one (``--engine``, ``engine=``) runs there.
Tables set to different engines cannot be read by one statement on any single one of them
without moving data behind the caller's back, so that is an error that says how to choose.
The choice changes only where the secured statement runs: governance is the same on every
engine (the statement is governed again in the chosen engine's dialect).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .engines.base import TABLE_ENGINE_OPTION as OPTION
from .errors import DapError, QueryFailed
from .settings import ENGINES

if TYPE_CHECKING:
    from .catalog.resolve import CatalogBindings
    from .session import Session


def engine_of_tables(
    catalog: CatalogBindings, tables: Iterable[str], version: int | None
) -> str | None:
    """The engine the ``tables`` a statement reads are set to (None: none is set)."""
    rows = catalog.lookup(sorted({t.lower() for t in tables}), version=version)
    chosen = {
        name: str(row.options[OPTION]) for name, row in rows.items() if row.options.get(OPTION)
    }
    engines = set(chosen.values())
    if len(engines) > 1:
        where = ", ".join(f"{table} on {engine}" for table, engine in sorted(chosen.items()))
        raise QueryFailed(
            f"the statement reads tables set to different engines ({where}): "
            "name one with --engine (engine=)"
        )
    return engines.pop() if engines else None


def set_engine(session: Session, table: str, engine: str | None) -> str | None:
    """Set (None: clear) the engine of one table; needs MODIFY on it; audited."""
    if engine is not None and engine not in ENGINES:
        raise DapError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    info = session.governed_catalog.find(table)  # "did you mean" names only readable tables
    name = info.qualified_name
    with session.audit_change(
        "table_engine", (name,), statement=f"set engine of {name}: {engine or 'default'}"
    ):
        session.require("MODIFY", name)
        session.catalog.set_option(name, OPTION, engine)
    return engine
