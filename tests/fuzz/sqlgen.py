"""A hypothesis strategy for SQL statements over the fuzz suite's governed tables.

Statements are built as token lists from a small grammar that knows which columns each
``FROM`` item has (so most statements bind and return rows, rather than fail on a name): joins,
subqueries, CTEs (some shadowing catalog tables), set operations, aggregates, windows, table
functions, time travel. The rendering then varies what must not matter — keyword and
identifier case, quoting, whitespace, comments — and sometimes breaks the statement with random
tokens. The marker prefix :data:`MARKER` never appears in a generated statement: a result
that shows it can only have read it from a row or a column the caller may not see.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from hypothesis import strategies as st

MARKER = "zq"  # every filtered-out row's and every masked column's raw values carry it

TABLES: dict[str, tuple[str, ...]] = {
    "accounts": ("id", "owner", "region", "secret", "email", "note", "amount"),
    "payments": ("pay_id", "account_id", "region", "memo", "card", "amount"),
    "vault": ("k", "v"),  # the analyst has no grant on it
}
NUMERIC = {"id", "amount", "pay_id", "account_id", "n"}
LITERALS = ("'APAC'", "'EMEA'", "'AMER'", "'x'", "'%a%'", "'***'", "'%@%'")
TRAVEL = "\0travel"  # rendered as FOR VERSION AS OF 0 for DAP, dropped for the oracle

# Random tokens that break or twist a statement: syntax, forbidden functions, engine names.
NOISE = (
    ";",
    "(",
    ")",
    ",",
    "'",
    '"',
    "*",
    ".",
    "SELECT",
    "FROM",
    "WHERE",
    "UNION",
    "JOIN",
    "AS",
    "LATERAL",
    "QUALIFY",
    "PIVOT",
    "SUMMARIZE",
    "DESCRIBE",
    "main.vault",
    "vault",
    "accounts",
    "main.accounts",
    "accounts.*",
    "COLUMNS(*)",
    "EXCLUDE (region)",
    "USING SAMPLE 50%",
    "FOR VERSION AS OF 0",
    "DISTINCT ON (region)",
    "read_csv('x.csv')",
    "'/etc/passwd'",
    "ATTACH",
    "query('SELECT 1')",
    "getenv('HOME')",
    "current_setting('threads')",
    "duckdb_tables()",
    "current_user",
    "$1",
    "?",
    "::VARCHAR",
    "--",
    "/*",
    "*/",
    '"main#0"',
    "temp.main.accounts",
    "INTO",
    "CREATE TABLE t AS",
    "INSERT INTO accounts",
)


@dataclass(frozen=True)
class Item:
    """One FROM item as the rest of the statement sees it: its name and its columns."""

    name: str
    columns: tuple[str, ...]


@dataclass
class Built:
    tokens: list[str]
    columns: tuple[str, ...]
    deterministic: bool = True
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Statement:
    """A generated statement: what DAP runs, what the oracle runs (``""``: no comparison)."""

    sql: str
    oracle_sql: str
    deterministic: bool

    def __repr__(self) -> str:  # hypothesis prints the falsifying example with this
        return f"Statement({self.sql!r})"


def _spell(draw: st.DrawFn, table: str) -> str:
    return draw(
        st.sampled_from(
            [
                table,
                f"main.{table}",
                f'"{table}"',
                f'main."{table}"',
                f'"{table.upper()}"',
                table.capitalize(),
                f'"main"."{table}"',
                f"MAIN.{table.upper()}",
            ]
        )
    )


def _column(draw: st.DrawFn, items: list[Item], numeric: bool | None = None) -> tuple[str, bool]:
    item = draw(st.sampled_from(items))
    pool = [c for c in item.columns if numeric is None or (c in NUMERIC) == numeric]
    if not pool:
        pool = list(item.columns)
    col = draw(st.sampled_from(pool))
    style = draw(st.sampled_from(["bare", "qualified", "qualified", "quoted", "quoted-upper"]))
    if style == "bare":
        ref = col
    elif style == "qualified":
        ref = f"{item.name}.{col}"
    elif style == "quoted":
        ref = f'"{col}"'
    else:
        ref = f'{item.name}."{col.upper()}"'
    return ref, col in NUMERIC


def _scalar(draw: st.DrawFn, items: list[Item]) -> tuple[list[str], bool]:
    """A non-aggregate expression; also whether it is deterministic."""
    kind = draw(st.sampled_from(["col", "col", "fn", "fn", "num", "row", "case", "window"]))
    if kind == "row":
        item = draw(st.sampled_from(items))
        form = draw(st.sampled_from(["to_json({})", "{}", "struct_pack(r := {})"]))
        return [form.format(item.name)], True
    if kind == "window":
        c, _ = _column(draw, items)
        n, _ = _column(draw, items, numeric=True)
        form, det = draw(
            st.sampled_from(
                [
                    (f"sum({n}) OVER (PARTITION BY {c})", True),
                    ("count(*) OVER ()", True),
                    (f"rank() OVER (ORDER BY {c})", True),
                    (f"row_number() OVER (ORDER BY {c})", False),
                    (f"lag({c}) OVER (ORDER BY {n})", False),
                ]
            )
        )
        return [form], det
    if kind == "num":
        n, _ = _column(draw, items, numeric=True)
        form = draw(
            st.sampled_from(["{} + 1", "{} * 2", "abs({})", "{} % 3", "CAST({} AS VARCHAR)"])
        )
        return [form.format(n)], True
    c, _ = _column(draw, items)
    if kind == "col":
        return [c], True
    if kind == "case":
        lit = draw(st.sampled_from(LITERALS))
        return [f"CASE WHEN {c} = {lit} THEN 1 ELSE 0 END"], True
    form = draw(
        st.sampled_from(
            [
                "upper({})",
                "lower({})",
                "length(CAST({} AS VARCHAR))",
                "CAST({} AS VARCHAR) || 'x'",
                "concat({}, '-')",
                "coalesce(CAST({} AS VARCHAR), 'none')",
                "left(CAST({} AS VARCHAR), 3)",
                "reverse(CAST({} AS VARCHAR))",
                "md5(CAST({} AS VARCHAR))",
                "replace(CAST({} AS VARCHAR), 'a', 'b')",
                "[{}]",
            ]
        )
    )
    return [form.format(c)], True


def _aggregate(draw: st.DrawFn, items: list[Item]) -> tuple[list[str], bool]:
    c, _ = _column(draw, items)
    n, _ = _column(draw, items, numeric=True)
    form, det = draw(
        st.sampled_from(
            [
                ("count(*)", True),
                (f"count({c})", True),
                (f"count(DISTINCT {c})", True),
                (f"max({c})", True),
                (f"min({c})", True),
                (f"sum({n})", True),
                (f"max(length(CAST({c} AS VARCHAR)))", True),
                (f"string_agg(CAST({c} AS VARCHAR), ',')", False),
                (f"list({c})", False),
                (f"any_value({c})", False),
                (f"list({c} ORDER BY {c})", True),
            ]
        )
    )
    return [form], det


def _predicate(draw: st.DrawFn, items: list[Item], depth: int) -> tuple[list[str], bool]:
    kind = draw(
        st.sampled_from(
            ["cmp", "cmp", "like", "null", "num", "in", "true", "exists", "insub", "scalar"]
            + (["not", "or", "and"] if depth > 0 else [])
        )
    )
    if kind in ("not", "or", "and"):
        left, d1 = _predicate(draw, items, depth - 1)
        if kind == "not":
            return ["NOT", "(", *left, ")"], d1
        right, d2 = _predicate(draw, items, depth - 1)
        return ["(", *left, kind.upper(), *right, ")"], d1 and d2
    if kind == "true":
        return [draw(st.sampled_from(["TRUE", "1 = 1"]))], True
    if kind in ("exists", "insub", "scalar"):
        table = draw(st.sampled_from(["accounts"] * 5 + ["payments"] * 5 + ["vault"]))
        source = _spell(draw, table)
        if kind == "exists":
            return ["EXISTS", "(", "SELECT", "1", "FROM", source, ")"], True
        c, numeric = _column(draw, items)
        same = [x for x in TABLES[table] if (x in NUMERIC) == numeric] or list(TABLES[table])
        column = draw(st.sampled_from(same))
        if kind == "insub":
            return [c, "IN", "(", "SELECT", column, "FROM", source, ")"], True
        return [c, "=", "(", "SELECT", f"max({column})", "FROM", source, ")"], True
    if kind == "num":
        n, _ = _column(draw, items, numeric=True)
        return [
            n,
            draw(st.sampled_from([">", "<", "=", "<>"])),
            str(draw(st.integers(0, 12))),
        ], True
    c, numeric = _column(draw, items)
    if numeric and kind == "cmp":
        return [c, draw(st.sampled_from(["=", "<>", ">="])), str(draw(st.integers(0, 12)))], True
    if kind == "like":
        return [c, "LIKE", draw(st.sampled_from(["'%a%'", "'%@%'", "'*%'", "'E%'"]))], True
    if kind == "null":
        return [c, draw(st.sampled_from(["IS NULL", "IS NOT NULL"]))], True
    if kind == "in" and numeric:
        return [c, "IN", "(", "1", ",", "3", ",", "20", ")"], True
    if kind == "in":
        return [c, "IN", "(", "'APAC'", ",", "'AMER'", ",", "'EMEA'", ")"], True
    return [c, draw(st.sampled_from(["=", "<>"])), draw(st.sampled_from(LITERALS))], True


def _from_item(
    draw: st.DrawFn, depth: int, ctes: dict[str, tuple[str, ...]], avoid: str | None = None
) -> tuple[list[str], Item, bool]:
    """One FROM item; ``avoid`` is the name of the item before it, which this one mostly
    does not take (two items of one name mostly make an ambiguous statement)."""
    kinds = ["table", "table", "table", "func"]
    if depth > 0:
        kinds.append("sub")
    if ctes:
        kinds += ["cte", "cte"]
    kind = draw(st.sampled_from(kinds))
    alias = draw(st.sampled_from([None, None, "a", "b", "t1", "accounts", "payments"]))
    if avoid is not None and draw(st.integers(0, 3)):
        alias = "j"
    alias_tokens = [] if alias is None else draw(st.sampled_from([["AS", alias], [alias]]))
    if kind == "table":
        table = draw(st.sampled_from(["accounts"] * 6 + ["payments"] * 5 + ["vault"]))
        tokens = [_spell(draw, table)]
        if draw(st.integers(0, 9)) == 0:
            tokens.append(TRAVEL)
        return tokens + alias_tokens, Item(alias or table, TABLES[table]), True
    if kind == "cte":
        name = draw(st.sampled_from(sorted(ctes)))
        return [name, *alias_tokens], Item(alias or name, ctes[name]), True
    if kind == "sub":
        inner = _select(draw, depth - 1, ctes)
        alias = alias or "s"
        return (
            ["(", *inner.tokens, ")", "AS", alias],
            Item(alias, inner.columns),
            inner.deterministic,
        )
    alias = alias or "f"
    func = draw(
        st.sampled_from(
            [
                "range(3)",
                "generate_series(1, 3)",
                "unnest([1, 2])",
                "(VALUES (1, 'APAC'), (2, 'EMEA'))",
            ]
        )
    )
    if func.startswith("(VALUES"):
        return [func, "AS", f"{alias}(n, region)"], Item(alias, ("n", "region")), True
    return [func, "AS", f"{alias}(n)"], Item(alias, ("n",)), True


def _from(
    draw: st.DrawFn, depth: int, ctes: dict[str, tuple[str, ...]]
) -> tuple[list[str], list[Item], bool]:
    tokens, first, det = _from_item(draw, depth, ctes)
    items = [first]
    if draw(st.integers(0, 2)) == 0:
        more, second, det2 = _from_item(draw, depth, ctes, avoid=first.name)
        items.append(second)
        det = det and det2
        join = draw(
            st.sampled_from(["on", "left", "right", "full", "cross", "comma", "using", "natural"])
        )
        if join in ("on", "left", "right", "full"):
            a, _ = _column(draw, [first], numeric=True)
            b, _ = _column(draw, [second], numeric=True)
            word = {"on": "JOIN", "left": "LEFT JOIN", "right": "RIGHT JOIN", "full": "FULL JOIN"}
            tokens += [word[join], *more, "ON", a, "=", b]
        elif join == "cross":
            tokens += ["CROSS JOIN", *more]
        elif join == "comma":
            tokens += [",", *more]
        elif join == "using":
            tokens += ["JOIN", *more, "USING", "(", "region", ")"]
        else:
            tokens += ["NATURAL JOIN", *more]
    return tokens, items, det


def _select(
    draw: st.DrawFn, depth: int, ctes: dict[str, tuple[str, ...]], width: int | None = None
) -> Built:
    from_tokens, items, det = _from(draw, depth, ctes)
    mode = draw(
        st.sampled_from(["star", "exprs", "exprs", "agg"] if width is None else ["exprs", "agg"])
    )
    tokens = ["SELECT"]
    if draw(st.integers(0, 5)) == 0:
        tokens.append("DISTINCT")
    grouped: list[list[str]] = []
    if mode == "star":
        star = draw(st.sampled_from(["*"] + [f"{i.name}.*" for i in items]))
        tokens.append(star)
        columns = tuple(c for i in items if star in ("*", f"{i.name}.*") for c in i.columns)
    else:
        n = width or draw(st.integers(1, 3))
        parts: list[list[str]] = []
        for k in range(n):
            if mode == "agg" and (k == 0 or draw(st.booleans())):
                expr, d = _aggregate(draw, items)
            else:
                expr, d = _scalar(draw, items)
                if mode == "agg":
                    grouped.append(expr)
            det = det and d
            parts.append([*expr, "AS", f"c{k}"])
        for k, part in enumerate(parts):
            tokens += ([","] if k else []) + part
        columns = tuple(f"c{k}" for k in range(n))
    tokens += ["FROM", *from_tokens]
    if draw(st.booleans()):
        pred, d = _predicate(draw, items, 1)
        tokens += ["WHERE", *pred]
        det = det and d
    if grouped:
        if draw(st.booleans()):
            tokens += ["GROUP BY", "ALL"]
        else:
            tokens += ["GROUP BY"]
            for k, g in enumerate(grouped):
                tokens += ([","] if k else []) + g
        if draw(st.integers(0, 3)) == 0:
            tokens += ["HAVING", "count(*)", ">", "0"]
    order = draw(st.sampled_from(["", "", "all", "one"]))
    if order == "all":
        tokens += ["ORDER BY", "ALL"]
    elif order == "one":
        tokens += ["ORDER BY", "1"]
    if draw(st.integers(0, 3)) == 0:
        tokens += ["LIMIT", str(draw(st.integers(0, 4)))]
        det = det and order == "all"
    return Built(tokens, columns, det)


def _query(draw: st.DrawFn) -> Built:
    ctes: dict[str, tuple[str, ...]] = {}
    prefix: list[str] = []
    ctes_det = True
    if draw(st.integers(0, 2)) == 0:
        prefix = ["WITH"]
        if draw(st.integers(0, 5)) == 0:
            prefix.append("RECURSIVE")
        for k in range(draw(st.integers(1, 2))):
            names = ["q", "w", "accounts", "payments", "vault", "Accounts"]
            name = draw(st.sampled_from([n for n in names if n.lower() not in ctes]))
            body = _select(draw, 1, dict(ctes))
            prefix += ([","] if k else []) + [name, "AS", "(", *body.tokens, ")"]
            ctes[name.lower()] = body.columns
            ctes_det = ctes_det and body.deterministic
    shape = draw(st.sampled_from(["plain", "plain", "setop", "wrap"]))
    if shape == "setop":
        width = draw(st.integers(1, 2))
        left = _select(draw, 1, ctes, width)
        right = _select(draw, 1, ctes, width)
        op = draw(st.sampled_from(["UNION", "UNION ALL", "INTERSECT", "EXCEPT", "UNION BY NAME"]))
        body = Built(
            ["(", *left.tokens, ")", op, "(", *right.tokens, ")"],
            left.columns,
            left.deterministic and right.deterministic,
        )
    elif shape == "wrap":
        inner = _select(draw, 1, ctes)
        body = Built(
            ["SELECT", "*", "FROM", "(", *inner.tokens, ")", "AS", "z"],
            inner.columns,
            inner.deterministic,
        )
    else:
        body = _select(draw, 2, ctes)
    return Built(prefix + body.tokens, body.columns, body.deterministic and ctes_det)


_WORD = re.compile(r"^[A-Za-z_][A-Za-z_0-9. ]*$")  # words, and keywords of two words
_SEPARATORS = (" ",) * 8 + ("\n", "\t", "  ", " /* c */ ", " -- c\n", "/**/")


def _recase(word: str, rnd: random.Random) -> str:
    return rnd.choice([word, word.upper(), word.lower(), word.capitalize()])


def render(tokens: list[str], rnd: random.Random, *, for_oracle: bool = False) -> str:
    """The statement as text: plain for the oracle; with case, whitespace and comments varied
    for DAP (unquoted words only: quoted names and string literals keep their spelling)."""
    out: list[str] = []
    for token in tokens:
        if token == TRAVEL:
            if for_oracle:
                continue
            token = "FOR VERSION AS OF 0"
        if not for_oracle and _WORD.match(token):
            token = _recase(token, rnd)
        out.append(token)
    if for_oracle:
        return " ".join(out)
    text = out[0]
    for token in out[1:]:
        text += rnd.choice(_SEPARATORS) + token
    return text


def _mutate(tokens: list[str], draw: st.DrawFn) -> list[str]:
    tokens = list(tokens)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(tokens)))
        op = draw(st.sampled_from(["insert", "insert", "delete", "duplicate"]))
        if op == "insert" or not tokens:
            tokens.insert(at, draw(st.sampled_from(NOISE)))
        elif op == "delete":
            del tokens[min(at, len(tokens) - 1)]
        else:
            at = min(at, len(tokens) - 1)
            tokens.insert(at, tokens[at])
    return tokens


@st.composite
def statements(draw: st.DrawFn) -> Statement:
    """A statement, its oracle form (``""`` when mutated: no comparison) and determinism."""
    built = _query(draw)
    rnd = draw(st.randoms(use_true_random=False))
    mutated = draw(st.integers(0, 4)) == 0
    tokens = _mutate(built.tokens, draw) if mutated else built.tokens
    sql = render(tokens, rnd)
    oracle = "" if mutated else render(built.tokens, rnd, for_oracle=True)
    assert MARKER not in sql.lower()
    return Statement(sql, oracle, built.deterministic and not mutated)


@st.composite
def token_soup(draw: st.DrawFn) -> str:
    """Statements of random grammar pieces and noise: mostly nonsense, all must fail cleanly."""
    words = (
        *NOISE,
        *LITERALS,
        "accounts",
        "payments",
        "owner",
        "secret",
        "email",
        "note",
        "card",
        "memo",
        "region",
        "WITH",
        "accounts AS (SELECT * FROM accounts)",
        "SELECT * FROM accounts",
        "ON",
        "=",
        "OR",
        "1",
        "GROUP BY ALL",
        "ORDER BY 1",
        "to_json(accounts)",
    )
    tokens = draw(st.lists(st.sampled_from(words), min_size=1, max_size=14))
    if draw(st.booleans()):
        tokens = ["SELECT", *tokens]
    return " ".join(tokens)
