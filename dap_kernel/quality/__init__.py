"""Data quality: declared rules, evaluated in the engine, failing rows quarantined, results kept.

A rule set is a list of small YAML mappings (``{not_null: id}``, ``{range: {column: amount,
min: 0}}``, …; see :func:`parse_rules`). Two ways to apply it:

* :func:`validate` checks a *batch* a pipeline is about to load. The batch is registered in a
  private in-memory DuckDB connection (locked down: no files, no settings) and one generated
  statement computes, for every row, the reason each row rule fails. Rows breaking an ``error``
  rule leave :attr:`QualityReport.passed` and go to :attr:`QualityReport.failed`, shaped for
  ``<table>__quarantine``; ``warn`` rules only count. Nothing is lost:
  ``passed.height + failed.height == input rows``.
* :func:`check` checks a catalog *table*. The generated SQL runs through the governed session,
  so row filters and masks apply to what the checker sees, and a foreign key into a table the
  checker may not read is refused. ``check`` never deletes rows: with ``write_failures=True`` it
  copies the failing rows to the quarantine table, nothing more.

Choices worth knowing:

* ``unique``: every row of a duplicated key but the first counts as a failure (in a batch the
  first in input order; in a table the engine picks one). Rows with a NULL in the key are never
  duplicates, as with SQL ``UNIQUE`` constraints.
* ``accepted_values``, ``range``, ``regex`` and ``foreign_key`` ignore NULLs: ``not_null`` says
  whether NULLs are allowed. ``range`` bounds are inclusive. ``regex`` searches (anchor the
  pattern with ``^…$`` for a whole-value match) with the engine's (RE2) syntax.
* A row failing several ``error`` rules is quarantined once; ``_dap_rule`` and ``_dap_reason``
  join the rules' names and reasons with ``"; "``. ``warn`` reasons do not quarantine a row.
* ``row_count`` (of the batch as given, or of the table as seen), ``freshness`` and
  ``sql`` rules with ``scope: table`` are table-level: when an ``error`` one fails,
  ``ok`` is False and a pipeline loads nothing.
* ``sql`` rules are a SELECT returning the failing rows; ``{table}`` stands for the data under
  test. With the default ``scope: rows`` the returned rows are the failing rows (on a batch the
  statement must return the batch's rows, e.g. ``SELECT * FROM {table} WHERE …``); with
  ``scope: table`` any returned row fails the rule once. On a batch such a statement can read
  only ``{table}``; on a catalog table it is governed SQL like any other.
* Stored results describe the whole table. A check is recorded only when the rules are the
  table's stored ones (or ``record=True``, which needs MODIFY) and the checker sees every row and
  value of the tables involved (no row filter, no mask): a filtered view's result is the
  checker's alone. Stored messages carry counts, never row values.
"""

from __future__ import annotations

import contextlib
import math
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias

import duckdb
import polars as pl
import pyarrow as pa
import yaml
from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    delete,
    func,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlglot import exp

from ..caller import default_client
from ..catalog import TableInfo, split_name
from ..catalog.governed import GovernedCatalog, GovernedTable
from ..errors import DapError, QueryRefused, SqlSyntaxError, UnknownTable
from ..governance.rewrite import parse_one_statement, refuse_forbidden_functions, refuse_writes
from ..meta.models import Base, utcnow
from ..quarantine import empty_quarantine, quarantine_frame, quarantine_name, write_quarantine

if TYPE_CHECKING:
    from ..meta import MetaStore
    from ..session import QueryResult, Session

Severity = Literal["warn", "error"]
Status = Literal["pass", "warn", "fail"]

ROW_KINDS = ("not_null", "unique", "accepted_values", "range", "regex", "foreign_key")
TABLE_KINDS = ("row_count", "freshness")
KINDS = (*ROW_KINDS, *TABLE_KINDS, "sql")
SEVERITIES = ("warn", "error")
THIS = "{table}"  # how a sql rule names the data under test

_ROW_ID = "__dap_row__"
_T = "__dap_t"
_THIS_NAME = "__dap_this__"
_BATCH = "__dap_batch__"
_MAX_VALUE_CHARS = 80
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


class QualityError(DapError):
    """A rule set that cannot be applied (bad spec, unknown column, bad SQL)."""

    code = "quality_error"
    http_status = 400


# -- rules ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One rule: ``column`` is the (first) column it applies to; the rest is in ``options``.

    ``options`` by kind: unique ``columns``; accepted_values ``values``; range ``min``/``max``;
    regex ``pattern``; foreign_key ``references`` (``schema.table.column``); row_count
    ``min``/``max``; freshness ``max_age`` (as written) and ``max_age_s``; sql ``sql`` and
    ``scope`` (``rows`` or ``table``).
    """

    name: str
    kind: str
    column: str | None = None
    severity: Severity = "error"
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def columns(self) -> tuple[str, ...]:
        if self.kind == "unique":
            return tuple(self.options["columns"])
        return (self.column,) if self.column else ()

    @property
    def row_level(self) -> bool:
        """Rules whose failures are rows (quarantinable) rather than a fact about the table."""
        return self.kind in ROW_KINDS or (
            self.kind == "sql" and self.options.get("scope", "rows") == "rows"
        )

    @property
    def references(self) -> tuple[str, str]:
        """A foreign key's referenced ``(schema.table, column)``."""
        table, _, column = str(self.options["references"]).rpartition(".")
        return ".".join(split_name(table)), column

    def to_spec(self) -> dict[str, Any]:
        """The rule in its YAML form (what :func:`parse_rules` reads back)."""
        o = dict(self.options)
        body: Any
        if self.kind == "not_null":
            body = self.column
        elif self.kind == "unique":
            body = list(self.columns)
        elif self.kind == "sql":
            body = o.pop("sql")
            if o.get("scope", "rows") == "rows":
                o.pop("scope", None)
            spec: dict[str, Any] = {"sql": body, "name": self.name, **o}
            if self.severity != "error":
                spec["severity"] = self.severity
            return spec
        elif self.kind == "freshness":
            body = {"column": self.column, "max_age": o["max_age"]}
        else:
            body = {**({"column": self.column} if self.column else {}), **o}
        spec = {self.kind: body, "name": self.name}
        if self.severity != "error":
            spec["severity"] = self.severity
        return spec


