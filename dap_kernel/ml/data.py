"""Where a model's rows come from: the caller's governed session, and nothing else.

A source is a table name or one SELECT, read with ``session.query`` like every statistic of
:mod:`dap_kernel.stats.source` (local or over the DAP service, the same method), so an
analyst's row filters and column masks apply before a single row reaches the model: a
row-filtered analyst trains on their rows, a masked column is seen as its masked values.

What was read is kept beside the frame (:class:`TrainingData`): the SQL sent, the tables the
governed path reports it read, and each table's Delta version as the catalog shows it to the
caller just after the read — what MLflow records so a run can be traced to its data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlglot import exp

from ..errors import DapError
from ..sqlbuild import DIALECT, parse_table
from ..stats.errors import StatsError, TooManyRows
from ..stats.source import client, from_clause, is_query
from .errors import MLError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import polars as pl

    from ..catalog import TableInfo
    from ..governance.policy import Decision
    from ..results import QueryResult

# Rows a model trains on (or scores) at most: the rows are pulled into the kernel.
MAX_ROWS = 1_000_000


class ModelSession(Protocol):
    """What ``dap.ml`` needs of a session: governed SQL, the catalog as the caller sees it,
    grant checks and who the caller is (any client, in-process or over HTTP)."""

    def query(
        self,
        sql: str,
        params: Mapping[str, Any] | Sequence[Any] | None = None,
        *,
        limit: int | None = None,
    ) -> QueryResult: ...

    def describe(self, table: str) -> TableInfo: ...

    def check(self, action: str, securable: str) -> Decision: ...

    def whoami(self) -> dict[str, Any]: ...


def session_of(session: ModelSession | None) -> ModelSession:
    """``session``, or the caller's own client (``dap.ml.train(…)`` in a notebook)."""
    found: ModelSession = client(session)  # type: ignore[assignment]
    return found


@dataclass(frozen=True)
class TrainingData:
    """Rows read through the governed path, with what identifies them."""

    frame: pl.DataFrame
    sql: str
    tables: tuple[str, ...]
    versions: dict[str, int] = field(default_factory=dict)
    user: str = ""

    @property
    def rows(self) -> int:
        return int(self.frame.height)


def source_sql(source: str) -> str:
    """The statement that reads ``source``: ``SELECT * FROM "schema"."table"`` or the SELECT
    itself (one statement, checked by the same parser as any query)."""
    if not isinstance(source, str) or not source.strip():
        raise MLError("name a table or give a SELECT to read the rows from")
    try:
        tree = from_clause(source)
    except StatsError as e:
        raise MLError(e.message) from None
    if is_query(source.strip()) and isinstance(tree, exp.Subquery):
        return str(tree.this.sql(dialect=DIALECT))
    return str(exp.select(exp.Star()).from_(parse_table(source.strip())).sql(dialect=DIALECT))


def read(
    source: str | pl.DataFrame,
    session: ModelSession,
    params: Mapping[str, Any] | None = None,
    *,
    max_rows: int = MAX_ROWS,
) -> TrainingData:
    """The caller's governed rows of ``source`` (a table name or a SELECT).

    A polars frame is refused: rows that did not come through the governed path would have no
    lineage, and could be anyone's copy of governed data.
    """
    if not isinstance(source, str):
        raise MLError(
            "dap.ml reads its rows through governed SQL: give a table name or a SELECT, "
            "not a DataFrame"
        )
    sql = source_sql(source)
    result = session.query(sql, params, limit=max_rows + 1)  # the SELECT as written
    if result.table.num_rows > max_rows:
        raise TooManyRows(
            f"more than {max_rows:,} rows: sample or aggregate them in the SELECT first"
        )
    user = str(session.whoami().get("user", ""))
    return TrainingData(
        frame=result.to_polars(),
        sql=sql,
        tables=tuple(result.tables),
        versions=table_versions(session, result.tables),
        user=user,
    )


def table_versions(session: ModelSession, tables: Sequence[str]) -> dict[str, int]:
    """The Delta version of each table read, as the catalog shows it to the caller (a table
    from a live database or a file has none worth recording and is left out)."""
    versions: dict[str, int] = {}
    for table in tables:
        try:
            info = session.describe(table)
        except DapError:
            continue
        if info.kind == "delta":
            versions[info.qualified_name] = int(info.version)
    return versions
