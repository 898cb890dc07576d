"""A run's transform steps: cleanse operations, governed SQL over the batch, Python functions.

A SQL step reads the batch as ``input`` and any catalog table the caller may read (row filters
and masks apply); its column lineage is followed when sqlglot can.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from .. import cleanse
from ..catalog import split_name
from ..errors import DapError
from .batch import _Batch
from .extraction import _polars
from .spec import CleanseStep, PipelineSpecError, Transform

if TYPE_CHECKING:
    from ..session import Session


def transform(
    session: Session, batch: _Batch, step: Transform, *, run_id: str, target: str
) -> None:
    """Apply one transform step to the batch in place."""
    if step.cleanse is not None:
        for item in step.cleanse:
            _cleanse(session, batch, item, run_id)
    elif step.sql:
        _sql(session, batch, step.sql, target)
    else:
        batch.frame = _call_python(step.python, batch.frame)


def _cleanse(session: Session, batch: _Batch, step: CleanseStep, run_id: str) -> None:
    a = step.args
    df = batch.frame
    source = batch.source
    if step.op in ("trim", "lower", "upper", "title", "drop"):
        batch.frame = getattr(cleanse, step.op)(df, a.columns)
    elif step.op == "coerce":
        batch.frame, bad = cleanse.coerce(df, a.types, source=source, run_id=run_id)
        batch.bad.append(bad)
    elif step.op == "normalize_dates":
        batch.frame, bad = cleanse.normalize_dates(
            df, a.columns, a.formats, to=a.to, source=source, run_id=run_id
        )
        batch.bad.append(bad)
    elif step.op == "dedupe":
        batch.frame = cleanse.dedupe(df, a.keys, keep=a.keep, order_by=a.order_by)
    elif step.op == "units":
        batch.frame = cleanse.units(df, a.column, a.from_, a.to, into=a.into)
    elif step.op == "map_values":
        batch.frame = cleanse.map_values(
            df, a.column, a.mapping, default=a.default, case_insensitive=a.case_insensitive
        )
    elif step.op == "lookup":
        schema, table = split_name(a.table)
        reference = session.sql(f'SELECT * FROM "{schema}"."{table}"')  # governed
        batch.frame = cleanse.lookup(df, reference, a.on, a.columns)
        batch.sources.append(f"{schema}.{table}")
    elif step.op == "derive":
        batch.frame = cleanse.derive(df, a.expressions)
    elif step.op == "rename":
        batch.frame = cleanse.rename(df, a.columns)
    else:  # pragma: no cover - the spec only admits the operations above
        raise PipelineSpecError(f"unknown cleanse step {step.op}")


def _sql(session: Session, batch: _Batch, sql: str, target: str) -> None:
    """A governed statement over the batch (``input``) and the catalog tables it may read."""
    result = session.query(sql, inputs={"input": batch.frame})
    batch.frame = result.to_polars()
    batch.sources.extend(t for t in result.tables if t not in batch.sources)
    try:
        from ..lineage import sql_lineage

        sources, edges = sql_lineage(sql, target, inputs={"input": batch.source or "input"})
        if batch.source:  # `input` stands for the extracted source, already a source
            sources = [s for s in sources if s != batch.source]
    except (ImportError, DapError):
        return  # lineage is best effort: a statement sqlglot cannot follow still ran
    batch.sources.extend(s for s in sources if s not in batch.sources)
    batch.columns.extend(edges)


def _call_python(target: str | Callable[..., Any] | None, frame: pl.DataFrame) -> pl.DataFrame:
    fn = target if callable(target) else _import(str(target))
    result = fn(frame)
    if isinstance(result, pa.Table):
        result = _polars(result)
    if not isinstance(result, pl.DataFrame):
        raise DapError(
            f"python step {_describe(fn)} returned {type(result).__name__}, not a polars DataFrame"
        )
    return result


def _describe(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"


def _import(path: str) -> Callable[..., Any]:
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise PipelineSpecError(f"python step {path}: cannot import {module_name} ({e})") from e
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise PipelineSpecError(f"python step {path}: {module_name} has no function {attr}")
    return fn  # type: ignore[no-any-return]