def parse_duration(value: Any) -> float:
    """``24h``, ``7d``, ``30m``, ``45s``, ``2w`` or a number of seconds → seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise QualityError(
                f"invalid duration {value!r}: use a number and a unit, e.g. 30m, 24h, 7d"
            )
        seconds = float(match.group(1)) * _UNIT_S[match.group(2).lower()]
    if seconds <= 0 or not math.isfinite(seconds):
        raise QualityError(f"invalid duration {value!r}: it must be greater than 0")
    return seconds


def load_rules(source: str | Path) -> list[dict[str, Any]]:
    """A rule spec from a YAML/JSON file or text: a list of rules, or ``{rules: [...]}``."""
    looks_like_path = (
        isinstance(source, str)
        and "\n" not in source
        and source.strip().endswith((".yaml", ".yml", ".json"))
    )
    if isinstance(source, Path) or looks_like_path:
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise QualityError(f"cannot read the rules file {path}: {e.strerror}") from None
        except UnicodeDecodeError:
            raise QualityError(f"the rules file {path} is not UTF-8 text") from None
    else:
        text = str(source)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise QualityError(f"the rules are not valid YAML{at}") from None
    if isinstance(data, Mapping) and "rules" in data:
        data = data["rules"]
    if data is None:
        return []
    if not isinstance(data, list) or not all(isinstance(r, Mapping) for r in data):
        raise QualityError("rules must be a list of mappings, e.g. - not_null: id")
    return [dict(r) for r in data]


def parse_rules(spec: Sequence[Mapping[str, Any] | Rule] | str | Path) -> list[Rule]:
    """Rules from their YAML forms (a list of mappings, or YAML text / a file holding one).

    Each mapping has exactly one kind key, plus optional ``name`` and ``severity`` (``error``
    by default)::

        - not_null: id                      # or [id, email]: one rule per column
        - unique: [order_id, line_no]       # one key of several columns
        - accepted_values: {column: status, values: [open, shipped]}
          severity: warn
        - range: {column: amount, min: 0}   # inclusive; min, max or both
        - regex: {column: email, pattern: "^[^@]+@[^@]+$"}
        - foreign_key: {column: customer_id, references: main.customers.customer_id}
        - row_count: {min: 1}
        - freshness: {column: updated_at, max_age: 24h}
        - sql: "SELECT * FROM {table} WHERE shipped_at < ordered_at"
          name: shipped_before_ordered
    """
    if isinstance(spec, str | Path):
        spec = load_rules(spec)
    rules: list[Rule] = []
    for position, entry in enumerate(spec, start=1):
        if isinstance(entry, Rule):
            rules.append(entry)
            continue
        if not isinstance(entry, Mapping):
            raise QualityError(f"rule {position}: expected a mapping such as {{not_null: id}}")
        rules.extend(_parse_one(dict(entry), position))
    return _unique_names(rules)


def _parse_one(entry: dict[str, Any], position: int) -> list[Rule]:
    kinds = [k for k in entry if k in KINDS]
    if len(kinds) != 1:
        found = ", ".join(map(str, entry)) or "nothing"
        raise QualityError(
            f"rule {position}: name exactly one kind ({', '.join(KINDS)}); found {found}"
        )
    kind = kinds[0]
    body = entry.pop(kind)
    name = entry.pop("name", None)
    severity = str(entry.pop("severity", "error")).lower()
    scope = entry.pop("scope", None) if kind == "sql" else None
    if isinstance(body, Mapping):
        body = dict(body)
        severity = str(body.pop("severity", severity)).lower()
        name = body.pop("name", name)
    if entry:
        raise QualityError(f"rule {position} ({kind}): unknown key(s) {', '.join(map(str, entry))}")
    if severity not in SEVERITIES:
        raise QualityError(f"rule {position} ({kind}): severity must be warn or error")
    where = f"rule {position} ({kind})"
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise QualityError(f"{where}: name must be a non-empty string")
    sev: Severity = "warn" if severity == "warn" else "error"

    def make(column: str | None, options: dict[str, Any], default: str) -> Rule:
        return Rule(name or default, kind, column, sev, options)

    if kind == "not_null":
        columns = _columns(body, where)
        if name is not None and len(columns) > 1:
            raise QualityError(f"{where}: a name applies to one column; write one rule each")
        return [make(c, {}, f"not_null_{c}") for c in columns]
    if kind == "unique":
        columns = _columns(body, where, key="columns")
        return [make(columns[0], {"columns": columns}, "unique_" + "_".join(columns))]
    if kind == "sql":
        if isinstance(body, Mapping):
            options = dict(body)
            sql = options.pop("sql", None)
            scope = options.pop("scope", scope)
            if options:
                raise QualityError(f"{where}: unknown key(s) {', '.join(map(str, options))}")
        else:
            sql = body
        if not isinstance(sql, str) or not sql.strip():
            raise QualityError(f"{where}: give the SELECT that returns the failing rows")
        scope = str(scope or "rows").lower()
        if scope not in ("rows", "table"):
            raise QualityError(f"{where}: scope must be rows or table")
        return [make(None, {"sql": sql.strip(), "scope": scope}, "sql")]
    if not isinstance(body, Mapping):
        if kind == "row_count" and isinstance(body, int):
            body = {"min": body}
        else:
            raise QualityError(f"{where}: expected a mapping, e.g. {_EXAMPLES[kind]}")
    options = dict(body)
    column = options.pop("column", None)
    if kind != "row_count" and (not isinstance(column, str) or not column):
        raise QualityError(f"{where}: name the column, e.g. {_EXAMPLES[kind]}")
    expected = _OPTIONS[kind]
    unknown = set(options) - set(expected)
    if unknown:
        raise QualityError(
            f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
            f"expected {', '.join(('column', *expected) if kind != 'row_count' else expected)}"
        )
    if kind == "accepted_values":
        values = options.get("values")
        if not isinstance(values, list) or not values:
            raise QualityError(f"{where}: values must be a non-empty list")
        return [make(column, {"values": values}, f"accepted_values_{column}")]
    if kind in ("range", "row_count"):
        low, high = options.get("min"), options.get("max")
        if low is None and high is None:
            raise QualityError(f"{where}: give min, max or both")
        if kind == "row_count":
            for bound in (low, high):
                if bound is not None and (not isinstance(bound, int) or isinstance(bound, bool)):
                    raise QualityError(f"{where}: min and max are whole numbers of rows")
        if low is not None and high is not None:
            with contextlib.suppress(TypeError):
                if low > high:
                    raise QualityError(f"{where}: min {low} is greater than max {high}")
        kept = {k: v for k, v in (("min", low), ("max", high)) if v is not None}
        return [make(column, kept, f"range_{column}" if kind == "range" else "row_count")]
    if kind == "regex":
        pattern = options.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            raise QualityError(f"{where}: pattern must be a non-empty string")
        _check_pattern(pattern, where)
        return [make(column, {"pattern": pattern}, f"regex_{column}")]
    if kind == "foreign_key":
        references = options.get("references")
        if not isinstance(references, str) or references.count(".") not in (1, 2):
            raise QualityError(f"{where}: references must be schema.table.column")
        table, _, ref_column = references.rpartition(".")
        try:
            qualified = ".".join(split_name(table))
        except DapError as e:
            raise QualityError(f"{where}: {e}") from None
        if not ref_column:
            raise QualityError(f"{where}: references must end with the referenced column")
        return [make(column, {"references": f"{qualified}.{ref_column}"}, f"foreign_key_{column}")]
    # freshness
    if "max_age" not in options:
        raise QualityError(f"{where}: give max_age, e.g. 24h")
    seconds = parse_duration(options["max_age"])
    return [
        make(
            column,
            {"max_age": str(options["max_age"]), "max_age_s": seconds},
            f"freshness_{column}",
        )
    ]


_EXAMPLES = {
    "accepted_values": "{accepted_values: {column: status, values: [a, b]}}",
    "range": "{range: {column: amount, min: 0}}",
    "regex": '{regex: {column: email, pattern: "^.+@.+$"}}',
    "foreign_key": "{foreign_key: {column: customer_id, references: main.customers.id}}",
    "row_count": "{row_count: {min: 1}}",
    "freshness": "{freshness: {column: updated_at, max_age: 24h}}",
}
_OPTIONS: dict[str, tuple[str, ...]] = {
    "accepted_values": ("values",),
    "range": ("min", "max"),
    "regex": ("pattern",),
    "foreign_key": ("references",),
    "row_count": ("min", "max"),
    "freshness": ("max_age",),
}


def _columns(body: Any, where: str, key: str = "column") -> list[str]:
    if isinstance(body, Mapping):
        body = body.get(key, body.get("column", body.get("columns")))
    values = [body] if isinstance(body, str) else body
    if (
        not isinstance(values, list)
        or not values
        or not all(isinstance(v, str) and v for v in values)
    ):
        raise QualityError(f"{where}: name a column or a list of columns")
    if len(set(values)) != len(values):
        raise QualityError(f"{where}: a column is named twice")
    return list(values)


def _check_pattern(pattern: str, where: str) -> None:
    """The engine's regex syntax (RE2) is what counts: ask the engine, not Python's ``re``."""
    con = duckdb.connect()
    try:
        con.execute("SELECT regexp_matches('', $p)", {"p": pattern}).fetchall()
    except duckdb.Error as e:
        raise QualityError(f"{where}: invalid pattern {pattern!r}: {_engine_message(e)}") from None
    finally:
        con.close()


def _unique_names(rules: list[Rule]) -> list[Rule]:
    """Default names get a ``_2``, ``_3`` suffix; two rules given the same name is an error."""
    seen: dict[str, int] = {}
    named: list[Rule] = []
    for rule in rules:
        if rule.name in seen:
            seen[rule.name] += 1
            candidate = f"{rule.name}_{seen[rule.name]}"
            while candidate in seen:
                seen[rule.name] += 1
                candidate = f"{rule.name}_{seen[rule.name]}"
            rule = replace(rule, name=candidate)
        seen.setdefault(rule.name, 1)
        named.append(rule)
    return named


def _as_rules(rules: Sequence[Mapping[str, Any] | Rule] | str | Path) -> list[Rule]:
    if isinstance(rules, str | Path):
        return parse_rules(rules)
    return parse_rules(list(rules))


# -- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleResult:
    """How one rule fared: ``failures`` counts failing rows (1 for a failed table-level rule).

    ``message`` never contains row values (it is stored and shown to everyone who may read the
    table); the per-row reasons with values are in the report's ``failed`` rows.
    """

    rule: str
    kind: str
    severity: Severity
    status: Status
    failures: int
    message: str = ""
    column: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "kind": self.kind,
            "column": self.column,
            "severity": self.severity,
            "status": self.status,
            "failures": self.failures,
            "message": self.message,
            "details": _jsonable(dict(self.details)),
        }


RESULT_SCHEMA: dict[str, Any] = {
    "rule": pl.String,
    "kind": pl.String,
    "column": pl.String,
    "severity": pl.String,
    "status": pl.String,
    "failures": pl.Int64,
    "message": pl.String,
}


@dataclass
class QualityReport:
    """What :func:`validate` or :func:`check` found.

    ``passed``: the rows to load (a batch only; empty for a table check). ``failed``: rows that
    broke an ``error`` rule, quarantine-shaped (for a table check at most ``max_failed_rows``
    unless they were written). ``ok``: for a batch, False when a table-level ``error`` rule
    failed (load nothing); for a table, False when any ``error`` rule failed.
    """

    results: list[RuleResult]
    passed: pl.DataFrame
    failed: pl.DataFrame
    ok: bool
    table: str = ""
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    table_version: int | None = None
    rows: int | None = None
    recorded: bool = False
    quarantined: int = 0

    @property
    def status(self) -> Status:
        """``fail`` if an error rule failed, ``warn`` if only warn rules did, else ``pass``."""
        statuses = {r.status for r in self.results}
        return "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"

    @property
    def failed_rules(self) -> list[str]:
        return [r.rule for r in self.results if r.status != "pass"]

    def to_frame(self) -> pl.DataFrame:
        """One row per rule: what ``%dap quality`` and ``dap quality check`` show."""
        return results_frame(self.results)

    def freshness(self) -> dict[str, Any] | None:
        return freshness_of(self.results)

    def _repr_html_(self) -> str:
        return badge_html(self.table, self.status, self.checked_at, len(self.failed_rules)) + str(
            self.to_frame()._repr_html_()
        )


def results_frame(results: Iterable[RuleResult]) -> pl.DataFrame:
    return pl.DataFrame(
        [{k: v for k, v in r.to_dict().items() if k in RESULT_SCHEMA} for r in results],
        schema=RESULT_SCHEMA,
    )


def _status(failed: bool, severity: str) -> Status:
    if not failed:
        return "pass"
    return "warn" if severity == "warn" else "fail"


def freshness_of(
    results: Iterable[RuleResult], now: datetime | None = None
) -> dict[str, Any] | None:
    for r in results:
        if r.kind == "freshness" and r.details.get("newest"):
            newest = _to_utc(r.details["newest"])
            age = ((now or datetime.now(UTC)) - newest).total_seconds() if newest else None
            return {"column": r.column, "newest": newest, "age_s": age}
    return None


def badge_html(table: str, status: str, checked_at: datetime | None, failed_rules: int) -> str:
    """A small coloured badge for notebooks (values escaped)."""
    import html

    colour = {"pass": "#1a7f37", "warn": "#9a6700", "fail": "#cf222e"}.get(status, "#57606a")
    when = f" · {checked_at:%Y-%m-%d %H:%M} UTC" if checked_at else ""
    failed = (
        f" · {failed_rules} rule{'s' if failed_rules != 1 else ''} failed" if failed_rules else ""
    )
    return (
        f'<div class="dap-quality-badge"><span style="background:{colour};color:#fff;'
        f'padding:2px 8px;border-radius:10px;font-weight:600">{html.escape(status)}</span> '
        f"<small>{html.escape(table)}{html.escape(failed + when)}</small></div>"
    )


# -- SQL generation ------------------------------------------------------------------------


class _Params:
    """Values bound to ``$pN`` placeholders: nothing a user wrote is pasted into SQL."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def __call__(self, value: Any) -> exp.Expr:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return exp.Placeholder(this=name)

    def text(self, value: str) -> exp.Expr:
        return exp.cast(self(value), "VARCHAR")


