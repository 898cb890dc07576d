"""Where ``dap.stats`` reads from: a catalog table or a SELECT, always through governed SQL.

Every statistic is one or a few statements of the caller's session (``session.query``: local
or the DAP service, the same method), so the caller's row filters and column masks apply
before any figure is computed: an analyst's count is the count of their rows, and a masked
column is summarised as its masked values. Nothing here reads a table any other way.

A source is written as a table name (``orders``, ``main.orders``) or as a query
(``SELECT …``, ``WITH …``, ``FROM …``); it becomes ``FROM (source) AS src`` of the statement a
statistic builds with :mod:`dap_kernel.sqlbuild`. Column names are checked against what the
caller sees (a ``LIMIT 0`` probe of the source) and written as quoted identifiers, so no name
can change the statement's shape.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa
from sqlglot import exp

from ..caller import default_client
from ..governance.rewrite import parse_one_statement
from ..sqlbuild import DIALECT, SqlBuildError, column_ref, parse_table, subquery
from .errors import NotNumeric, StatsError, TooManyRows, UnknownColumn

if TYPE_CHECKING:
    from ..session import QueryResult

ALIAS = "src"
# Rows a statistic that needs the values themselves (ranks, regression) pulls at most.
MAX_ROWS = 1_000_000
_QUERY_WORDS = ("select", "with", "from", "values", "table", "pivot", "unpivot", "(")


class Queries(Protocol):
    """Governed SQL: what every statistic needs of a session (any client, local or remote)."""

    def query(
        self, sql: str, params: Mapping[str, Any] | Sequence[Any] | None = None
    ) -> QueryResult: ...


Params = Mapping[str, Any] | None


def client(session: Queries | None) -> Queries:
    """``session``, or the caller's own client when none is given (``dap.stats.describe(…)``)."""
    if session is not None:
        return session
    found: Queries = default_client()
    return found


def is_query(source: str) -> bool:
    """A SELECT (or WITH, FROM-first …) rather than a table name."""
    head = source.lstrip().lower()
    if head.startswith("("):
        return True
    word = ""
    for ch in head:
        if not (ch.isalnum() or ch == "_"):
            break
        word += ch
    return word in _QUERY_WORDS


def from_clause(source: str) -> exp.Expr:
    """``source`` as what a statistic's statement reads: ``(SELECT …) AS src`` or
    ``"schema"."table" AS src``. The governed path checks and rewrites it like any query."""
    if not isinstance(source, str) or not source.strip():
        raise StatsError("name a table or give a SELECT to compute statistics of")
    text = source.strip()
    if is_query(text):
        tree = parse_one_statement(text, DIALECT)  # one statement, syntax errors worded
        if not isinstance(tree, exp.Query):
            raise StatsError("the source must be a table name or one SELECT")
        return subquery(tree, ALIAS)
    try:
        return parse_table(text, alias=ALIAS)
    except SqlBuildError as e:
        raise StatsError(f"{e.message}, or give a SELECT") from None


@dataclass(frozen=True)
class Source:
    """A source as the caller sees it: its FROM clause, parameters and visible columns."""

    written: str
    tree: exp.Expr
    params: dict[str, Any]
    schema: pa.Schema

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)

    def select(self, *projections: exp.Expr) -> exp.Select:
        """``SELECT projections FROM source`` (a fresh tree each time)."""
        return exp.select(*projections).from_(self.tree.copy())

    def run(
        self, query: exp.Expr, session: Queries, extra: Mapping[str, Any] | None = None
    ) -> pa.Table:
        """Run ``query`` through the governed path with the source's and ``extra`` values."""
        values = {**self.params, **(extra or {})}
        return session.query(query.sql(dialect=DIALECT), values or None).table

    def column(self, name: str) -> exp.Column:
        """A column of the source as a quoted identifier; unknown → :class:`UnknownColumn`."""
        if not isinstance(name, str) or name not in self.schema.names:
            close = difflib.get_close_matches(str(name), self.schema.names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UnknownColumn(f"{self.written_short} has no column {name!r}{hint}")
        if self.schema.names.count(name) > 1:
            raise StatsError(f"{self.written_short} has more than one column named {name!r}")
        return column_ref(name, ALIAS)

    def type_of(self, name: str) -> pa.DataType:
        self.column(name)
        return self.schema.field(name).type

    def numeric(self, name: str) -> exp.Column:
        """A numeric column (numbers or booleans); anything else → :class:`NotNumeric`."""
        ref = self.column(name)
        type_ = self.schema.field(name).type
        if not is_numeric(type_):
            raise NotNumeric(
                f"column {name!r} of {self.written_short} holds {type_}, not numbers"
                " (a masked column may hold masked text)"
            )
        return ref

    @property
    def written_short(self) -> str:
        text = " ".join(self.written.split())
        return text if len(text) <= 60 else text[:57] + "…"


def open_source(source: str, session: Queries, params: Params = None) -> Source:
    """Resolve ``source`` and probe what the caller sees of it (one ``LIMIT 0`` statement:
    no rows, only the masked and filtered schema)."""
    if params is not None and not isinstance(params, Mapping):
        raise StatsError("parameters of a stats source are a mapping of names to values")
    tree = from_clause(source)
    values = dict(params or {})
    probe = exp.select(exp.Star()).from_(tree.copy()).limit(0)
    schema = session.query(probe.sql(dialect=DIALECT), values or None).table.schema
    return Source(source, tree, values, schema)


def is_numeric(type_: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(type_)
        or pa.types.is_floating(type_)
        or pa.types.is_decimal(type_)
        or pa.types.is_boolean(type_)
    )


def number(value: Any) -> float | None:
    """An engine's number as a float; NULL and NaN (a deviation of one row) as None."""
    if value is None:
        return None
    result = float(value)
    return None if math.isnan(result) else result


def as_double(column: exp.Expr) -> exp.Expr:
    """A numeric column as DOUBLE (booleans count as 0/1; decimals and integers as floats)."""
    return exp.Cast(this=column, to=exp.DataType.build("DOUBLE"))


def pull(
    src: Source,
    session: Queries,
    columns: Sequence[str],
    *,
    max_rows: int = MAX_ROWS,
    where_not_null: bool = True,
) -> pa.Table:
    """The values of ``columns`` (governed), for statistics that need the values themselves.
    More than ``max_rows`` rows → :class:`TooManyRows` (the engine stops at one more)."""
    refs = [src.column(c) for c in columns]
    query = src.select(*[exp.alias_(r, f"c{i}", quoted=True) for i, r in enumerate(refs)])
    if where_not_null and refs:
        condition: exp.Expr = exp.and_(
            *[exp.Not(this=exp.Is(this=r.copy(), expression=exp.Null())) for r in refs]
        )
        query = query.where(condition)
    query = query.limit(max_rows + 1)
    table = src.run(query, session)
    if table.num_rows > max_rows:
        raise TooManyRows(
            f"{src.written_short} has more than {max_rows:,} rows for this statistic: "
            "aggregate or sample it in a SELECT first, or raise max_rows"
        )
    return table.rename_columns(list(columns))
