"""From user SQL to the statement an engine may run: parse, check, qualify, transpile.

Small pure functions chained by :func:`prepare`. The governance issue adds the row-filter and
column-mask rewrite as one more step; front doors never change.

>>> p = prepare("SELECT * FROM orders WHERE id = :id", known={"main.orders"})
>>> p.sql, p.tables, p.param_names
('SELECT * FROM main.orders WHERE id = $id', ('main.orders',), ('id',))
"""

from __future__ import annotations

import difflib
import functools
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, cast, runtime_checkable

import sqlglot
from sqlglot import TokenType, exp
from sqlglot.errors import ParseError, TokenError

from ..errors import QueryRefused, SqlSyntaxError, UnknownTable
from .scope import cte_names, table_references

MAX_SQL_CHARS = 1_000_000
DEFAULT_SCHEMA = "main"

# Statement kinds that only read. Everything else (DDL, DML, COPY, ATTACH, SET, PRAGMA, …) is
# refused here, before any engine sees it.
READ_STATEMENTS: tuple[type[exp.Expr], ...] = (
    exp.Query,
    exp.Pivot,
    exp.Summarize,
    exp.Describe,
)

# Table functions that produce values without touching anything outside the query.
ALLOWED_TABLE_FUNCTIONS: tuple[type[exp.Expr], ...] = (exp.GenerateSeries, exp.Unnest)

# Functions that reach files, the network, the environment, settings or the engine's own
# catalog. The governance issue turns this into an allowlist.
_FORBIDDEN_FUNCTION = re.compile(
    r"^(read_\w+|parquet_\w+|duckdb_\w+|pragma_\w+|sniff_\w+|iceberg_\w+|delta_\w+|sqlite_\w+"
    r"|postgres_\w+|mysql_\w+|glob|getenv|getvariable|query|query_table|current_setting"
    r"|which_secret"
    r"|load_\w+|install_\w+|json_execute_serialized_sql|\w*_scan)$",
    re.IGNORECASE,
)


@runtime_checkable
class Resolver(Protocol):
    """Answers which table names exist; the catalog implements it with one indexed lookup."""

    def resolve(self, qualified: Sequence[str]) -> dict[str, str]:
        """Map each lower-cased ``schema.table`` that exists to its catalog spelling."""
        ...

    def all_names(self) -> Collection[str]:
        """Every catalog name, for "did you mean" suggestions."""
        ...


class StaticResolver:
    """A fixed set of names (tests, and the doctest above)."""

    def __init__(self, names: Collection[str]) -> None:
        self.names = {n.lower(): n for n in names}

    def resolve(self, qualified: Sequence[str]) -> dict[str, str]:
        return {q: self.names[q] for q in qualified if q in self.names}

    def all_names(self) -> Collection[str]:
        return list(self.names.values())


@dataclass(frozen=True)
class Travel:
    """A table read at a past version: ``FOR VERSION AS OF 3`` / ``FOR TIMESTAMP AS OF '…'``.

    The engine sees it under its own name (``"main@v3".orders``), so the same table at two
    versions can meet in one statement and no one else's view of the table changes.
    """

    table: str  # the catalog table, e.g. main.orders
    kind: str  # "version" or "timestamp"
    value: str
    engine_schema: str  # the schema the engine binds this version under


@dataclass(frozen=True)
class Prepared:
    """A checked statement: engine SQL, the catalog tables it reads, its parameter names."""

    sql: str
    tables: tuple[str, ...]
    param_names: tuple[str, ...]
    positional_params: int
    kind: str
    travels: tuple[Travel, ...] = ()