def _ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _col(name: str, table: str | None = _T) -> exp.Column:
    return exp.Column(this=_ident(name), table=exp.to_identifier(table) if table else None)


def _concat(*parts: exp.Expr) -> exp.Expr:
    result = parts[0]
    for part in parts[1:]:
        result = exp.DPipe(this=result, expression=part, safe=True)
    return result


def _value_text(column: exp.Expr, is_text: bool) -> exp.Expr:
    """How a value is shown in a reason: ``-3``, ``'abc'``, ``NULL`` (long values cut)."""
    shown: exp.Expr = exp.func(
        "left", exp.cast(column.copy(), "VARCHAR"), exp.Literal.number(_MAX_VALUE_CHARS)
    )
    if is_text:
        quote = exp.Literal.string("'")
        shown = _concat(quote, shown, quote.copy())
    return exp.Case(
        ifs=[
            exp.If(
                this=exp.Is(this=column.copy(), expression=exp.Null()),
                true=exp.Literal.string("NULL"),
            )
        ],
        default=shown,
    )


def _display(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else str(value)


@dataclass
class _RowPlan:
    """The generated pieces of the one pass over the data: per rule a flag and a reason."""

    rules: list[Rule]
    flags: list[exp.Expr]
    reasons: list[exp.Expr]
    helpers: list[exp.Expr]  # window columns added to the scanned data
    joins: list[tuple[exp.Expr, exp.Expr]]  # (aliased subquery, ON condition)


def _plan_rows(
    rules: Sequence[Rule],
    text_columns: Mapping[str, bool],
    params: _Params,
    reference: Any,
    row_id: str | None,
) -> _RowPlan:
    """``text_columns``: column → is it text; ``reference(i, rule)`` → what a foreign key joins."""
    plan = _RowPlan([], [], [], [], [])
    for i, rule in enumerate(rules):
        if rule.kind not in ROW_KINDS:
            continue
        c = rule.column or ""
        col = _col(c)
        not_null = exp.not_(exp.Is(this=col.copy(), expression=exp.Null()))

        def shown(c: str = c, col: exp.Column = col) -> exp.Expr:
            # Made when used: an unused placeholder is an error for DuckDB.
            return _concat(params.text(f"{c} = "), _value_text(col, text_columns.get(c, False)))

        flag: exp.Expr
        reason: exp.Expr
        if rule.kind == "not_null":
            flag = exp.Is(this=col, expression=exp.Null())
            reason = params.text(f"{c} is null")
        elif rule.kind == "unique":
            keys = list(rule.columns)
            partition = [_col(k, None) for k in keys]
            count_name, rank_name = f"__dap_u{i}_n", f"__dap_u{i}_i"
            order = (
                exp.Order(expressions=[exp.Ordered(this=_col(row_id, None))]) if row_id else None
            )
            plan.helpers.append(
                exp.alias_(
                    exp.Window(this=exp.Count(this=exp.Star()), partition_by=partition),
                    count_name,
                )
            )
            plan.helpers.append(
                exp.alias_(
                    exp.Window(
                        this=exp.RowNumber(),
                        partition_by=[p.copy() for p in partition],
                        order=order,
                    ),
                    rank_name,
                )
            )
            flag = exp.and_(
                *[exp.not_(exp.Is(this=_col(k), expression=exp.Null())) for k in keys],
                exp.GT(this=_col(count_name), expression=exp.Literal.number(1)),
                exp.GT(this=_col(rank_name), expression=exp.Literal.number(1)),
            )
            if len(keys) == 1:
                key_text = shown()
            else:
                values = [_value_text(_col(k), text_columns.get(k, False)) for k in keys]
                joined = [values[0]]
                for v in values[1:]:
                    joined += [exp.Literal.string(", "), v]
                key_text = _concat(
                    params.text(f"({', '.join(keys)}) = ("), *joined, exp.Literal.string(")")
                )
            reason = _concat(
                key_text,
                exp.Literal.string(" is duplicated ("),
                exp.cast(_col(count_name), "VARCHAR"),
                exp.Literal.string(" rows with this key)"),
            )
        elif rule.kind == "accepted_values":
            values = list(rule.options["values"])
            listed = ", ".join(_display(v) for v in values[:10]) + (
                ", …" if len(values) > 10 else ""
            )
            flag = exp.and_(
                not_null, exp.not_(exp.In(this=col.copy(), expressions=[params(v) for v in values]))
            )
            reason = _concat(shown(), params.text(f" is not one of {listed}"))
        elif rule.kind == "range":
            low, high = rule.options.get("min"), rule.options.get("max")
            below = exp.LT(this=col.copy(), expression=params(low)) if low is not None else None
            above = exp.GT(this=col.copy(), expression=params(high)) if high is not None else None
            outside = exp.or_(*[b for b in (below, above) if b is not None])
            flag = exp.and_(not_null, exp.paren(outside))
            if below is not None and above is not None:
                which: exp.Expr = exp.Case(
                    ifs=[
                        exp.If(this=below.copy(), true=params.text(f" is below the minimum {low}"))
                    ],
                    default=params.text(f" is above the maximum {high}"),
                )
            elif below is not None:
                which = params.text(f" is below the minimum {low}")
            else:
                which = params.text(f" is above the maximum {high}")
            reason = _concat(shown(), which)
        elif rule.kind == "regex":
            pattern = str(rule.options["pattern"])
            flag = exp.and_(
                not_null,
                exp.not_(
                    exp.func("regexp_matches", exp.cast(col.copy(), "VARCHAR"), params(pattern))
                ),
            )
            reason = _concat(shown(), params.text(f" does not match the pattern {pattern!r}"))
        else:  # foreign_key
            table, ref_column = rule.references
            alias = f"__dap_fk{i}"
            plan.joins.append(
                (
                    exp.Subquery(this=reference(i, rule), alias=exp.TableAlias(this=_ident(alias))),
                    exp.EQ(this=col.copy(), expression=_col("__dap_key", alias)),
                )
            )
            flag = exp.and_(not_null, exp.Is(this=_col("__dap_key", alias), expression=exp.Null()))
            reason = _concat(shown(), params.text(f" is not in {table}.{ref_column}"))
        plan.rules.append(rule)
        plan.flags.append(exp.func("coalesce", flag, exp.false()))
        plan.reasons.append(reason)
    return plan


def _scan(plan: _RowPlan, source: exp.Expr, outputs: Sequence[exp.Expr]) -> exp.Select:
    """``SELECT outputs FROM (SELECT *, helpers FROM source) __dap_t LEFT JOIN refs``."""
    inner = exp.select(exp.Star(), *plan.helpers).from_(source)
    query = exp.select(*outputs).from_(
        exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(_T)))
    )
    for target, on in plan.joins:
        query = query.join(target, on=on, join_type="left")
    return query


