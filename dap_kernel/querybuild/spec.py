"""The query builder's contract: the JSON spec the browser sends and the SQL it gets back.

The REST layer reuses these models for its OpenAPI document (``POST /query/build``), so the
field descriptions are what API users read.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import DapError

MAX_NAME_CHARS = 512
MAX_IN_VALUES = 10_000


class InvalidQuerySpec(DapError):
    """The visual query spec names a column that does not exist, or does not fit together."""

    code = "invalid_query_spec"
    http_status = 400


_COLUMN_REF = (
    "a column: `col`, or `table.col` where `table` is the table name as written or its last part"
)


class JoinKey(BaseModel):
    """One equality of a join condition."""

    model_config = ConfigDict(extra="forbid")

    left: str = Field(
        min_length=1,
        max_length=MAX_NAME_CHARS,
        description=f"Column of a table joined before this one; {_COLUMN_REF}.",
    )
    right: str = Field(
        min_length=1,
        max_length=MAX_NAME_CHARS,
        description=f"Column of the table this join adds; {_COLUMN_REF}.",
    )


FilterOp = Literal[
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "in",
    "not in",
    "between",
    "like",
    "contains",
    "starts with",
    "is null",
    "is not null",
]


class FilterSpec(BaseModel):
    """One condition of the WHERE clause; all filters must hold (AND)."""

    model_config = ConfigDict(extra="forbid")

    column: str = Field(
        min_length=1, max_length=MAX_NAME_CHARS, description=f"The filtered column; {_COLUMN_REF}."
    )
    op: FilterOp = Field(
        description=(
            "Comparison. `like` takes a SQL pattern (`%`, `_`); `contains` and `starts with` "
            "match the text literally and ignore case."
        )
    )
    value: Any = Field(
        default=None,
        description=(
            "A string, number or boolean; a non-empty list for `in`/`not in`; a list of two "
            "values (low, high) for `between`; nothing for `is null`/`is not null`. Dates and "
            "timestamps are ISO strings. Always sent as a bound parameter."
        ),
    )


class JoinSpec(BaseModel):
    """One more table, joined to the ones before it."""

    model_config = ConfigDict(extra="forbid")

    table: str = Field(
        min_length=1,
        max_length=MAX_NAME_CHARS,
        description="Catalog table name, `table` or `schema.table`.",
    )
    type: Literal["inner", "left", "right", "full"] = Field(
        default="inner", description="Join type (outer joins keep unmatched rows of that side)."
    )
    on: list[JoinKey] = Field(
        min_length=1, max_length=32, description="Column pairs that must be equal (AND)."
    )


class AggregateSpec(BaseModel):
    """One aggregate output column, computed per group (or over all rows without group_by)."""

    model_config = ConfigDict(extra="forbid")

    func: Literal["count", "count_distinct", "sum", "avg", "min", "max"] = Field(
        description="Aggregate function; `count_distinct` counts distinct non-null values."
    )
    column: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_NAME_CHARS,
        description=f"The aggregated column ({_COLUMN_REF}); none or `*` only for `count` (rows).",
    )
    alias: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_NAME_CHARS,
        description="Output column name; default `count`, `sum_amount`, `count_distinct_id`, ….",
    )


class OrderSpec(BaseModel):
    """One sort key."""

    model_config = ConfigDict(extra="forbid")

    column: str = Field(
        min_length=1,
        max_length=MAX_NAME_CHARS,
        description=f"An output column name (including aggregate aliases) or {_COLUMN_REF}.",
    )
    descending: bool = Field(default=False, description="Sort from largest to smallest.")


class QuerySpec(BaseModel):
    """What the visual query builder sends: one SELECT over catalog tables."""

    model_config = ConfigDict(extra="forbid")

    table: str = Field(
        min_length=1,
        max_length=MAX_NAME_CHARS,
        description="Main catalog table, `table` or `schema.table`.",
    )
    joins: list[JoinSpec] = Field(
        default_factory=list, max_length=16, description="Tables joined to the main one, in order."
    )
    columns: list[str] = Field(
        default_factory=list,
        max_length=1000,
        description=(
            "Output columns when there is no aggregation; empty means every column of the main "
            "table. With aggregates or group_by, only group_by columns may be listed here."
        ),
    )
    filters: list[FilterSpec] = Field(
        default_factory=list, max_length=200, description="WHERE conditions, all of which hold."
    )
    group_by: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="Grouping columns; they come first in the output, then the aggregates.",
    )
    aggregates: list[AggregateSpec] = Field(
        default_factory=list, max_length=100, description="Aggregate output columns."
    )
    order_by: list[OrderSpec] = Field(
        default_factory=list, max_length=100, description="Sort keys, most significant first."
    )
    limit: int | None = Field(
        default=None, ge=1, le=1_000_000, description="Return at most this many rows."
    )


class BuiltQuery(BaseModel):
    """The SQL for a spec, to run through the governed query path."""

    sql: str = Field(
        description="DuckDB SQL with `$p0`, `$p1`, … placeholders; run it with `params`."
    )
    params: dict[str, Any] = Field(description='Placeholder values: {"p0": value, …}.')
    display_sql: str = Field(
        description="The same query with the values written as SQL literals, for reading and "
        "for pasting into a notebook cell."
    )
    columns: list[str] = Field(description="Output column names, in order.")