def prepare(
    sql: str,
    *,
    known: Collection[str] | Resolver,
    read_dialect: str = "duckdb",
    write_dialect: str = "duckdb",
    steps: Iterable[Callable[[exp.Expr], exp.Expr]] = (),
    cache_scope: Hashable | None = None,
    as_of: tuple[str, str] | None = None,
    pins: tuple[tuple[str, int], ...] = (),
) -> Prepared:
    """Parse and check ``sql``; ``known`` holds the qualified names of catalog tables.

    ``as_of`` (``("version", "3")`` or ``("timestamp", "2026-11-01T00:00:00")``) reads every
    table without its own ``FOR … AS OF`` at that point of its history. ``pins`` (qualified
    name, version) read those tables at those versions instead (a report re-run as recorded).

    Dashboards and notebooks re-run the same text: without rewrite ``steps`` the outcome
    depends only on the text and on what its table names resolve to, so a cached result is
    reused when a fresh lookup of the same names resolves them the same way. With rewrite
    ``steps`` the result also depends on who asks and on the policies: the caller passes that
    as ``cache_scope`` (principal and policy version), or nothing is cached.
    """
    # Not isinstance(known, Resolver): a runtime Protocol check costs ~0.1 ms on every query.
    resolver = cast(Resolver, known) if hasattr(known, "resolve") else StaticResolver(known)
    steps = tuple(steps)
    cacheable = not steps or cache_scope is not None
    key = (sql, read_dialect, write_dialect, cache_scope, as_of, pins)
    if cacheable:
        with _PREPARED_LOCK:
            cached = _PREPARED.get(key)
        if cached is not None:
            candidates, found, prepared = cached
            if not candidates or resolver.resolve(candidates) == found:
                return prepared
    recorder = _RecordingResolver(resolver)
    try:
        prepared = _prepare(sql, recorder, read_dialect, write_dialect, steps, as_of, dict(pins))
    except RecursionError as e:  # parsed, but too deep for a step or the SQL generator
        raise QueryRefused("the statement is nested too deeply to be checked") from e
    if cacheable:
        with _PREPARED_LOCK:
            _PREPARED[key] = (recorder.candidates, recorder.found, prepared)
            while len(_PREPARED) > _PREPARED_MAX:
                _PREPARED.popitem(last=False)
    return prepared


# Entries are small (a statement and its rewrite); dashboards for hundreds of users, each with
# a handful of statements and their own scope, must fit without thrashing.
_PREPARED_MAX = 20_000
_PREPARED_LOCK = threading.Lock()
_PREPARED: OrderedDict[
    tuple[str, str, str, Hashable, tuple[str, str] | None, tuple[tuple[str, int], ...]],
    tuple[tuple[str, ...], dict[str, str], Prepared],
] = OrderedDict()


class _RecordingResolver:
    """Remembers the names asked for and the answer, as the cache key of a prepared statement."""

    def __init__(self, inner: Resolver) -> None:
        self.inner = inner
        self.candidates: tuple[str, ...] = ()
        self.found: dict[str, str] = {}

    def resolve(self, qualified: Sequence[str]) -> dict[str, str]:
        self.candidates = tuple(qualified)
        self.found = self.inner.resolve(qualified)
        return self.found

    def all_names(self) -> Collection[str]:
        return self.inner.all_names()


def _prepare(
    sql: str,
    resolver: Resolver,
    read_dialect: str,
    write_dialect: str,
    steps: tuple[Callable[[exp.Expr], exp.Expr], ...],
    as_of: tuple[str, str] | None = None,
    pins: Mapping[str, int] | None = None,
) -> Prepared:
    tree = parse_one_statement(sql, read_dialect)
    refuse_writes(tree)
    refuse_forbidden_functions(tree)
    tables = qualify_tables(tree, resolver, as_of=as_of, pins=pins)
    travels = travel_points(tree)
    for step in steps:
        tree = step(tree)
    names, positional = parameters(tree)
    return Prepared(
        sql=tree.sql(dialect=write_dialect),
        tables=tables,
        param_names=names,
        positional_params=positional,
        kind=type(tree).__name__.upper(),
        travels=travels,
    )


def travel_of(version: exp.Version) -> tuple[str, str]:
    """``FOR VERSION AS OF 3`` → ``("version", "3")``; only literal points in time."""
    kind = str(version.this).lower()
    value = version.expression
    if str(version.args.get("kind", "")).upper() != "AS OF" or not isinstance(value, exp.Literal):
        raise QueryRefused(
            "time travel takes FOR VERSION AS OF <number> or FOR TIMESTAMP AS OF '<time>'"
        )
    if kind == "version" and not (not value.is_string and str(value.this).isdigit()):
        raise QueryRefused(f"FOR VERSION AS OF needs a version number, not {value.sql()}")
    if kind not in ("version", "timestamp"):
        raise QueryRefused(f"unknown time travel kind {kind.upper()}: use VERSION or TIMESTAMP")
    return kind, str(value.this)


