"""Scoring with a registered model: a governed query in batch (``dap.ml.predict``), or rows the
caller sends (the REST door, :func:`score_rows`).

Both check the caller's ``SELECT`` on ``model:NAME`` (or ownership) first. Batch rows come
through the caller's governed session like training rows, so an analyst scores only the rows
they may read, as they see them; ``into="schema.table"`` writes the scored frame as a lake
table through the ordinary governed write (``CREATE TABLE … AS SELECT`` over the frame given as
the statement's own input): the caller needs CREATE on the schema, the commit is audited.
Rows sent over REST are the caller's own; nothing else is read.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from ..sqlbuild import DIALECT, SqlBuildError, parse_table
from .data import ModelSession, read, session_of
from .errors import MLError
from .features import to_pandas
from .registry import resolve
from .tracking import VersionInfo, active, load_pipeline, store_for

if TYPE_CHECKING:
    from .results import TrainedModel

INPUT_NAME = "dap_scored"  # the scored frame's name inside the CREATE TABLE statement
MAX_REST_ROWS = 10_000


def _reference(model: str | TrainedModel) -> str:
    if isinstance(model, str):
        return model
    reference = getattr(model, "reference", None)
    if not reference:
        raise MLError("this model is not registered: train it with name=… to score with it")
    return str(reference)


def loaded(model: str | TrainedModel, session: ModelSession) -> tuple[VersionInfo, Any]:
    """The version a reference names and its fitted pipeline, for a caller who may use it."""
    info = resolve(_reference(model), session)
    store = store_for(session)
    with active(store) as mlflow:
        return info, load_pipeline(mlflow, store, info.name, info.version)


def _scores(info: VersionInfo, pipeline: Any, features: Any) -> dict[str, list[Any]]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predicted = pipeline.predict(features)
        out: dict[str, list[Any]] = {}
        if info.task == "classification":
            out["prediction"] = [str(v) for v in predicted]
            if len(info.classes) == 2 and hasattr(pipeline, "predict_proba"):
                classes = [str(c) for c in pipeline.classes_]
                positive = classes.index(info.classes[1])
                out["probability"] = [
                    float(p) for p in pipeline.predict_proba(features)[:, positive]
                ]
        else:
            out["prediction"] = [float(v) for v in predicted]
    return out


def predict(
    model: str | TrainedModel,
    source: str,
    *,
    into: str | None = None,
    mode: str = "create",
    params: Mapping[str, Any] | None = None,
    session: ModelSession | None = None,
) -> pl.DataFrame:
    """Score the caller's governed rows of ``source`` with ``model`` (``name``,
    ``name@champion``, ``models:/name@champion``, ``name/3`` or a registered result).

    Returns the rows with a ``prediction`` column (and ``probability`` of the positive class
    for a two-class model). ``into`` also writes them to a lake table (``mode="append"`` adds
    to an existing one).
    """
    governed = session_of(session)
    if mode not in ("create", "append"):
        raise MLError("mode is 'create' or 'append'")
    info, pipeline = loaded(model, governed)
    data = read(source, governed, params)
    features = to_pandas(data.frame, info.columns)
    scored = data.frame.with_columns(
        [pl.Series(k, v) for k, v in _scores(info, pipeline, features).items()]
    )
    if into is not None:
        write(scored, into, mode, governed)
    return scored


def write(scored: pl.DataFrame, into: str, mode: str, session: ModelSession) -> None:
    """The scored frame as a lake table, by the governed write path."""
    try:
        table = parse_table(into).sql(dialect=DIALECT)
    except SqlBuildError as e:
        raise MLError(f"into: {e.message}") from None
    if "inputs" not in inspect.signature(session.query).parameters:
        raise MLError("writing scores into a table needs a session that takes input tables")
    verb = f"CREATE TABLE {table} AS" if mode == "create" else f"INSERT INTO {table}"
    statement = f'{verb} SELECT * FROM "{INPUT_NAME}"'
    session.query(statement, None, inputs={INPUT_NAME: scored})  # type: ignore[call-arg]


def score_rows(
    reference: str, rows: Sequence[Mapping[str, Any]], session: ModelSession
) -> dict[str, Any]:
    """Predictions for rows the caller sends (JSON objects by column name): the REST door."""
    if not isinstance(rows, Sequence) or not all(isinstance(r, Mapping) for r in rows):
        raise MLError("rows is a list of objects, one per row, keyed by column name")
    if len(rows) > MAX_REST_ROWS:
        raise MLError(f"at most {MAX_REST_ROWS:,} rows per request: score more in batch")
    info, pipeline = loaded(reference, session)
    missing = sorted({c for c in info.columns for r in rows if c not in r})
    if missing:
        raise MLError(f"each row needs the model's columns; missing {', '.join(missing[:5])}")
    import pandas as pd

    features = pd.DataFrame(
        [{c: r[c] for c in info.columns} for r in rows], columns=list(info.columns)
    )
    scores = _scores(info, pipeline, features) if rows else {"prediction": []}
    return {"model": info.name, "version": info.version, **scores}
