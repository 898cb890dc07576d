"""The governance rewrite: every catalog table becomes a filtered, masked subquery.

Applied after :func:`~dap_kernel.governance.rewrite.qualify_tables`, so each catalog table is a
qualified ``schema.table`` node. Replacing the node itself (keeping its alias) means ``WHERE``,
``JOIN``, ``GROUP BY``, window functions and row-as-struct references only ever see filtered,
masked rows: there is no unfiltered copy of the table left in the statement.

>>> import sqlglot
>>> from dap_kernel.governance.identity import Principal
>>> tree = sqlglot.parse_one("SELECT o.id FROM main.orders AS o", read="duckdb")
>>> p = TablePolicy(columns=(("id", "BIGINT"), ("region", "VARCHAR")),
...                 row_filters=("region = current_user_attr('region')",))
>>> secure_tables(tree, lambda t: p, Principal("ann", attributes={"region": "EMEA"})).sql("duckdb")
"SELECT o.id FROM (SELECT id, region FROM main.orders WHERE (region = 'EMEA')) AS o"
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from ..errors import DapError, QueryRefused
from .identity import Principal
from .policy import TablePolicy

MASKS = ("mask_email", "hash", "redact", "null", "partial")
# Functions only policies may use; they are replaced by values before the engine sees them.
POLICY_FUNCTIONS = frozenset({"current_user", "is_member", "current_user_attr"})


def _column(name: str) -> exp.Column:
    return exp.column(
        exp.to_identifier(name, quoted=not name.isidentifier() or name != name.lower())
    )


def mask_expression(mask: str, name: str, data_type: str) -> exp.Expr:
    """The expression a masked column is replaced with (named after the column by the caller)."""
    col = _column(name)
    text = exp.cast(col, "VARCHAR")
    if mask == "mask_email":
        return exp.func(
            "regexp_replace", text, exp.Literal.string("^[^@]+"), exp.Literal.string("***")
        )
    if mask == "hash":
        return exp.func("sha256", text)
    if mask == "redact":
        return exp.Literal.string("***")
    if mask == "null":
        return exp.cast(exp.Null(), data_type or "VARCHAR")
    if mask == "partial":
        return exp.DPipe(
            this=exp.func("left", text, exp.Literal.number(2)), expression=exp.Literal.string("***")
        )
    if mask.startswith("sql:"):
        expr = parse_policy_sql(mask[4:].replace("{col}", col.sql("duckdb")))
        return expr
    raise DapError(f"unknown mask {mask!r}: use {', '.join(MASKS)} or sql:EXPRESSION")


def parse_policy_sql(sql: str) -> exp.Expr:
    """Parse a predicate or mask written by a steward, with the same function checks as queries."""
    from .rewrite import refuse_forbidden_functions

    try:
        expr = sqlglot.parse_one(sql, read="duckdb", into=exp.Condition)
    except ParseError as e:
        raise DapError(
            f"invalid policy expression {sql!r}: {e.errors[0]['description'] if e.errors else e}"
        ) from e
    if expr.find(exp.Select, exp.Table):
        raise DapError(f"policy expressions may not contain subqueries or tables: {sql!r}")
    refuse_forbidden_functions(expr, also_allowed=POLICY_FUNCTIONS)
    return expr


def bind_principal(predicate: exp.Expr, principal: Principal) -> exp.Expr:
    """Replace ``current_user()``, ``is_member('g')`` and ``current_user_attr('k')`` by values."""

    def substitute(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.CurrentUser) or (
            isinstance(node, exp.Anonymous) and node.name.lower() == "current_user"
        ):
            return exp.Literal.string(principal.name)
        if isinstance(node, exp.Anonymous) and node.name.lower() in (
            "is_member",
            "current_user_attr",
        ):
            args = node.expressions
            if len(args) != 1 or not isinstance(args[0], exp.Literal) or not args[0].is_string:
                raise DapError(f"{node.name}() takes one string literal")
            key = args[0].this
            if node.name.lower() == "is_member":
                return exp.true() if key in principal.groups else exp.false()
            value = principal.attributes.get(key)
            if value is None:
                return exp.Null()
            if isinstance(value, bool):
                return exp.true() if value else exp.false()
            if isinstance(value, int | float):
                return exp.Literal.number(value)
            return exp.Literal.string(str(value))
        return node

    return predicate.copy().transform(substitute)


def resolve_policy(policy: TablePolicy, principal: Principal) -> TablePolicy:
    """The policy with the principal's values in place of ``current_user()`` & co.

    The rewrite of a statement depends on nothing else, so every principal whose resolved
    policies are equal (all EMEA analysts, say) shares one prepared statement.
    """
    filters = tuple(
        bind_principal(parse_policy_sql(p), principal).sql("duckdb") for p in policy.row_filters
    )
    return TablePolicy(columns=policy.columns, row_filters=filters, masks=policy.masks)


def policy_signature(policy: TablePolicy | None) -> Hashable:
    """A hashable form of a (resolved) table policy, for cache keys."""
    if policy is None:
        return None
    return (policy.columns, policy.row_filters, tuple(sorted(policy.masks.items())))


def secured_source(table: exp.Table, policy: TablePolicy, principal: Principal) -> exp.Subquery:
    """``schema.table`` → ``(SELECT masked columns FROM schema.table WHERE filters)``."""
    inner = exp.Table(this=table.this.copy(), db=table.args["db"].copy())
    if table.args.get("version") is not None:  # time travel applies to what the policy wraps
        inner.set("version", table.args["version"].copy())
    if policy.columns:
        projections: list[exp.Expr] = [
            exp.alias_(mask_expression(policy.masks[name], name, dtype), name, quoted=True)
            if name in policy.masks
            else _column(name)
            for name, dtype in policy.columns
        ]
    else:
        projections = [exp.Star()]
    select = exp.select(*projections).from_(inner)
    for predicate in policy.row_filters:
        select = select.where(
            exp.Paren(this=bind_principal(parse_policy_sql(predicate), principal))
        )
    alias = table.args.get("alias")
    if alias is None:
        alias = exp.TableAlias(this=exp.to_identifier(table.name))
    return exp.Subquery(this=select, alias=alias.copy())


def secure_tables(
    tree: exp.Expr,
    policy_for: Callable[[str], TablePolicy | None],
    principal: Principal,
) -> exp.Expr:
    """Replace every qualified catalog table by its secured source (pure: returns the tree)."""
    for table in list(tree.find_all(exp.Table)):
        if not table.args.get("db") or not isinstance(table.this, exp.Identifier):
            continue  # a CTE reference or an allowed table function
        policy = policy_for(f"{table.db}.{table.name}")
        if policy is None:
            continue
        if isinstance(table.parent, exp.Summarize | exp.Describe):
            raise QueryRefused(
                f"SUMMARIZE/DESCRIBE of {table.db}.{table.name} is not available to you: "
                "it has a row filter or masked columns; summarise a SELECT instead"
            )
        table.replace(secured_source(table, policy, principal))
    return tree