def travel_schema(schema: str, version: exp.Version) -> str:
    """The engine schema of a table read at a past point: ``main@v3``, ``main@t2026-…``."""
    kind, value = travel_of(version)
    return f"{schema}@{'v' if kind == 'version' else 't'}{value}"


def travel_points(tree: exp.Expr) -> tuple[Travel, ...]:
    """The past versions a qualified statement reads (each bound under its own engine schema,
    so the same table at two versions can meet in one statement)."""
    travels: dict[str, Travel] = {}
    for table in tree.find_all(exp.Table):
        version = table.args.get("version")
        if version is None or not table.db:
            continue
        kind, value = travel_of(version)
        engine_schema = travel_schema(table.db, version)
        travels.setdefault(
            engine_schema + "." + table.name,
            Travel(f"{table.db}.{table.name}", kind, value, engine_schema),
        )
    return tuple(travels.values())


def parse_one_statement(sql: str, dialect: str = "duckdb") -> exp.Expr:
    if len(sql) > MAX_SQL_CHARS:
        raise QueryRefused(
            f"the statement is {len(sql):,} characters long; the limit is {MAX_SQL_CHARS:,}"
        )
    try:
        sql = colon_parameters_to_dollar(sql, dialect)
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except ParseError as e:
        raise SqlSyntaxError(syntax_message(e)) from e
    except TokenError as e:
        raise SqlSyntaxError(token_message(sql, e)) from e
    except RecursionError as e:
        raise QueryRefused("the statement is nested too deeply to be checked") from e
    if not statements:
        raise SqlSyntaxError("SQL syntax error: the statement is empty")
    if len(statements) > 1:
        raise QueryRefused(
            f"one statement at a time: found {len(statements)} statements separated by ';'"
        )
    return statements[0]


_NOT_BEFORE_PARAMETER = {
    TokenType.VAR,
    TokenType.NUMBER,
    TokenType.STRING,
    TokenType.IDENTIFIER,
    TokenType.R_PAREN,
    TokenType.R_BRACKET,
    TokenType.R_BRACE,
    TokenType.L_BRACKET,  # a[:n] is a slice
}


def colon_parameters_to_dollar(sql: str, dialect: str = "duckdb") -> str:
    """Spell ``:name`` parameters as ``$name`` before parsing (only the colon changes).

    DuckDB's dialect reads ``SELECT :v`` as the prefix-alias form ``alias: expr``, so a
    ``:name`` right after ``SELECT`` would not parse. A colon glued to a name, and not following
    a value (``x: 1`` aliases, ``a[1:n]`` slices keep theirs), is a parameter.

    >>> colon_parameters_to_dollar("SELECT :v AS x, a[1:n] FROM t WHERE s = ':no'")
    "SELECT $v AS x, a[1:n] FROM t WHERE s = ':no'"
    """
    if ":" not in sql:
        return sql
    tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(sql)
    chars = list(sql)
    for before, colon, name in zip([None, *tokens], tokens, tokens[1:], strict=False):
        if (
            colon.token_type == TokenType.COLON
            and name.start == colon.end + 1
            and name.token_type in (TokenType.VAR, TokenType.IDENTIFIER)
            and (before is None or before.token_type not in _NOT_BEFORE_PARAMETER)
        ):
            chars[colon.start] = "$"
    return "".join(chars)


def syntax_message(error: ParseError) -> str:
    """One line: where, the text there, and what is wrong in words (never a parser class)."""
    if not error.errors:
        return f"SQL syntax error: {_plain(str(error))}"
    first = error.errors[0]
    near = (first.get("highlight") or "").strip()
    # sqlglot reports where the offending token ends; people look for where it starts.
    column = max(1, int(first.get("col") or 1) - len(first.get("highlight") or "") + 1)
    where = f"line {first.get('line')}, column {column}"
    what = _plain(first.get("description") or "")
    return f"SQL syntax error at {where}" + (f" near {near!r}" if near else "") + f": {what}"