def _reference_keys(rule: Rule) -> exp.Select:
    """``SELECT DISTINCT col AS __dap_key FROM schema.table`` (a governed read when checked)."""
    table, column = rule.references
    schema, name = split_name(table)
    return (
        exp.select(exp.alias_(_col(column, None), "__dap_key"))
        .distinct()
        .from_(exp.Table(this=_ident(name), db=_ident(schema)))
    )


def _custom_sql(rule: Rule, target: exp.Table, *, batch: bool) -> exp.Expr:
    """The rule's SELECT with ``{table}`` bound to the data under test, checked like any query."""
    text = str(rule.options["sql"]).replace(THIS, _THIS_NAME)
    try:
        tree = parse_one_statement(text)
        refuse_writes(tree)
        refuse_forbidden_functions(tree)
    except (QueryRefused, SqlSyntaxError) as e:
        raise QualityError(f"sql rule {rule.name}: {e.message}") from None
    if not isinstance(tree, exp.Query):
        raise QualityError(f"sql rule {rule.name}: give a SELECT that returns the failing rows")
    found = False
    for table in list(tree.find_all(exp.Table)):
        if table.name == _THIS_NAME and not table.db:
            found = True
            replacement = target.copy()
            alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(_THIS_NAME))
            replacement.set("alias", alias)
            table.replace(replacement)
        elif batch and isinstance(table.this, exp.Identifier):
            raise QualityError(
                f"sql rule {rule.name}: on a batch the statement can read only {THIS}, "
                f"not {table.sql('duckdb')}"
            )
    if not found and batch:
        raise QualityError(f"sql rule {rule.name}: read the data under test as {THIS}")
    return tree


def _count_of(query: exp.Expr) -> exp.Select:
    return exp.select(exp.alias_(exp.Count(this=exp.Star()), "n")).from_(
        exp.Subquery(this=query, alias=exp.TableAlias(this=exp.to_identifier("__dap_s")))
    )


# -- validate (a batch, in a private engine) -------------------------------------------------


Data: TypeAlias = pl.DataFrame | pl.LazyFrame | pa.Table | pa.RecordBatchReader


def _to_polars(data: Any) -> pl.DataFrame:
    if hasattr(data, "to_table") and not isinstance(data, pa.Table | pl.DataFrame):
        data = data.to_table()  # Extracted, a dataset
    if isinstance(data, pl.LazyFrame):
        return data.collect()
    if isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, pa.RecordBatchReader):
        data = data.read_all()
    if isinstance(data, pa.Table):
        frame = pl.from_arrow(data)
        assert isinstance(frame, pl.DataFrame)
        return frame
    raise QualityError(f"cannot validate a {type(data).__name__}: give a polars or Arrow table")


def _check_columns(rules: Sequence[Rule], columns: Sequence[str], where: str) -> None:
    known = set(columns)
    for rule in rules:
        for column in rule.columns:
            if column not in known:
                shown = ", ".join(list(columns)[:20])
                raise QualityError(
                    f"rule {rule.name}: no column {column!r} in {where} (columns: {shown})"
                )


def _is_text(dtype: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or getattr(pa.types, "is_string_view", lambda _t: False)(dtype)
        or (pa.types.is_dictionary(dtype) and _is_text(dtype.value_type))
    )


