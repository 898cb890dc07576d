"""Quality rules: what a rule set declares, read from its YAML forms and checked before use.

A rule set is a list of small YAML mappings (``{not_null: id}``, ``{range: {column: amount,
min: 0}}``, …; see :func:`parse_rules`). What the rules mean, on a batch and on a table alike:

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
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import duckdb
import yaml

from ..catalog import split_name
from ..errors import DapError

Severity = Literal["warn", "error"]
ROW_KINDS = ("not_null", "unique", "accepted_values", "range", "regex", "foreign_key")
TABLE_KINDS = ("row_count", "freshness")
KINDS = (*ROW_KINDS, *TABLE_KINDS, "sql")
SEVERITIES = ("warn", "error")
THIS = "{table}"  # how a sql rule names the data under test
_THIS_NAME = "__dap_this__"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


class QualityError(DapError):
    """A rule set that cannot be applied (bad spec, unknown column, bad SQL)."""

    code = "quality_error"
    http_status = 400


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


def _check_columns(rules: Sequence[Rule], columns: Sequence[str], where: str) -> None:
    known = set(columns)
    for rule in rules:
        for column in rule.columns:
            if column not in known:
                shown = ", ".join(list(columns)[:20])
                raise QualityError(
                    f"rule {rule.name}: no column {column!r} in {where} (columns: {shown})"
                )


def _engine_message(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