def token_message(sql: str, error: TokenError) -> str:
    """Text the tokenizer cannot split into words: nearly always a quote left open."""
    match = re.search(r"Error tokenizing '(.*)'\s*$", str(error), re.S)
    seen = match.group(1) if match else ""
    start = sql.find(seen) if seen else -1
    if start < 0:
        return "SQL syntax error: a quote (', \" or $$) is not closed"
    quote = max(seen.rfind(q) for q in ("'", '"', "$", "`"))
    at = start + max(quote, 0)
    line = sql.count("\n", 0, at) + 1
    column = at - (sql.rfind("\n", 0, at) + 1) + 1
    near = sql[at : at + 20].splitlines()[0] if sql[at:] else ""
    return f"SQL syntax error at line {line}, column {column} near {near!r}: a quote is not closed"


# What is missing, in the words of SQL, by the sqlglot node that misses it.
_MISSING = {
    "Where": "WHERE needs a condition",
    "Having": "HAVING needs a condition",
    "Order": "ORDER BY needs at least one expression",
    "Group": "GROUP BY needs at least one expression",
    "From": "FROM needs a table",
    "Limit": "LIMIT needs a number",
    "Select": "SELECT needs at least one expression",
    "Cast": "CAST needs a type",
}


def _plain(description: str) -> str:
    """sqlglot's description of a parse error without its class names and token dumps."""
    missing = re.match(r"Required keyword: '\w+' missing for <class '[\w.]*?(\w+)'>", description)
    if missing:
        node = missing.group(1)
        kind = getattr(exp, node, None)
        if node in _MISSING:
            return _MISSING[node]
        if isinstance(kind, type) and issubclass(kind, exp.Binary | exp.Unary):
            return "an operator is missing a value"
        return "something is missing here"
    text = re.sub(
        r"\s*but got <Token token_type: TokenType\.SENTINEL[^>]*>",
        " but the statement ends",
        description,
    )
    text = re.sub(r"<Token token_type: [^>]*?text: ([^,>]*)[^>]*>", r"'\1'", text)
    text = re.sub(r"<class '[\w.]*?(\w+)'>", r"\1", text)
    text = text.replace("Invalid expression / Unexpected token", "unexpected text")
    text = re.sub(r"^Expecting (\S+)$", r"expected \1", text)
    return text.strip() or "invalid syntax"


def refuse_writes(tree: exp.Expr) -> None:
    if isinstance(tree, READ_STATEMENTS):
        return
    kind = tree.key.upper() if tree.key else type(tree).__name__.upper()
    raise QueryRefused(
        f"{kind} statements are not allowed here: DAP runs queries (SELECT …), "
        "CREATE TABLE … AS SELECT and INSERT INTO … SELECT"
    )


def _function_name(func: exp.Func) -> str:
    if isinstance(func, exp.Anonymous):
        return str(func.name)
    return func.sql_name()


@functools.cache
def engine_functions() -> frozenset[str]:
    """Scalar, aggregate, window and macro functions of DuckDB: the allowlist for functions
    sqlglot does not know by type. Table functions and pragmas are never on it."""
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        rows = con.sql(
            "SELECT DISTINCT lower(function_name) FROM duckdb_functions() "
            "WHERE function_type IN ('scalar', 'aggregate', 'window', 'macro')"
        ).fetchall()
    finally:
        con.close()
    return frozenset(str(r[0]) for r in rows)


def refuse_forbidden_functions(tree: exp.Expr, also_allowed: frozenset[str] = frozenset()) -> None:
    """Functions must be known scalar/aggregate/window functions and not on the denylist."""
    for func in tree.find_all(exp.Func):
        name = _function_name(func)
        if _FORBIDDEN_FUNCTION.match(name):
            raise QueryRefused(
                f"function {name.lower()}() is not allowed: it reaches outside the catalog"
            )
        if (
            isinstance(func, exp.Anonymous)
            and name.lower() not in engine_functions()
            and name.lower() not in also_allowed
        ):
            raise QueryRefused(
                f"function {name.lower()}() is not allowed: it is not a known scalar, "
                "aggregate or window function"
            )


@functools.cache
def engine_relations() -> frozenset[str]:
    """Names DuckDB resolves without a schema on its own (``duckdb_tables``, ``pg_class``,
    ``sqlite_master``…): no CTE may take one, so a reference is never ambiguous."""
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        rows = con.sql(
            "SELECT DISTINCT lower(view_name) FROM duckdb_views() "
            "WHERE internal AND schema_name IN ('main', 'pg_catalog')"
        ).fetchall()
    finally:
        con.close()
    return frozenset(str(r[0]) for r in rows)