def _engine_message(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def validate(
    data: Data | Any,
    rules: Sequence[Mapping[str, Any] | Rule] | str | Path,
    *,
    session: Queries | None = None,
    source: str = "",
    run_id: str = "",
) -> QualityReport:
    """Check a batch before it is loaded; ``passed`` + ``failed`` holds every input row once.

    The batch never reaches the workspace engine: it is registered in a private, locked-down
    DuckDB connection. Foreign-key keys are read through ``session`` (governed: a user cannot
    probe a table they may not read); it defaults to the current principal's session.
    """
    parsed = _as_rules(rules)
    frame = _to_polars(data)
    if _ROW_ID in frame.columns:
        raise QualityError(f"the batch has a column named {_ROW_ID}, which DAP reserves")
    _check_columns(parsed, frame.columns, "the batch")
    arrow = frame.with_row_index(_ROW_ID).to_arrow()
    text_columns = {f.name: _is_text(f.type) for f in arrow.schema}
    con = duckdb.connect()
    try:
        con.register(_BATCH, arrow)
        refs: dict[int, str] = {}
        if any(r.kind == "foreign_key" for r in parsed):
            governed = session or _default_client()
            for i, rule in enumerate(parsed):
                if rule.kind == "foreign_key":
                    keys = governed.query(_reference_keys(rule).sql("duckdb")).table
                    refs[i] = f"__dap_ref{i}__"
                    con.register(refs[i], keys)
        # Nothing in the statements below may reach outside the registered data.
        con.execute("SET enable_external_access=false")
        con.execute("SET lock_configuration=true")
        return _validate_in(con, frame, parsed, text_columns, refs, source, run_id)
    finally:
        con.close()


class Queries(Protocol):
    """Governed SQL, for the keys a ``foreign_key`` rule looks up (any session or client)."""

    def query(
        self, sql: str, params: Mapping[str, Any] | Sequence[Any] | None = None
    ) -> QueryResult: ...


class QualityClient(Queries, Protocol):
    """The caller's client as ``dap.quality.check`` / ``set_rules`` without a session use it."""

    def quality_check(
        self,
        table: str,
        rules: Sequence[Mapping[str, Any] | Rule] | str | Path | None = None,
        *,
        write_failures: bool = False,
    ) -> QualityReport: ...

    def set_quality_rules(
        self, table: str, rules: Sequence[Mapping[str, Any] | Rule] | str | Path
    ) -> list[Rule]: ...


def _default_client() -> QualityClient:
    client: QualityClient = default_client()
    return client


def _run(
    con: duckdb.DuckDBPyConnection, query: exp.Expr, params: Mapping[str, Any], what: str
) -> pa.Table:
    try:
        used = {p.name for p in query.find_all(exp.Placeholder)}
        bound = {k: v for k, v in params.items() if k in used}
        return con.sql(query.sql("duckdb"), params=bound or None).to_arrow_table()
    except duckdb.Error as e:
        raise QualityError(f"{what}: {_engine_message(e)}") from None


def _validate_in(
    con: duckdb.DuckDBPyConnection,
    frame: pl.DataFrame,
    rules: list[Rule],
    text_columns: Mapping[str, bool],
    refs: Mapping[int, str],
    source: str,
    run_id: str,
) -> QualityReport:
    batch = exp.Table(this=exp.to_identifier(_BATCH))
    params = _Params()
    plan = _plan_rows(
        rules,
        text_columns,
        params,
        lambda i, _rule: (
            exp.select(_col("__dap_key", None))
            .distinct()
            .from_(exp.Table(this=exp.to_identifier(refs[i])))
        ),
        _ROW_ID,
    )
    # One frame of failing rows: the row id and, per row rule, its reason (null: it passed).
    found = pl.DataFrame({_ROW_ID: []}, schema={_ROW_ID: pl.UInt32})
    columns: dict[str, str] = {}  # rule → its reason column in `found`
    if plan.rules:
        outputs = [
            _col(_ROW_ID),
            *[
                exp.alias_(exp.Case(ifs=[exp.If(this=f.copy(), true=r)]), f"__dap_r{j}")
                for j, (f, r) in enumerate(zip(plan.flags, plan.reasons, strict=True))
            ],
        ]
        query = _scan(plan, batch, outputs).where(exp.or_(*[f.copy() for f in plan.flags]))
        scanned = pl.from_arrow(_run(con, query, params.values, "checking the batch"))
        assert isinstance(scanned, pl.DataFrame)
        found = scanned.with_columns(pl.col(_ROW_ID).cast(pl.UInt32))
        columns = {rule.name: f"__dap_r{j}" for j, rule in enumerate(plan.rules)}
    results: dict[str, RuleResult] = {}
    for j, rule in enumerate(r for r in rules if r.kind == "sql"):
        result, hits = _validate_sql(con, rule, batch)
        results[rule.name] = result
        if hits is not None:
            column = f"__dap_s{j}"
            columns[rule.name] = column
            found = found.join(
                hits.rename({"reason": column}), on=_ROW_ID, how="full", coalesce=True
            )
    table_level = [r for r in rules if r.kind in TABLE_KINDS]
    if table_level:
        results.update(_table_rules(con, batch, table_level, frame.height))
    counts = found.select(pl.col(c).is_not_null().sum().alias(r) for r, c in columns.items())
    # Rows failing an error rule: one quarantined row each, all its rules and reasons joined.
    errors = [r.name for r in rules if r.row_level and r.severity == "error"]
    bad = (
        found.filter(pl.any_horizontal(pl.col(columns[r]).is_not_null() for r in errors))
        .sort(_ROW_ID)
        .select(
            _ROW_ID,
            pl.concat_str(
                [pl.when(pl.col(columns[r]).is_not_null()).then(pl.lit(r)) for r in errors],
                separator="; ",
                ignore_nulls=True,
            ).alias("rule"),
            pl.concat_str(
                [pl.col(columns[r]) for r in errors], separator="; ", ignore_nulls=True
            ).alias("reason"),
        )
        if errors
        else found.clear().select(_ROW_ID)
    )
    ids = bad[_ROW_ID]
    passed = (
        frame.with_row_index(_ROW_ID).filter(~pl.col(_ROW_ID).is_in(ids.implode())).drop(_ROW_ID)
    )
    failed = empty_quarantine()
    if bad.height:
        failed = quarantine_frame(
            frame[ids], rule="", reason="", source=source, run_id=run_id
        ).with_columns(_dap_rule=bad["rule"], _dap_reason=bad["reason"])
    ordered: list[RuleResult] = []
    for rule in rules:
        if rule.name in results:
            ordered.append(results[rule.name])
        else:
            failures = int(counts[rule.name][0]) if rule.name in counts.columns else 0
            ordered.append(_row_result(rule, failures))
    ok = not any(r.status == "fail" and _rule_by(rules, r.rule).row_level is False for r in ordered)
    return QualityReport(
        results=ordered, passed=passed, failed=failed, ok=ok, table=source, rows=frame.height
    )


def _rule_by(rules: Sequence[Rule], name: str) -> Rule:
    return next(r for r in rules if r.name == name)


def _row_result(rule: Rule, failures: int) -> RuleResult:
    label = ", ".join(rule.columns) or "the statement"
    if rule.kind == "not_null":
        message = f"{failures} row(s) with {label} null"
    elif rule.kind == "unique":
        message = f"{failures} row(s) repeat a key ({label}) of an earlier row"
    elif rule.kind == "accepted_values":
        message = f"{failures} row(s) with {label} outside the accepted values"
    elif rule.kind == "range":
        bounds = _bounds(rule.options.get("min"), rule.options.get("max"))
        message = f"{failures} row(s) with {label} out of range{bounds}"
    elif rule.kind == "regex":
        message = f"{failures} row(s) with {label} not matching the pattern"
    elif rule.kind == "foreign_key":
        message = f"{failures} row(s) with {label} not in {'.'.join(rule.references)}"
    else:
        message = f"{failures} row(s) returned by the statement"
    return _result(rule, failures, message if failures else "ok")


def _bounds(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f" [{low}, {high}]"
    return f" (min {low})" if low is not None else f" (max {high})"


def _validate_sql(
    con: duckdb.DuckDBPyConnection, rule: Rule, batch: exp.Table
) -> tuple[RuleResult, pl.DataFrame | None]:
    """A row rule's failing row ids (with the reason), or a table rule's verdict."""
    query = _custom_sql(rule, batch, batch=True)
    what = f"sql rule {rule.name}"
    if not rule.row_level:
        count = int(_run(con, _count_of(query), {}, what).column(0)[0].as_py())
        return _table_result(rule, count, {"rows": count}), None
    wrapped = (
        exp.select(_col(_ROW_ID, "__dap_s"))
        .distinct()
        .from_(exp.Subquery(this=query, alias=exp.TableAlias(this=exp.to_identifier("__dap_s"))))
    )
    try:
        rows = con.sql(wrapped.sql("duckdb")).to_arrow_table()
    except duckdb.BinderException:
        raise QualityError(
            f"{what}: a rows rule must return rows of {THIS} (SELECT * FROM {THIS} WHERE …); "
            "use scope: table for a statement that returns other rows"
        ) from None
    except duckdb.Error as e:
        raise QualityError(f"{what}: {_engine_message(e)}") from None
    ids = pl.Series(_ROW_ID, rows.column(0).to_pylist(), dtype=pl.UInt32)
    hits = ids.to_frame().with_columns(reason=pl.lit(f"returned by the sql rule {rule.name}"))
    return _row_result(rule, hits.height), hits


def _table_result(
    rule: Rule, failures: int, details: Mapping[str, Any], message: str = ""
) -> RuleResult:
    if rule.kind == "sql" and not message:
        message = f"the statement returned {failures} row(s)" if failures else "ok"
    return _result(rule, failures, message or "ok", details)


def _result(
    rule: Rule, failures: int, message: str, details: Mapping[str, Any] | None = None
) -> RuleResult:
    """Where a rule's failures become its status: row and table rules alike fail, at the rule's
    severity, as soon as anything fails."""
    return RuleResult(
        rule=rule.name,
        kind=rule.kind,
        column=rule.column,
        severity=rule.severity,
        status=_status(failures > 0, rule.severity),
        failures=failures,
        message=message,
        details={} if details is None else details,
    )


def _table_rules(
    con: duckdb.DuckDBPyConnection, batch: exp.Table, rules: list[Rule], rows: int
) -> dict[str, RuleResult]:
    newest: dict[str, Any] = {}
    fresh = [r for r in rules if r.kind == "freshness"]
    if fresh:
        query = exp.select(
            *[
                exp.alias_(exp.Max(this=_col(r.column or "", None)), f"m{i}")
                for i, r in enumerate(fresh)
            ]
        ).from_(batch)
        values = _run(con, query, {}, "checking freshness").to_pylist()[0]
        newest = {r.name: values[f"m{i}"] for i, r in enumerate(fresh)}
    return {r.name: _judge_table_rule(r, rows, newest.get(r.name)) for r in rules}


def _to_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise QualityError(f"freshness needs a date or timestamp column, not {type(value).__name__}")


def _age_text(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _judge_table_rule(rule: Rule, rows: int, newest: Any) -> RuleResult:
    if rule.kind == "row_count":
        low, high = rule.options.get("min"), rule.options.get("max")
        message = "ok"
        if low is not None and rows < low:
            message = f"{rows} row(s), fewer than the minimum {low}"
        elif high is not None and rows > high:
            message = f"{rows} row(s), more than the maximum {high}"
        return _table_result(rule, int(message != "ok"), {"rows": rows}, message)
    # freshness
    latest = _to_utc(newest)
    limit = float(rule.options["max_age_s"])
    if latest is None:
        return _table_result(
            rule,
            1,
            {"newest": None, "age_s": None},
            f"no values in {rule.column}: no data is fresh",
        )
    age = (datetime.now(UTC) - latest).total_seconds()
    stale = age > limit
    message = (
        f"newest {rule.column} is {_age_text(age)} old, older than {rule.options['max_age']}"
        if stale
        else "ok"
    )
    return _table_result(rule, int(stale), {"newest": latest.isoformat(), "age_s": age}, message)


# -- check (a catalog table, governed) -------------------------------------------------------


def check(
    table: str,
    rules: Sequence[Mapping[str, Any] | Rule] | str | Path | None = None,
    *,
    session: Session | None = None,
    write_failures: bool = False,
    record: bool | None = None,
    max_failed_rows: int = 100,
) -> QualityReport:
    """Check a catalog table as the session's principal sees it (row filters and masks apply).

    ``rules`` default to the table's stored rules. Nothing is deleted: ``write_failures=True``
    (needs MODIFY) appends the failing rows to ``<table>__quarantine`` in one commit. ``record``:
    store the results (default: when the rules are the stored ones); see the module docstring.
    """
    if session is None:  # the caller's client: in this process, or the DAP service
        if record is not None or max_failed_rows != 100:
            raise QualityError("record= and max_failed_rows= need a session: pass session=")
        return _default_client().quality_check(table, rules, write_failures=write_failures)
    if not write_failures:
        return _check(session, table, rules, False, record, max_failed_rows)
    name = session.governed_catalog.readable(table).info.qualified_name  # unreadable: as missing
    what = f"quality check of {name}: failing rows copied to {quarantine_name(name)}"
    with session.audit_change("quarantine", (name,), statement=what) as change:
        report = _check(session, name, rules, True, record, max_failed_rows)
        change.rows = report.quarantined
        change.touch(quarantine_name(name))
    return report


def _check(
    session: Session,
    table: str,
    rules: Sequence[Mapping[str, Any] | Rule] | str | Path | None,
    write_failures: bool,
    record: bool | None,
    max_failed_rows: int,
) -> QualityReport:
    ws = session.workspace
    governed = session.governed_catalog
    entry = governed.readable(table)  # a table the caller may not read is as if missing
    info = entry.info
    name = info.qualified_name
    store = QualityStore(ws.meta)
    stored = rules is None
    sight: RuleSight | None = None
    if stored:
        # The stored rules the caller may see: none naming a column or table hidden from them.
        sight = rule_sight(governed, entry, store.rules(name))
        parsed = sight.shown
    else:
        parsed = _as_rules(rules)  # type: ignore[arg-type]
    if stored and not parsed:
        raise QualityError(
            f"no quality rules for {name}: set them with `dap quality rules {name} --set FILE.yaml`"
        )
    if record and not stored:
        session.require("MODIFY", name)
    if write_failures:
        session.require("MODIFY", name)
    target = exp.Table(this=_ident(info.name), db=_ident(info.schema))
    probe = session.query(exp.select(exp.Star()).from_(target.copy()).limit(0).sql("duckdb"))
    schema = probe.table.schema
    _check_columns(parsed, schema.names, name)
    text_columns = {f.name: _is_text(f.type) for f in schema}
    params = _Params()
    plan = _plan_rows(parsed, text_columns, params, lambda _i, rule: _reference_keys(rule), None)
    fresh = [r for r in parsed if r.kind == "freshness"]
    aggregates: list[exp.Expr] = [exp.alias_(exp.Count(this=exp.Star()), "__dap_rows")]
    aggregates += [
        exp.alias_(
            exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=f.copy())),
            f"__dap_n{j}",
        )
        for j, f in enumerate(plan.flags)
    ]
    aggregates += [
        exp.alias_(exp.Max(this=_col(r.column or "")), f"__dap_m{i}") for i, r in enumerate(fresh)
    ]
    counted = session.query(_scan(plan, target.copy(), aggregates).sql("duckdb"), params.values)
    totals = counted.table.to_pylist()[0]
    rows = int(totals["__dap_rows"])
    results: dict[str, RuleResult] = {}
    for j, rule in enumerate(plan.rules):
        results[rule.name] = _row_result(rule, int(totals[f"__dap_n{j}"]))
    for i, rule in enumerate(fresh):
        results[rule.name] = _judge_table_rule(rule, rows, totals[f"__dap_m{i}"])
    for rule in parsed:
        if rule.kind == "row_count":
            results[rule.name] = _judge_table_rule(rule, rows, None)
    failed_parts: list[pl.DataFrame] = []
    limit = None if write_failures else max_failed_rows
    erroring = [
        j
        for j, rule in enumerate(plan.rules)
        if rule.severity == "error" and results[rule.name].failures
    ]
    if erroring and (limit is None or limit > 0):
        failed_parts.append(
            _failing_rows(session, plan, target, schema.names, params, erroring, limit)
        )
    for rule in parsed:
        if rule.kind == "sql":
            result, rows_frame = _check_sql(session, rule, target, write_failures, max_failed_rows)
            results[rule.name] = result
            if rows_frame is not None:
                failed_parts.append(rows_frame)
    ordered = [results[r.name] for r in parsed]
    failed = pl.concat(failed_parts) if failed_parts else empty_quarantine()
    report = QualityReport(
        results=ordered,
        passed=pl.DataFrame(),
        failed=failed,
        ok=not any(r.status == "fail" for r in ordered),
        table=name,
        table_version=info.version,
        rows=rows,
    )
    if write_failures and failed.height:
        report.quarantined = write_quarantine(ws.catalog, name, failed)
    involved = [name, *{r.references[0] for r in parsed if r.kind == "foreign_key"}]
    should_record = stored if record is None else record
    if should_record:
        whole = sight.complete if sight is not None else True
        if whole and _sees_everything(session, involved):
            store.record(report, checked_by=session.principal.name)
            report.recorded = True
        elif record:
            raise QueryRefused(
                f"{session.principal.name} sees {name} through a row filter or mask: "
                "results of a partial view are not stored"
            )
    return report


def _failing_rows(
    session: Session,
    plan: _RowPlan,
    target: exp.Table,
    columns: Sequence[str],
    params: _Params,
    erroring: Sequence[int],
    limit: int | None,
) -> pl.DataFrame:
    outputs: list[exp.Expr] = [_col(c) for c in columns]
    outputs += [
        exp.alias_(
            exp.Case(ifs=[exp.If(this=plan.flags[j].copy(), true=plan.reasons[j].copy())]),
            f"__dap_r{j}",
        )
        for j in erroring
    ]
    query = _scan(plan, target.copy(), outputs).where(
        exp.or_(*[plan.flags[j].copy() for j in erroring])
    )
    if limit is not None:
        query = query.limit(limit)
    found = session.query(query.sql("duckdb"), params.values).to_polars()
    names = [plan.rules[j].name for j in erroring]
    reason_columns = [f"__dap_r{j}" for j in erroring]
    rule_texts, reason_texts = [], []
    for row in found.select(reason_columns).iter_rows():
        hit = [(n, r) for n, r in zip(names, row, strict=True) if r is not None]
        rule_texts.append("; ".join(n for n, _ in hit))
        reason_texts.append("; ".join(r for _, r in hit))
    return quarantine_frame(
        found.select(list(columns)),
        rule=rule_texts,
        reason=reason_texts,
        source=target.sql("duckdb"),
    )


def _check_sql(
    session: Session, rule: Rule, target: exp.Table, write_failures: bool, max_failed_rows: int
) -> tuple[RuleResult, pl.DataFrame | None]:
    query = _custom_sql(rule, target, batch=False)
    count = int(session.query(_count_of(query).sql("duckdb")).table.column(0)[0].as_py())
    if not rule.row_level:
        return _table_result(rule, count, {"rows": count}), None
    result = _row_result(rule, count)
    limit = None if write_failures else max_failed_rows
    if not count or rule.severity != "error" or limit == 0:
        return result, None
    select_rows = query.copy()
    if limit is not None and isinstance(select_rows, exp.Query):
        select_rows = (
            exp.select(exp.Star())
            .from_(
                exp.Subquery(
                    this=select_rows, alias=exp.TableAlias(this=exp.to_identifier("__dap_s"))
                )
            )
            .limit(limit)
        )
    rows = session.query(select_rows.sql("duckdb")).to_polars()
    frame = quarantine_frame(
        rows,
        rule=rule.name,
        reason=f"returned by the sql rule {rule.name}",
        source=target.sql("duckdb"),
    )
    return result, frame


def _sees_everything(session: Session, tables: Iterable[str]) -> bool:
    """No row filter and no mask between this principal and any of ``tables``."""
    ws = session.workspace
    if not ws.policy.enforcing():
        return True
    principal = ws.policy.principal_details(session.principal)
    for table in tables:
        view = ws.policy.table_policy(principal, table)
        if view is not None and (view.row_filters or view.masks):
            return False
    return True


def set_rules(
    table: str,
    spec: Sequence[Mapping[str, Any] | Rule] | str | Path,
    *,
    session: Session | None = None,
) -> list[Rule]:
    """Store the rule set of a table (needs MODIFY or MANAGE_GRANTS on it, see
    :func:`require_rule_writer`); an empty list removes them."""
    if session is None:  # the caller's client: in this process, or the DAP service
        return _default_client().set_quality_rules(table, spec)
    governed = session.governed_catalog
    try:
        name = session.catalog.get(table).qualified_name
    except UnknownTable:
        governed.readable(table)  # the answer for a missing table, as for an unreadable one
        raise
    with session.audit_change("quality_rules", (name,), statement=f"set quality rules of {name}"):
        require_rule_writer(governed, table)
        parsed = _as_rules(spec)
        QualityStore(session.workspace.meta).set_rules(name, parsed, actor=session.principal.name)
    return parsed


def require_rule_writer(governed: GovernedCatalog, table: str) -> TableInfo:
    """The stored table whose rules the caller may set: MODIFY (who changes the data) or
    MANAGE_GRANTS (stewards) on it. A caller who may not even read it gets the answer for a
    missing table; a reader without either privilege a :class:`QueryRefused`."""
    policy, principal = governed.policy, governed.principal
    try:
        info: TableInfo | None = governed.catalog.get(table)
    except UnknownTable:
        info = None
    writers = ("MODIFY", "MANAGE_GRANTS")
    if info is not None and any(
        policy.check(principal, a, info.qualified_name).allowed for a in writers
    ):
        return info
    # Missing and unreadable get one answer (UnknownTable); a reader a refusal.
    name = governed.readable(table).info.qualified_name
    raise QueryRefused(
        f"{principal.name} may not set the quality rules of {name}: needs MODIFY or MANAGE_GRANTS"
    )


@dataclass(frozen=True)
class RuleSight:
    """Which of a table's rules one caller may see, and whose stored figures are theirs.

    ``shown``: the rules naming no column hidden from the caller by a column grant and no
    table they may not read. ``hidden_figures``: names of shown rules whose stored counts,
    details and freshness describe rows or values the caller does not see (everything, for a
    row-filtered or masked reader; a foreign key or ``sql`` rule into a table they see only
    in part). ``complete``: nothing left out or hidden, so the caller's check of the stored
    rules is the table's check.
    """

    shown: list[Rule]
    hidden_figures: frozenset[str]
    complete: bool


def rule_sight(governed: GovernedCatalog, entry: GovernedTable, rules: Sequence[Rule]) -> RuleSight:
    """How ``rules`` of the table ``entry`` (as the caller sees it) appear to that caller."""
    name = entry.info.qualified_name
    stored = {c.name.lower() for c in governed.catalog.get(name).columns}
    visible = {c.name.lower() for c in entry.info.columns}
    hidden_columns = stored - visible
    others: dict[str, GovernedTable | None] = {}

    def other(table: str) -> GovernedTable | None:
        if table not in others:
            try:
                others[table] = governed.readable(table)
            except UnknownTable:
                others[table] = None
        return others[table]

    shown: list[Rule] = []
    hidden: set[str] = set()
    for rule in rules:
        reach = _reach(rule)
        if reach is None:  # a statement we cannot read: fail closed
            continue
        columns, tables = reach
        if columns & hidden_columns:
            continue
        seen = [other(t) for t in tables if t != name]
        if any(t is None for t in seen):
            continue
        shown.append(rule)
        if entry.partial or any(t is not None and _limited(governed, t) for t in seen):
            hidden.add(rule.name)
    return RuleSight(shown, frozenset(hidden), len(shown) == len(rules) and not hidden)


def _limited(governed: GovernedCatalog, entry: GovernedTable) -> bool:
    """The caller sees ``entry`` through a filter, a mask or a column grant."""
    if entry.partial:
        return True
    stored = governed.catalog.get(entry.info.qualified_name).columns
    return len(entry.info.columns) < len(stored)


def _reach(rule: Rule) -> tuple[set[str], set[str]] | None:
    """(columns of the table under test, other tables) a rule names; None if not known."""
    columns = {c.lower() for c in rule.columns}
    if rule.kind == "foreign_key":
        return columns, {rule.references[0]}
    if rule.kind != "sql":
        return columns, set()
    try:
        tree = parse_one_statement(str(rule.options["sql"]).replace(THIS, _THIS_NAME))
    except (QueryRefused, SqlSyntaxError):
        return None
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    tables: set[str] = set()
    for t in tree.find_all(exp.Table):
        if not t.db and t.name.lower() in ctes | {_THIS_NAME}:
            continue
        tables.add(".".join(split_name(".".join(p for p in (t.db, t.name) if p))))
    columns |= {c.name.lower() for c in tree.find_all(exp.Column)}
    return columns, tables


# -- storage ---------------------------------------------------------------------------------


class QualityRuleSet(Base):
    """The declared rules of one table (YAML forms, as :meth:`Rule.to_spec` writes them)."""

    __tablename__ = "quality_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    table_name: Mapped[str] = mapped_column(String(401), unique=True)
    spec: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    updated_by: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class QualityResult(Base):
    """One rule's outcome in one check of a table; a check's rows share ``check_id``."""

    __tablename__ = "quality_results"
    __table_args__ = (Index("ix_quality_results_table_checked", "table_name", "checked_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    check_id: Mapped[str] = mapped_column(String(32), index=True)
    table_name: Mapped[str] = mapped_column(String(401))
    rule: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    column_name: Mapped[str | None] = mapped_column(String(400), nullable=True)
    severity: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10))
    failures: Mapped[int] = mapped_column(BigInteger, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    table_version: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    checked_by: Mapped[str] = mapped_column(String(200), default="")
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@dataclass(frozen=True)
class StoredCheck:
    """One recorded check of a table."""

    table: str
    check_id: str
    checked_at: datetime
    checked_by: str
    table_version: int | None
    results: list[RuleResult]

    @property
    def status(self) -> Status | Literal["unknown"]:
        statuses = {r.status for r in self.results}
        return "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"


class QualityStore:
    """Rules per table and check results in the metadata store. Callers check privileges."""

    def __init__(self, meta: MetaStore, *, keep: int = 200) -> None:
        self.meta = meta
        self.keep = keep  # checks kept per table

    def set_rules(
        self, table: str, rules: Sequence[Mapping[str, Any] | Rule] | str | Path, *, actor: str = ""
    ) -> list[Rule]:
        parsed = _as_rules(rules)
        name = ".".join(split_name(table))
        spec = [r.to_spec() for r in parsed]
        with self.meta.session() as s:
            row = s.execute(
                select(QualityRuleSet).where(QualityRuleSet.table_name == name)
            ).scalar()
            if not parsed:
                if row is not None:
                    s.delete(row)
                return []
            if row is None:
                row = QualityRuleSet(table_name=name)
                s.add(row)
            row.spec = _jsonable(spec)
            row.updated_by = actor
            row.updated_at = utcnow()
        return parsed

    def rules(self, table: str) -> list[Rule]:
        name = ".".join(split_name(table))
        with self.meta.session() as s:
            spec = s.execute(
                select(QualityRuleSet.spec).where(QualityRuleSet.table_name == name)
            ).scalar()
        return parse_rules(spec or [])

    def record(self, report: QualityReport, *, checked_by: str = "") -> str:
        check_id = uuid.uuid4().hex
        with self.meta.session() as s:
            for r in report.results:
                s.add(
                    QualityResult(
                        check_id=check_id,
                        table_name=report.table,
                        rule=r.rule,
                        kind=r.kind,
                        column_name=r.column,
                        severity=r.severity,
                        status=r.status,
                        failures=r.failures,
                        message=r.message,
                        details=_jsonable(dict(r.details)),
                        table_version=report.table_version,
                        checked_by=checked_by,
                        checked_at=report.checked_at,
                    )
                )
            s.flush()
            # History is for trends, not an archive: the oldest checks beyond ``keep`` go.
            old = (
                s.execute(
                    select(QualityResult.check_id)
                    .where(QualityResult.table_name == report.table)
                    .group_by(QualityResult.check_id)
                    .order_by(func.max(QualityResult.checked_at).desc())
                    .offset(self.keep)
                )
                .scalars()
                .all()
            )
            if old:
                s.execute(delete(QualityResult).where(QualityResult.check_id.in_(old)))
        return check_id

    def latest(self, table: str) -> StoredCheck | None:
        name = ".".join(split_name(table))
        with self.meta.session() as s:
            last = s.execute(
                select(QualityResult.check_id)
                .where(QualityResult.table_name == name)
                .order_by(QualityResult.checked_at.desc(), QualityResult.id.desc())
                .limit(1)
            ).scalar()
            if last is None:
                return None
            rows = (
                s.execute(
                    select(QualityResult)
                    .where(QualityResult.check_id == last)
                    .order_by(QualityResult.id)
                )
                .scalars()
                .all()
            )
            first = rows[0]
            return StoredCheck(
                table=name,
                check_id=last,
                checked_at=_to_utc(first.checked_at) or first.checked_at,
                checked_by=first.checked_by,
                table_version=first.table_version,
                results=[
                    RuleResult(
                        rule=r.rule,
                        kind=r.kind,
                        column=r.column_name,
                        severity="warn" if r.severity == "warn" else "error",
                        status=r.status,  # type: ignore[arg-type]
                        failures=int(r.failures),
                        message=r.message,
                        details=dict(r.details or {}),
                    )
                    for r in rows
                ],
            )

    def badge(self, table: str) -> dict[str, Any]:
        """What the catalog shows beside a table: status of the last check and freshness."""
        last = self.latest(table)
        if last is None:
            return {"status": "unknown", "checked_at": None, "failed_rules": 0, "freshness": None}
        return {
            "status": last.status,
            "checked_at": last.checked_at,
            "failed_rules": sum(r.status != "pass" for r in last.results),
            "freshness": freshness_of(last.results),
        }


def _jsonable(value: Any) -> Any:
    """Dates and other scalars YAML may produce, as JSON-storable values."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


__all__ = [
    "KINDS",
    "QualityError",
    "QualityReport",
    "QualityResult",
    "QualityRuleSet",
    "QualityStore",
    "Rule",
    "RuleResult",
    "RuleSight",
    "StoredCheck",
    "badge_html",
    "check",
    "load_rules",
    "parse_duration",
    "parse_rules",
    "require_rule_writer",
    "results_frame",
    "rule_sight",
    "set_rules",
    "validate",
]
