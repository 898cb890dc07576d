"""What every ClickHouse engine of DAP shares: the check of the final SQL, parameters inlined
as literals, a binding's rows read as Arrow, and ClickHouse's messages cut to one line.

Used by the in-process engine (:mod:`.chdb`) and the server engine (:mod:`.clickhouse`): both
run the same checked statement, so the fail-closed construction is written once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import sqlglot
from sqlglot import TokenType, exp

from ..errors import QueryFailed
from .base import CLICKHOUSE_KIND, Binding, Params, only_on_clickhouse
from .names import RelationNames

# Scalar functions of ClickHouse that read files, the network, dictionaries, settings or the
# server's configuration. Lower-cased; a prefix ends in ``*``.
_OUTSIDE = (
    "file",
    "url*",
    "s3*",
    "hdfs*",
    "azure*",
    "remote*",
    "cluster*",
    "mysql*",
    "postgresql*",
    "mongodb*",
    "executable*",
    "input",
    "getsetting*",
    "getmacro",
    "getserverport",
    "getclientsetting*",
    "dictget*",
    "dicthas",
    "dictisin",
    "joinget*",
    "catboostevaluate",
    "filesystem*",
    "currentprofiles",
    "currentroles",
    "enabledroles",
    "defaultroles",
    "hostname",
    "fqdn",
    "getoscpu",
    "uptime",
    "shardnum",
    "shardcount",
)


def _reaches_outside(name: str) -> bool:
    low = name.lower()
    return any(low.startswith(p[:-1]) if p.endswith("*") else low == p for p in _OUTSIDE)


# ClickHouse's UPPER/LOWER/REVERSE change ASCII letters only and count bytes; DuckDB's work on
# characters. sqlglot writes the plain names: the UTF-8 forms give DuckDB's answers.
_UTF8_FORMS: dict[type[exp.Expr], str] = {
    exp.Upper: "upperUTF8",
    exp.Lower: "lowerUTF8",
    exp.Reverse: "reverseUTF8",
}
_UTF8_NAMES = {"reverse": "reverseUTF8"}


def checked_statement(sql: str, names: RelationNames) -> str:
    """The ClickHouse SQL to run, once checked: nothing but the bound private relations read.

    Run on the secured statement after transpiling (and with its parameters in), so it sees
    what chDB will run; the SQL returned is generated from the checked tree itself.
    """
    try:
        trees = [t for t in sqlglot.parse(sql, read="clickhouse") if t is not None]
    except sqlglot.errors.SqlglotError as e:
        raise QueryFailed(f"the ClickHouse statement could not be checked: {e}") from None
    if len(trees) != 1 or not isinstance(trees[0], exp.Query):
        raise QueryFailed("the ClickHouse engine runs exactly one SELECT")
    tree = trees[0]
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for node in list(tree.walk()):
        if node.args.get("settings"):
            raise QueryFailed("a statement may not carry ClickHouse SETTINGS")
        if node.args.get("into") or node.args.get("format"):
            # INTO OUTFILE writes a file even under readonly=1 (checked: chDB 4.4).
            raise QueryFailed("a statement may not write INTO anything or choose a FORMAT")
        if isinstance(node, exp.Table):
            if not isinstance(node.this, exp.Identifier):
                raise QueryFailed("table functions are not allowed")
            if node.db:
                if not names.is_hidden(node.db):
                    raise QueryFailed(f"table {node.name} is not a secured catalog table")
            elif node.name.lower() not in ctes:
                raise QueryFailed(f"table {node.name} is not a secured catalog table")
        elif isinstance(node, exp.Func):
            name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
            if _reaches_outside(name):
                raise QueryFailed(f"function {name}() is not allowed: it reaches outside")
            _as_duckdb_computes(node, name)
    return tree.sql(dialect="clickhouse")


def _as_duckdb_computes(node: exp.Func, name: str) -> None:
    """Rewrite a function ClickHouse computes differently into the form that gives DuckDB's
    value (masks must come out the same on every engine)."""
    utf8 = _UTF8_FORMS.get(type(node)) or _UTF8_NAMES.get(name.lower())
    if utf8 is not None:
        node.replace(exp.Anonymous(this=utf8, expressions=list(_arguments(node))))
    elif isinstance(node, exp.Encode):
        node.replace(node.this)  # ClickHouse strings are bytes already (UTF-8)
    elif isinstance(node, exp.SHA2) and str(node.args.get("length", 256)) == "256":
        # DuckDB's sha256() is lower-case hex text; ClickHouse's SHA256() the 32 raw bytes.
        digest = exp.Anonymous(this="SHA256", expressions=[node.this])
        hexed = exp.Anonymous(this="hex", expressions=[digest])
        node.replace(exp.Anonymous(this="lower", expressions=[hexed]))


def _arguments(func: exp.Func) -> list[exp.Expr]:
    if isinstance(func, exp.Anonymous):
        return list(func.expressions)
    return [func.this]


def inline_parameters(sql: str, params: Params) -> str:
    """Put bound values into ClickHouse SQL in place of its ``{name: }`` / ``{1: }`` holes.

    sqlglot writes DuckDB's ``$name`` / ``$1`` / ``?`` as these untyped holes; ClickHouse's
    own parameters need a type, so values go in as literals (quoted by sqlglot, found by
    the tokenizer: a hole's text inside a string literal is left alone).
    """
    if not params:
        return sql
    tokens = sqlglot.Dialect.get_or_raise("clickhouse").tokenize(sql)
    out: list[str] = []
    last = 0
    question = 0
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if (
            t.token_type == TokenType.L_BRACE
            and i + 3 < len(tokens)
            and tokens[i + 2].token_type == TokenType.COLON
            and tokens[i + 3].token_type == TokenType.R_BRACE
        ):
            key = tokens[i + 1].text
            value = _param_value(key, params, question)
            if key == "?":
                question += 1
            out.append(sql[last : t.start])
            out.append(exp.convert(value).sql(dialect="clickhouse"))
            last = tokens[i + 3].end + 1
            i += 4
            continue
        i += 1
    out.append(sql[last:])
    return "".join(out)


def _param_value(key: str, params: Mapping[str, Any] | Sequence[Any], question: int) -> Any:
    if isinstance(params, Mapping):
        if key not in params:
            raise QueryFailed(f"no value for parameter :{key}")
        return params[key]
    index = question if key == "?" else int(key) - 1
    if not 0 <= index < len(params):
        raise QueryFailed(f"no value for parameter {index + 1}")
    return params[index]


def read_binding(b: Binding) -> pa.Table:
    """A binding's rows as Arrow: the Delta snapshot's files, a registered Parquet file, or
    the Arrow data the core bound (an empty table, a caller's input, a database source)."""
    if b.arrow is not None:
        return b.arrow
    if b.kind == CLICKHOUSE_KIND:  # chDB: another server's table (the server engine binds a view)
        raise only_on_clickhouse(b.schema, b.name)
    try:
        if b.kind == "delta":
            hive = "hive" if b.options.get("partition_columns") else None
            parts = [
                ds.dataset(
                    [f], format="parquet", partitioning=hive, partition_base_dir=b.location
                ).to_table()
                for f in b.files
            ]
            # By name: after schema evolution old files lack the new columns (read as null).
            return pa.concat_tables(parts, promote_options="permissive")
        if b.kind == "parquet":
            return ds.dataset(b.location, format="parquet").to_table()
    except (OSError, pa.ArrowException) as e:
        raise QueryFailed(f"cannot read {b.schema}.{b.name}: {e}") from None
    raise QueryFailed(
        f"ClickHouse engines read lake tables and Parquet sources, not {b.kind!r} sources: "
        "run this query on duckdb"
    )


def clickhouse_message(error: Exception) -> str:
    """ClickHouse's message without its code prefix, stack or version suffix."""
    text = _first_line(error)
    for prefix in ("Streaming query failed: ",):
        text = text.removeprefix(prefix)
    if "DB::Exception: " in text:
        text = text.split("DB::Exception: ", 1)[1]
    # "In scope SELECT …" repeats the statement: literals of masks, the hash key.
    text = text.split(" In scope ", 1)[0].split(": In scope ", 1)[0]
    return text.split(". (", 1)[0] if text.endswith(")") else text


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