def qualify_tables(
    tree: exp.Expr,
    resolver: Resolver,
    *,
    as_of: tuple[str, str] | None = None,
    pins: Mapping[str, int] | None = None,
) -> tuple[str, ...]:
    """Check every table reference against the catalog and qualify it as ``schema.table``.

    A name that is not a catalog table is an error, even if the engine could resolve it
    (DuckDB reads ``FROM 'file.csv'`` as a file): nothing outside the catalog is readable.
    Which names are CTEs is decided by :func:`~dap_kernel.governance.scope.table_references`,
    the one place that follows DuckDB's scoping rules. Time travel (``FOR VERSION AS OF``, or
    ``as_of`` for every table) stays on the reference.
    """
    reserved = cte_names(tree) & engine_relations()
    if reserved:
        raise QueryRefused(
            f"the CTE name {sorted(reserved)[0]} is reserved by the engine: choose another name"
        )
    for table in list(tree.find_all(exp.Table)):
        if not isinstance(table.this, exp.Identifier):
            _check_table_function(table)
    references: list[tuple[exp.Table, str]] = []
    for ref in table_references(tree):
        table = ref.table
        if table.catalog:
            raise QueryRefused(f"three-part name {table.sql()} is not supported")
        if ref.cte:
            if table.args.get("version") is not None or table.args.get("when"):
                raise QueryRefused(f"{table.name} is a CTE: it has no history to travel to")
            continue
        if table.args.get("when"):
            raise QueryRefused(
                f"AT (…) on {table.name} is not supported: "
                "use FOR VERSION AS OF n or FOR TIMESTAMP AS OF '…'"
            )
        qualified = f"{table.db or DEFAULT_SCHEMA}.{table.name}".lower()
        point = as_of
        if pins and qualified in pins:
            point = ("version", str(pins[qualified]))
        if table.args.get("version") is not None:
            travel_of(table.args["version"])  # refuse anything but a literal point in time
        elif point is not None:
            table.set(
                "version",
                exp.Version(
                    this=point[0].upper(),
                    kind="AS OF",
                    expression=exp.Literal.number(point[1])
                    if point[0] == "version"
                    else exp.Literal.string(point[1]),
                ),
            )
        references.append((table, qualified))
    if not references:
        return ()
    found = resolver.resolve(sorted({q for _, q in references}))
    tables: list[str] = []
    for table, qualified in references:
        match = found.get(qualified)
        if match is None:
            raise UnknownTable(_unknown_table_message(table, resolver.all_names()))
        schema, _, bare = match.partition(".")
        table.set("db", exp.to_identifier(schema))
        table.set("this", exp.to_identifier(bare))
        if match not in tables:
            tables.append(match)
    return tuple(tables)


def _check_table_function(table: exp.Table) -> None:
    if isinstance(table.this, ALLOWED_TABLE_FUNCTIONS):
        return
    func = table.this
    name = _function_name(func) if isinstance(func, exp.Func) else type(func).__name__
    raise QueryRefused(
        f"table function {name.lower()}() is not allowed: query catalog tables; "
        "register files with `dap catalog register` first"
    )


def _unknown_table_message(table: exp.Table, known: Collection[str]) -> str:
    name = table.name
    if "/" in name or "\\" in name or re.search(r"\.(csv|tsv|parquet|json|ndjson|xlsx)$", name):
        return (
            f"{name!r} is not a catalog table: reading files directly is not allowed; "
            "register the file in the catalog first"
        )
    written = f"{table.db}.{name}" if table.db else name
    shown = sorted(k.split(".", 1)[1] if k.startswith(f"{DEFAULT_SCHEMA}.") else k for k in known)
    close = difflib.get_close_matches(written, shown, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"table {written} does not exist in the catalog{hint}"


def parameters(tree: exp.Expr) -> tuple[tuple[str, ...], int]:
    """Named (``:name``/``$name``) and positional (``?``/``$1``) parameters of a statement."""
    names: list[str] = []
    positional = 0
    for node in tree.find_all(exp.Placeholder):
        name = node.name
        if not name or name == "?":
            positional += 1
        elif name.isdigit():
            positional = max(positional, int(name))
        elif name not in names:
            names.append(name)
    return tuple(names), positional
