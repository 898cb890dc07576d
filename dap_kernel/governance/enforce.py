"""The governance rewrite: every catalog table becomes a filtered, masked subquery.

Applied after :func:`~dap_kernel.governance.rewrite.qualify_tables`, so each catalog table is a
qualified ``schema.table`` node. Replacing the node itself (keeping its alias) means ``WHERE``,
``JOIN``, ``GROUP BY``, window functions and row-as-struct references only ever see filtered,
masked rows: there is no unfiltered copy of the table left in the statement. The subquery reads
the engine's raw relation, under a name (:mod:`dap_kernel.engines.names`) that only this module
writes: a reference it did not secure is an unknown table to the engine, never raw rows.

>>> import sqlglot
>>> from dap_kernel.engines.names import RelationNames
>>> from dap_kernel.governance.identity import Principal
>>> tree = sqlglot.parse_one("SELECT o.id FROM main.orders AS o", read="duckdb")
>>> p = TablePolicy(columns=(("id", "BIGINT"), ("region", "VARCHAR")),
...                 row_filters=("region = current_user_attr('region')",))
>>> ann = Principal("ann", attributes={"region": "EMEA"})
>>> print(secure_tables(tree, lambda t: p, ann, RelationNames("k")).sql("duckdb"))
SELECT o.id FROM (SELECT id, region FROM "main#k"."orders" WHERE (region = 'EMEA')) AS o
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from ..engines.names import RelationNames
from ..errors import DapError, QueryFailed, QueryRefused
from .identity import Principal
from .policy import TablePolicy
from .rewrite import refuse_forbidden_functions, travel_schema
from .scope import table_references

MASKS = ("mask_email", "hash", "redact", "null", "partial")
# Functions only policies may use; they are replaced by values before the engine sees them.
POLICY_FUNCTIONS = frozenset({"current_user", "is_member", "current_user_attr"})


def _column(name: str) -> exp.Column:
    return exp.column(
        exp.to_identifier(name, quoted=not name.isidentifier() or name != name.lower())
    )


@dataclass(frozen=True)
class MaskKey:
    """The workspace's key for ``hash`` masks, as HMAC-SHA256's two padded keys (hex).

    A plain hash of a low-entropy value (a region, a birth date, a short code) is undone with a
    dictionary; a keyed one is not, as long as the key stays inside DAP.
    """

    inner: str
    outer: str

    @classmethod
    def from_secret(cls, key: bytes) -> MaskKey:
        block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
        return cls(
            inner=bytes(b ^ 0x36 for b in block).hex(), outer=bytes(b ^ 0x5C for b in block).hex()
        )

    def hmac(self, value: exp.Expr) -> exp.Expr:
        """``HMAC-SHA256(key, value)`` in SQL, as lower-case hex (same as Python's ``hmac``)."""
        inner = exp.func(
            "sha256",
            exp.DPipe(
                this=exp.func("unhex", exp.Literal.string(self.inner)),
                expression=exp.Encode(this=value, charset=exp.Literal.string("utf-8")),
            ),
        )
        return exp.func(
            "sha256",
            exp.DPipe(
                this=exp.func("unhex", exp.Literal.string(self.outer)),
                expression=exp.func("unhex", inner),
            ),
        )


def mask_expression(mask: str, name: str, data_type: str, key: MaskKey | None = None) -> exp.Expr:
    """The expression a masked column is replaced with (named after the column by the caller)."""
    col = _column(name)
    text = exp.cast(col, "VARCHAR")
    if mask == "mask_email":
        return exp.func(
            "regexp_replace", text, exp.Literal.string("^[^@]+"), exp.Literal.string("***")
        )
    if mask == "hash":
        if key is None:
            raise DapError("hash masks need the workspace's mask key")
        return key.hmac(text)
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
    """Parse a predicate or mask written by a steward, with the same function checks as queries.

    The result is the caller's to change (a copy of the parse, which is kept: every secured
    statement of every user parses the same few policies)."""
    return _parsed_policy(sql).copy()


@functools.lru_cache(maxsize=4096)
def _parsed_policy(sql: str) -> exp.Expr:
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


def secured_source(
    table: exp.Table,
    policy: TablePolicy | None,
    principal: Principal,
    names: RelationNames,
    key: MaskKey | None = None,
) -> exp.Expr:
    """``schema.table`` → ``(SELECT masked columns FROM <raw relation> WHERE filters) AS table``.

    The raw relation is the only name under which the engine holds the table's rows, and this
    is the only function that writes it. A table seen as stored (``policy`` None) becomes the
    raw relation itself, aliased as the user wrote it.
    """
    version = table.args.get("version")
    schema = table.db if version is None else travel_schema(table.db, version)
    inner = names.table(schema, table.name)
    alias = table.args.get("alias")
    if alias is None:
        alias = exp.TableAlias(this=exp.to_identifier(table.name))
    if policy is None:  # in place: samples, pivots and the like stay on the reference
        table.set("this", inner.this)
        table.set("db", inner.args["db"])
        table.set("version", None)
        if not isinstance(table.parent, exp.Summarize | exp.Describe):  # they take no alias
            table.set("alias", alias)
        return table
    if policy.columns:
        projections: list[exp.Expr] = [
            exp.alias_(mask_expression(policy.masks[name], name, dtype, key), name, quoted=True)
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
    return exp.Subquery(this=select, alias=alias.copy())


def secure_tables(
    tree: exp.Expr,
    policy_for: Callable[[str], TablePolicy | None],
    principal: Principal,
    names: RelationNames,
    key: MaskKey | None = None,
) -> exp.Expr:
    """Replace every catalog table by its secured source (pure: returns the tree).

    Runs on a statement :func:`~dap_kernel.governance.rewrite.qualify_tables` has checked, so
    every reference that is not a CTE is a qualified catalog table. Afterwards, any name left
    that is neither a secured source nor a CTE is refused (a second, independent check; the
    engine refuses it anyway, since only secured sources name raw relations).
    """
    unaliased: set[tuple[str, str]] = set()
    for ref in table_references(tree):
        table = ref.table
        if ref.cte:
            continue
        if not table.args.get("db"):
            raise QueryRefused(f"table {table.name} was not checked against the catalog")
        if table.args.get("alias") is None:
            unaliased.add((table.db.lower(), table.name.lower()))
        policy = policy_for(f"{table.db}.{table.name}")
        if policy is not None and isinstance(table.parent, exp.Summarize | exp.Describe):
            raise QueryRefused(
                f"SUMMARIZE/DESCRIBE of {table.db}.{table.name} is not available to you: "
                "it has a row filter or masked columns; summarise a SELECT instead"
            )
        replacement = secured_source(table, policy, principal, names, key)
        if table is tree:
            tree = replacement
        else:
            table.replace(replacement)
    _unqualify_columns(tree, unaliased)
    refuse_unsecured(tree, names)
    return tree


def _unqualify_columns(tree: exp.Expr, tables: set[tuple[str, str]]) -> None:
    """``main.orders.id`` → ``orders.id``: a secured source goes by the table's bare name."""
    if not tables:
        return
    for column in tree.find_all(exp.Column):
        db = column.args.get("db")
        if db is not None and (db.name.lower(), column.table.lower()) in tables:
            column.set("db", None)


def governed_message(error: QueryFailed) -> str:
    """What a user may be told of an engine error in a statement that reads governed rows.

    A runtime error can carry a value of the row it failed on (``Could not convert string
    '…'``, ``error(name)``), and the engine does not promise to filter before it evaluates the
    user's expressions: so only the kind of error is kept. Errors about the statement itself
    (parsing, binding, names — only an engine's own statement kinds set ``about_statement``)
    carry no row values and stay as they are.
    """
    if error.about_statement:
        return error.message
    return (
        f"{error.summary} (details hidden, since the statement reads rows under a row filter "
        "or masked columns: a value in the message could come from a row you may not see)"
    )


def refuse_unsecured(tree: exp.Expr, names: RelationNames) -> None:
    """Every table name must be a raw relation a secured source wrote, or a CTE in scope."""
    for ref in table_references(tree):
        table = ref.table
        if ref.cte or (table.args.get("db") and names.is_hidden(table.db)):
            continue
        raise QueryRefused(f"table {table.name} is not a secured catalog table")
