"""The tables and columns a spec names, checked against the catalog.

Each table of the query is a :class:`Source` (aliased ``t0``, ``t1``, … in join order) and each
column a checked :class:`Ref`; :func:`resolve` finds ``col`` or ``table.col`` among them or says
in one line why not (unknown, with close matches, or ambiguous).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlglot import exp

from ..sqlbuild import SqlBuildError, column_ref, split_table, table_ref
from .spec import InvalidQuerySpec

_SHOWN_COLUMNS = 30  # columns listed in an "unknown column" message before "…"

ColumnsOf = Callable[[str], Sequence[tuple[str, str]]]
"""``columns_of(table)``: (name, SQL type) pairs of a catalog table, or raises UnknownTable."""


@dataclass(frozen=True)
class Source:
    """One table of the query: its name as written, its alias and its columns."""

    index: int
    written: str
    columns: dict[str, tuple[str, str]]  # lower-cased name → (catalog spelling, SQL type)
    ordered: tuple[tuple[str, str], ...]

    @classmethod
    def load(cls, index: int, written: str, columns_of: ColumnsOf) -> Source:
        _table_parts(written)  # a malformed name is a spec error before any catalog lookup
        ordered = tuple((str(n), str(t)) for n, t in columns_of(written))
        return cls(index, written, {n.lower(): (n, t) for n, t in ordered}, ordered)

    @property
    def alias(self) -> str:
        return f"t{self.index}"

    @property
    def short(self) -> str:
        return self.written.rsplit(".", 1)[-1]

    def qualifiers(self) -> set[str]:
        return {self.written.lower(), self.short.lower()}

    def table_expr(self) -> exp.Table:
        schema, name = _table_parts(self.written)
        return table_ref(name, schema, alias=self.alias, always_quote=False)

    def find(self, name: str) -> tuple[str, str] | None:
        return self.columns.get(name.lower())


def _table_parts(written: str) -> tuple[str | None, str]:
    try:
        return split_table(written)
    except SqlBuildError as e:
        raise InvalidQuerySpec(e.message) from None


@dataclass(frozen=True)
class Ref:
    """A checked column reference."""

    source: Source
    column: str
    type: str

    def expr(self) -> exp.Column:
        return column_ref(self.column, self.source.alias, always_quote=False)

    def key(self) -> tuple[int, str]:
        return (self.source.index, self.column)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ref) and self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())


def unique(refs: list[Ref]) -> list[Ref]:
    return list(dict.fromkeys(refs))


def resolve(ref: str, tables: Sequence[Source], what: str) -> Ref:
    """Find ``col`` or ``table.col`` among ``tables``; one clear line if it is not exactly one."""
    lowered = ref.lower()
    hits: dict[int, Ref] = {}
    for source in tables:
        for qualifier in source.qualifiers():
            if lowered.startswith(qualifier + "."):
                found = source.find(ref[len(qualifier) + 1 :])
                if found is not None:
                    hits[source.index] = Ref(source, *found)
    if not hits:
        for source in tables:
            found = source.find(ref)
            if found is not None:
                hits[source.index] = Ref(source, *found)
    if len(hits) == 1:
        return next(iter(hits.values()))
    if hits:
        where = " and ".join(r.source.written for r in hits.values())
        spelled = " or ".join(f"{r.source.written}.{r.column}" for r in hits.values())
        raise InvalidQuerySpec(f"{what}: column {ref!r} is ambiguous (in {where}); write {spelled}")
    available = [f"{s.short}.{n}" if len(tables) > 1 else n for s in tables for n, _ in s.ordered]
    close = difflib.get_close_matches(ref, available, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    shown = ", ".join(available[:_SHOWN_COLUMNS]) + (
        ", …" if len(available) > _SHOWN_COLUMNS else ""
    )
    in_tables = ", ".join(s.written for s in tables)
    raise InvalidQuerySpec(
        f"{what}: unknown column {ref!r} in {in_tables} (available: {shown}){hint}"
    )
