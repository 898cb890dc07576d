"""Cleansing and normalization: small, reusable transforms over polars DataFrames.

Pipelines run them from YAML (``transform: - cleanse: - trim: [name]``); notebooks call them
directly (``cleanse.trim(df, ["name"])``). Each is a plain function of a DataFrame so it can be
tested, composed and reused without a pipeline around it.

Transforms that can meet a value they cannot handle (:func:`coerce`, :func:`normalize_dates`)
return ``(good, bad)``: the rows that converted, and the rows that did not shaped for the
quarantine with the column and the offending value in the reason. A value that does not convert
is never silently turned into a null.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from .errors import DapError, SchemaMismatch
from .quarantine import empty_quarantine, quarantine_frame

__all__ = [
    "TYPES",
    "UNITS",
    "coerce",
    "dedupe",
    "derive",
    "drop",
    "lookup",
    "lower",
    "map_values",
    "normalize_dates",
    "rename",
    "title",
    "trim",
    "units",
    "upper",
]

Columns = str | Sequence[str]

TYPES: dict[str, pl.DataType] = {
    "int": pl.Int64(),
    "integer": pl.Int64(),
    "bigint": pl.Int64(),
    "float": pl.Float64(),
    "double": pl.Float64(),
    "str": pl.String(),
    "string": pl.String(),
    "text": pl.String(),
    "bool": pl.Boolean(),
    "boolean": pl.Boolean(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us"),
    "timestamp": pl.Datetime("us"),
}

_TRUE = ("true", "t", "yes", "y", "1", "on")
_FALSE = ("false", "f", "no", "n", "0", "off")
_MAX_EXACT_FLOAT_INT = 2**53

# Factor to the base unit of each dimension (metre, kilogram, litre, second, byte).
UNITS: dict[str, tuple[str, float]] = {
    "mm": ("length", 0.001),
    "cm": ("length", 0.01),
    "m": ("length", 1.0),
    "km": ("length", 1000.0),
    "in": ("length", 0.0254),
    "ft": ("length", 0.3048),
    "yd": ("length", 0.9144),
    "mi": ("length", 1609.344),
    "mg": ("mass", 1e-6),
    "g": ("mass", 0.001),
    "kg": ("mass", 1.0),
    "t": ("mass", 1000.0),
    "oz": ("mass", 0.028349523125),
    "lb": ("mass", 0.45359237),
    "ml": ("volume", 0.001),
    "l": ("volume", 1.0),
    "gal": ("volume", 3.785411784),
    "ms": ("time", 0.001),
    "s": ("time", 1.0),
    "min": ("time", 60.0),
    "h": ("time", 3600.0),
    "d": ("time", 86400.0),
    "b": ("bytes", 1.0),
    "kb": ("bytes", 1e3),
    "mb": ("bytes", 1e6),
    "gb": ("bytes", 1e9),
    "kib": ("bytes", 1024.0),
    "mib": ("bytes", 1024.0**2),
    "gib": ("bytes", 1024.0**3),
}
_TEMPERATURES = ("c", "f", "k")


def _columns(df: pl.DataFrame, columns: Columns) -> list[str]:
    names = [columns] if isinstance(columns, str) else list(columns)
    missing = [c for c in names if c not in df.columns]
    if missing:
        raise SchemaMismatch(f"no column {', '.join(missing)} in the data (it has {_list(df)})")
    return names


def _list(df: pl.DataFrame, limit: int = 12) -> str:
    shown = ", ".join(df.columns[:limit])
    return shown + (", …" if df.width > limit else "")


def _strings(df: pl.DataFrame, columns: Columns) -> list[str]:
    """The named columns that hold text: case and whitespace only make sense there."""
    return [c for c in _columns(df, columns) if df.schema[c] == pl.String]


# -- text ---------------------------------------------------------------------------------------


def trim(df: pl.DataFrame, columns: Columns) -> pl.DataFrame:
    """Strip leading and trailing whitespace; a value that was only whitespace becomes null,
    since an empty-looking cell means "no value" to whoever typed it."""
    exprs = [pl.col(c).str.strip_chars() for c in _strings(df, columns)]
    df = df.with_columns(exprs)
    return df.with_columns(
        pl.when(pl.col(c).str.len_chars() == 0).then(None).otherwise(pl.col(c)).alias(c)
        for c in _strings(df, columns)
    )


def lower(df: pl.DataFrame, columns: Columns) -> pl.DataFrame:
    """Lower-case text (e-mail addresses, codes compared case-insensitively)."""
    return df.with_columns(pl.col(c).str.to_lowercase() for c in _strings(df, columns))


def upper(df: pl.DataFrame, columns: Columns) -> pl.DataFrame:
    """Upper-case text (country and currency codes)."""
    return df.with_columns(pl.col(c).str.to_uppercase() for c in _strings(df, columns))


def title(df: pl.DataFrame, columns: Columns) -> pl.DataFrame:
    """Title-case text (names typed in every case)."""
    return df.with_columns(pl.col(c).str.to_titlecase() for c in _strings(df, columns))


# -- types --------------------------------------------------------------------------------------


def _dtype(name: str) -> pl.DataType:
    dtype = TYPES.get(name.strip().lower())
    if dtype is None:
        raise DapError(f"unknown type {name!r} for coerce: use {', '.join(sorted(TYPES))}")
    return dtype


def _convert(column: str, source: pl.DataType, target: pl.DataType) -> pl.Expr:
    """An expression converting ``column`` to ``target``, null where the value does not fit."""
    col = pl.col(column)
    if source != pl.String:
        return col.cast(target, strict=False)
    text = col.str.strip_chars()
    text = pl.when(text.str.len_chars() == 0).then(None).otherwise(text)
    if target == pl.Boolean:
        low = text.str.to_lowercase()
        return pl.when(low.is_in(_TRUE)).then(True).when(low.is_in(_FALSE)).then(False)
    if target == pl.Date:
        return text.str.to_date(strict=False)
    if isinstance(target, pl.Datetime):
        return text.str.to_datetime(time_unit="us", strict=False)
    if target == pl.Int64:
        # "12.0" is the integer 12 (spreadsheets write integers that way); 12.5 is not one.
        as_float = text.cast(pl.Float64, strict=False)
        exact = (as_float == as_float.floor()) & (as_float.abs() < _MAX_EXACT_FLOAT_INT)
        return pl.coalesce(
            text.cast(pl.Int64, strict=False),
            pl.when(exact).then(as_float.cast(pl.Int64, strict=False)),
        )
    return text.cast(target, strict=False)


def coerce(
    df: pl.DataFrame,
    types: Mapping[str, str],
    *,
    source: str = "",
    run_id: str = "",
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Convert columns to types (``{"amount": "float", "ordered_at": "datetime"}``).

    Returns ``(good, bad)``: ``bad`` holds every row with at least one value that did not
    convert, quarantine-shaped, its reason naming each column and value. Empty strings are
    missing values, not errors.
    """
    if not types:
        return df, empty_quarantine()
    names = _columns(df, list(types))
    targets = {c: _dtype(types[c]) for c in names}
    converted = df.with_columns(
        _convert(c, df.schema[c], t).alias(f"__dap_new_{c}") for c, t in targets.items()
    )
    failed = {c: _present(c, df.schema[c]) & pl.col(f"__dap_new_{c}").is_null() for c in names}
    reasons = [
        pl.when(failed[c]).then(
            pl.format(
                "{}: cannot convert {} to {}",
                pl.lit(c),
                pl.col(c).cast(pl.String).str.slice(0, 80).map_elements(repr, pl.String),
                pl.lit(types[c]),
            )
        )
        for c in names
    ]
    converted = converted.with_columns(
        pl.concat_str(reasons, separator="; ", ignore_nulls=True).alias("__dap_reason")
    )
    bad_mask = pl.col("__dap_reason").is_not_null() & (pl.col("__dap_reason") != "")
    bad_rows = converted.filter(bad_mask)
    good = (
        converted.filter(~bad_mask)
        .with_columns(pl.col(f"__dap_new_{c}").alias(c) for c in names)
        .select(df.columns)
    )
    bad = _quarantine(bad_rows, df.columns, "coerce", source, run_id)
    return good, bad


