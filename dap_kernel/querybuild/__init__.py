"""Visual query spec → SQL, for ``POST /dap/api/v1/query/build`` and the lab query builder.

The builder in the browser sends a small JSON spec (table, joins, columns, filters, grouping,
aggregates, ordering, limit); :func:`build_query` checks every name against the catalog and
returns SQL for the one governed path (``Session.sql``), which checks it again like any other
statement. The SQL is built as a sqlglot tree, never by pasting text: names become quoted
identifiers and filter values become ``$pN`` placeholders bound at run time. ``display_sql``
is the same tree with the values turned into literal nodes, for showing to the user and for
"insert as notebook cell"; sqlglot writes the literals, so a hostile value stays a string.
The SQL pieces (placeholders, identifiers, conditions, aggregates) are :mod:`dap_kernel.sqlbuild`'s,
shared with dashboards and quality rules.

Inside: :mod:`.spec` is the contract (the JSON models the REST layer documents), :mod:`.refs`
checks the tables and columns a spec names against the catalog, :mod:`.conditions` turns
filters into conditions on bound values, and :mod:`.build` assembles the SELECT.

>>> cols = {"orders": [("id", "INTEGER"), ("amount", "DECIMAL(10,2)")]}
>>> spec = QuerySpec(table="orders", filters=[FilterSpec(column="amount", op=">", value=10)])
>>> b = build_query(spec, cols.__getitem__)
>>> b.sql, b.params
('SELECT t0.id, t0.amount FROM orders AS t0 WHERE t0.amount > $p0', {'p0': 10})
>>> b.display_sql.splitlines()[-1]
'  t0.amount > 10'
"""

from __future__ import annotations

from .build import build_query
from .refs import ColumnsOf
from .spec import (
    MAX_IN_VALUES,
    MAX_NAME_CHARS,
    AggregateSpec,
    BuiltQuery,
    FilterOp,
    FilterSpec,
    InvalidQuerySpec,
    JoinKey,
    JoinSpec,
    OrderSpec,
    QuerySpec,
)

__all__ = [
    "MAX_IN_VALUES",
    "MAX_NAME_CHARS",
    "AggregateSpec",
    "BuiltQuery",
    "ColumnsOf",
    "FilterOp",
    "FilterSpec",
    "InvalidQuerySpec",
    "JoinKey",
    "JoinSpec",
    "OrderSpec",
    "QuerySpec",
    "build_query",
]
