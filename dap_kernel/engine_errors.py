"""An engine's error, said in DAP's words: one line, no "Binder Error:" prefix, no internals.

DuckDB's messages name its own machinery (``Values list "c"`` for an aliased subquery, which
is what a secured table becomes), carry a ``LINE 1:`` caret block and list candidates from the
rewritten statement. The user wrote neither: what they are told speaks of their statement —
its tables and their columns.

Kept apart from the engine so that every engine (and the session, which knows the tables a
statement reads) uses the same wording, and governance can tell statement errors (safe to show)
from runtime errors (which may quote a row's value) by ``QueryFailed.about_statement``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence

import sqlglot
from sqlglot import exp

from .errors import QueryFailed

# Engine error kinds that describe the statement (names, types, syntax), never the rows.
_STATEMENT_KINDS = frozenset({"parser", "binder", "catalog", "syntax"})

# What a runtime error is, when its details may not be shown.
_RUNTIME_KINDS = {
    "conversion": "a value could not be converted",
    "out of range": "a value is out of range",
    "invalid input": "invalid input to a function",
    "invalid": "invalid input to a function",
    "constraint": "a constraint failed",
    "not implemented": "the statement uses something the engine does not support",
    "interrupt": "the query was interrupted",
    "out of memory": "the query ran out of memory",
}

_PREFIX = re.compile(r"^\s*([A-Za-z][A-Za-z ]{1,30}?) Error:\s*")
_NO_COLUMN = re.compile(r'^Referenced column "(?P<col>[^"]+)" not found in FROM clause!?')
_NO_COLUMN_IN = re.compile(
    r'^(?:Values list|Table|Binding) "(?P<alias>[^"]+)" does not have a column named '
    r'"(?P<col>[^"]+)"'
)
_NO_TABLE = re.compile(r'^Referenced table "(?P<alias>[^"]+)" not found!?')
_AMBIGUOUS = re.compile(
    r'^Ambiguous reference to column name "(?P<col>[^"]+)"\s*\(use: (?P<use>.*)\)'
)
_NEAR = re.compile(r'^syntax error at or near "(?P<near>[^"]*)"')
_NO_CANDIDATE = re.compile(
    r'^Could not choose a best candidate function for the function call "(?P<f>.+?)\((?P<a>.*)\)"'
)
# Advice to change a setting the caller cannot change (settings are locked).
_NO_SETTINGS = re.compile(r",? or SET \w+\s*=\s*\w+[^.]*")
_NO_FUNCTION = re.compile(r"^(?:Scalar |Aggregate |Table )?Function with name (?P<f>\w+) does not")


def engine_error(text: str) -> QueryFailed:
    """The first line of an engine error (already scrubbed of private names) as DAP says it."""
    line = text.strip().splitlines()[0] if text.strip() else "the query failed"
    match = _PREFIX.match(line)
    kind = match.group(1).strip().lower() if match else ""
    rest = line[match.end() :] if match else line
    about_statement = kind in _STATEMENT_KINDS
    message, column, alias = _statement_words(rest) if about_statement else (None, "", "")
    if message is None:
        message = _tidy(_NO_SETTINGS.sub("", rest)) or "the query failed"
        if kind in ("invalid input", "invalid"):
            message = f"invalid input: {message}"
    summary = (
        "the SQL statement is not valid"
        if about_statement
        else _RUNTIME_KINDS.get(kind, "the query failed")
    )
    return QueryFailed(
        message, about_statement=about_statement, summary=summary, column=column, alias=alias
    )


def _statement_words(rest: str) -> tuple[str | None, str, str]:
    """(message, unknown column, its table alias) for the binder errors users make most."""
    if m := _NO_COLUMN.match(rest):
        return f"column {m['col']} does not exist", m["col"], ""
    if m := _NO_COLUMN_IN.match(rest):
        return f"column {m['alias']}.{m['col']} does not exist", m["col"], m["alias"]
    if m := _NO_TABLE.match(rest):
        return f"{m['alias']} is not a table or alias in the FROM clause", "", ""
    if m := _AMBIGUOUS.match(rest):
        choices = " or ".join(part.strip(" '") for part in m["use"].split(" or "))
        return f"column {m['col']} is ambiguous: write {choices}", "", ""
    if m := _NEAR.match(rest):
        return f"SQL syntax error near {m['near']!r}", "", ""
    if m := _NO_CANDIDATE.match(rest):
        types = ", ".join(t.strip().removesuffix("_LITERAL") for t in m["a"].split(","))
        return f"{m['f']} does not take arguments of types ({types}): add casts", "", ""
    if m := _NO_FUNCTION.match(rest):
        return f"there is no function {m['f']}() taking these arguments", "", ""
    return None, "", ""


def _tidy(rest: str) -> str:
    """DuckDB's detail as one plain line: quoted names unquoted, no trailing ``!``."""
    text = re.sub(r'"([A-Za-z_][A-Za-z0-9_]*)"', r"\1", rest).strip().rstrip("!.").strip()
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def with_suggestion(
    error: QueryFailed, sql: str, visible: Callable[[], Mapping[str, Sequence[str]]]
) -> QueryFailed:
    """Add where an unknown column was looked for and the nearest real one.

    ``visible()`` maps each table of the statement (``schema.name``) to the columns the caller
    may see in it: only those are ever named. Called only for an unknown column.
    """
    if not error.column:
        return error
    columns = visible()
    if not columns:
        return error
    by_alias = _aliases(sql, columns)
    if error.alias:
        table = by_alias.get(error.alias.lower())
        if table is None:
            return error
        tables = [table]
    else:
        tables = list(dict.fromkeys(by_alias.values())) or list(columns)
    candidates = list(dict.fromkeys(c for t in tables for c in columns.get(t, ())))
    where = " or ".join(t.rpartition(".")[2] for t in tables)
    message = f"{error.message} in {where}"
    near = _nearest(error.column, candidates)
    if near:
        message += f"; did you mean {' or '.join(near)}?"
    return QueryFailed(
        message,
        about_statement=error.about_statement,
        summary=error.summary,
        column=error.column,
        alias=error.alias,
    )


def _aliases(sql: str, columns: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """alias (or bare name) → qualified table, for the statement's catalog tables."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except (sqlglot.errors.SqlglotError, RecursionError, ValueError):
        return {}
    out: dict[str, str] = {}
    for table in tree.find_all(exp.Table):
        name = table.name.lower()
        schema = (table.db or "").lower()
        for qualified in columns:
            q_schema, _, q_name = qualified.lower().rpartition(".")
            if q_name == name and (not schema or schema == q_schema):
                out[(table.alias_or_name or name).lower()] = qualified
                break
    return out


def _nearest(name: str, candidates: Sequence[str]) -> list[str]:
    lowered = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=2, cutoff=0.6)
    if not close:  # ``id`` for ``customer_id``: a column that ends or starts with the name
        key = name.lower()
        close = [c for c in lowered if c.endswith("_" + key) or c.startswith(key + "_")][:3]
    return [lowered[c] for c in close]