def _present(column: str, dtype: pl.DataType) -> pl.Expr:
    """A value is there: not null, and for text not just whitespace (that means "missing")."""
    col = pl.col(column)
    if dtype == pl.String:
        return col.is_not_null() & (col.str.strip_chars().str.len_chars() > 0)
    return col.is_not_null()


def _quarantine(
    rows: pl.DataFrame, columns: list[str], rule: str, source: str, run_id: str
) -> pl.DataFrame:
    if rows.is_empty():
        return empty_quarantine()
    return quarantine_frame(
        rows.select(columns),
        rule=rule,
        reason=rows["__dap_reason"].to_list(),
        source=source,
        run_id=run_id,
    )


def normalize_dates(
    df: pl.DataFrame,
    columns: Columns,
    formats: Sequence[str] = (),
    *,
    to: str = "date",
    source: str = "",
    run_id: str = "",
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Parse dates written in several ways (``["%Y-%m-%d", "%d/%m/%Y"]``) into one type.

    Formats are tried in order, the first that parses wins; without formats polars infers one
    per column. ``to`` is ``date`` or ``datetime``. Rows whose text matches no format go to
    ``bad``, quarantine-shaped, never to a null.
    """
    if to not in ("date", "datetime"):
        raise DapError(f"normalize_dates to={to!r}: use date or datetime")
    names = _columns(df, columns)

    def parse(c: str) -> pl.Expr:
        if df.schema[c] != pl.String:
            return pl.col(c).cast(pl.Date if to == "date" else pl.Datetime("us"), strict=False)
        text = pl.col(c).str.strip_chars()
        if to == "date":
            tries = [text.str.to_date(f, strict=False) for f in formats] or [
                text.str.to_date(strict=False)
            ]
        else:
            tries = [text.str.to_datetime(f, time_unit="us", strict=False) for f in formats] or [
                text.str.to_datetime(time_unit="us", strict=False)
            ]
        return pl.coalesce(tries)

    parsed = df.with_columns(parse(c).alias(f"__dap_new_{c}") for c in names)
    shown = ", ".join(formats) if formats else "an inferred format"
    reasons = [
        pl.when(_present(c, df.schema[c]) & pl.col(f"__dap_new_{c}").is_null()).then(
            pl.format(
                "{}: {} matches none of {}",
                pl.lit(c),
                pl.col(c).cast(pl.String).str.slice(0, 80).map_elements(repr, pl.String),
                pl.lit(shown),
            )
        )
        for c in names
    ]
    parsed = parsed.with_columns(
        pl.concat_str(reasons, separator="; ", ignore_nulls=True).alias("__dap_reason")
    )
    bad_mask = pl.col("__dap_reason").is_not_null() & (pl.col("__dap_reason") != "")
    good = (
        parsed.filter(~bad_mask)
        .with_columns(pl.col(f"__dap_new_{c}").alias(c) for c in names)
        .select(df.columns)
    )
    return good, _quarantine(parsed.filter(bad_mask), df.columns, "normalize_dates", source, run_id)


# -- rows ---------------------------------------------------------------------------------------


def dedupe(
    df: pl.DataFrame, keys: Columns, *, keep: str = "last", order_by: Columns = ()
) -> pl.DataFrame:
    """One row per key: the ``first`` or ``last`` seen (after sorting by ``order_by``, e.g. an
    ``updated_at`` column, so "last" means the newest version of a record)."""
    names = _columns(df, keys)
    if keep not in ("first", "last"):
        raise DapError(f"dedupe keep={keep!r}: use first or last")
    if order_by:
        df = df.sort(_columns(df, order_by), maintain_order=True, nulls_last=False)
    return df.unique(subset=names, keep="first" if keep == "first" else "last", maintain_order=True)


# -- values -------------------------------------------------------------------------------------


def map_values(
    df: pl.DataFrame,
    column: str,
    mapping: Mapping[Any, Any],
    *,
    default: Any = None,
    case_insensitive: bool = False,
) -> pl.DataFrame:
    """Standardize categorical values (``{"UK": "GB", "United Kingdom": "GB"}``).

    Values not in the mapping stay as they are unless a ``default`` is given.
    ``case_insensitive`` matches text keys whatever their case and surrounding spaces.
    """
    (name,) = _columns(df, column)
    col = pl.col(name)
    if case_insensitive and df.schema[name] == pl.String:
        keys = {str(k).strip().lower(): v for k, v in mapping.items()}
        probe = col.str.strip_chars().str.to_lowercase()
    else:
        keys, probe = dict(mapping), col
    if default is None:
        mapped = probe.replace_strict(keys, default=col, return_dtype=None)
    else:
        mapped = probe.replace_strict(keys, default=pl.lit(default))
    return df.with_columns(mapped.alias(name))


def units(
    df: pl.DataFrame,
    column: str,
    from_: str,
    to: str,
    *,
    into: str | None = None,
) -> pl.DataFrame:
    """Convert a measure between units of one dimension (lb → kg, ft → m, f → c …).

    ``into`` writes the result to a new column and keeps the original.
    """
    (name,) = _columns(df, column)
    source, target = from_.strip().lower(), to.strip().lower()
    value = pl.col(name).cast(pl.Float64, strict=False)
    if source in _TEMPERATURES or target in _TEMPERATURES:
        if not (source in _TEMPERATURES and target in _TEMPERATURES):
            raise DapError(f"cannot convert {from_} to {to}: use c, f or k for temperatures")
        kelvin = {"c": value + 273.15, "f": (value - 32) * 5 / 9 + 273.15, "k": value}[source]
        result = {"c": kelvin - 273.15, "f": (kelvin - 273.15) * 9 / 5 + 32, "k": kelvin}[target]
    else:
        if source not in UNITS or target not in UNITS:
            unknown = source if source not in UNITS else target
            raise DapError(f"unknown unit {unknown!r}: use one of {', '.join(UNITS)}, c, f, k")
        (dim_a, fa), (dim_b, fb) = UNITS[source], UNITS[target]
        if dim_a != dim_b:
            raise DapError(f"cannot convert {from_} ({dim_a}) to {to} ({dim_b})")
        factor = fa / fb
        result = value * factor if not math.isclose(factor, 1.0) else value
    return df.with_columns(result.alias(into or name))


def rename(df: pl.DataFrame, columns: Mapping[str, str]) -> pl.DataFrame:
    """Rename columns (``{"cust_id": "customer_id"}``)."""
    _columns(df, list(columns))
    return df.rename(dict(columns))


def drop(df: pl.DataFrame, columns: Columns) -> pl.DataFrame:
    """Drop columns the target should not hold."""
    return df.drop(_columns(df, columns))


# -- enrichment ---------------------------------------------------------------------------------


def lookup(
    df: pl.DataFrame,
    table: pl.DataFrame,
    on: str | Sequence[str] | Mapping[str, str],
    columns: Sequence[str] = (),
) -> pl.DataFrame:
    """Enrich rows with columns of a reference table, joined on keys (a left join).

    ``on`` is a column name, a list of names, or ``{left: right}`` when they differ. Rows with
    no match keep nulls in the new columns. A reference table with a key twice is an error:
    it would silently multiply rows.
    """
    if isinstance(on, str):
        pairs = {on: on}
    elif isinstance(on, Mapping):
        pairs = dict(on)
    else:
        pairs = {k: k for k in on}
    _columns(df, list(pairs))
    _columns(table, list(pairs.values()))
    wanted = list(columns) or [c for c in table.columns if c not in pairs.values()]
    _columns(table, wanted)
    clash = [c for c in wanted if c in df.columns]
    if clash:
        raise SchemaMismatch(
            f"lookup would overwrite column {', '.join(clash)}: rename it first or pick others"
        )
    right = table.select([*pairs.values(), *wanted])
    dupes = right.select(list(pairs.values())).is_duplicated().sum()
    if dupes:
        raise DapError(
            f"lookup keys {', '.join(pairs.values())} are not unique in the reference table "
            f"({dupes} rows share a key): every row would be multiplied"
        )
    # Keys of different integer/text types still match: compare them as the left side's type.
    right = right.with_columns(
        pl.col(r).cast(df.schema[left], strict=False) for left, r in pairs.items()
    )
    return df.join(
        right,
        left_on=list(pairs),
        right_on=list(pairs.values()),
        how="left",
        maintain_order="left",
        coalesce=True,
    )


def derive(df: pl.DataFrame, expressions: Mapping[str, str]) -> pl.DataFrame:
    """Add (or replace) columns computed from SQL expressions (``{"total": "qty * price"}``).

    Expressions are evaluated by polars, row by row, in the order given, so a later one may use
    an earlier one. They cannot read files or other tables.
    """
    for name, text in expressions.items():
        try:
            expr = pl.sql_expr(text)
            df = df.with_columns(expr.alias(name))
        except (pl.exceptions.PolarsError, ValueError) as e:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise DapError(f"derive {name} = {text!r} failed: {reason}") from e
    return df
