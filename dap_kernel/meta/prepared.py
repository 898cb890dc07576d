"""Core SELECTs compiled once to driver SQL, for the reads of every request.

A Core connection builds and compiles nothing for a cached statement, yet its begin, execute
and commit cost several times the driver's own call on SQLite (the API-key check: ~100 µs in
process against ~30 µs). :func:`prepare` keeps what Core would do per call — the dialect's
SQL, the order of the parameters, each column's conversion (SQLite's text to a datetime, JSON
text to a list) — so :meth:`MetaStore.first_row` runs it on a pooled driver connection.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect, Select

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class Prepared:
    sql: str
    names: tuple[str, ...]  # the parameters, in the driver's order
    positional: bool
    binds: tuple[Processor, ...]
    columns: tuple[Processor, ...]
    row: Callable[..., tuple[Any, ...]]  # a named tuple: row.key_hash, as Core rows read

    def parameters(self, given: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        values = [
            given[name] if bind is None else bind(given[name])
            for name, bind in zip(self.names, self.binds, strict=True)
        ]
        return values if self.positional else dict(zip(self.names, values, strict=True))

    def convert(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        return self.row(
            *(v if p is None or v is None else p(v) for v, p in zip(raw, self.columns, strict=True))
        )


def prepare(statement: Select[Any], dialect: Dialect) -> Prepared:
    """``statement`` as the driver of ``dialect`` takes it; every parameter must be a
    ``bindparam`` given at each call (none carries a value of its own)."""
    compiled = statement.compile(dialect=dialect)
    names = tuple(compiled.positiontup or compiled.binds)
    if any(compiled.binds[n].value is not None for n in names):
        raise ValueError("a prepared statement takes every value as a parameter")
    columns = list(statement.selected_columns)
    return Prepared(
        sql=str(compiled),
        names=names,
        positional=compiled.positional,
        binds=tuple(
            compiled.binds[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names
        ),
        columns=tuple(
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
        ),
        row=namedtuple("Row", [c.key for c in columns]),  # type: ignore[misc]
    )
