"""Exposure logging: the assignments of a set of units, written into a lake table.

:func:`log_exposures` builds one ``CREATE TABLE … AS SELECT`` (or ``INSERT INTO … SELECT``
with ``mode="append"``) whose SELECT computes each unit's variant in the engine with the same
hash as Python (:mod:`.assignment`), and hands it to the caller's session. That is the normal
governed write path (:mod:`dap_kernel.writes`): the caller needs CREATE (or MODIFY) on the
target, the SELECT is governed like any query (the table holds only units the caller may
read), the write is one Delta commit, and lineage and audit record it.

The table has ``<unit>``, ``variant``, ``exposed_at`` and ``experiment`` columns, so one
table can hold the exposures of several experiments.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlglot import exp

from ..lake import split_name
from ..sqlbuild import DIALECT, column_ref, literal
from ..stats.source import Queries, client
from .assignment import variant_sql
from .definition import Experiment
from .errors import ExperimentError, InvalidExperiment
from .metrics import source_tree

MODES = ("create", "replace", "append")


def exposure_select(
    experiment: Experiment,
    units_source: str,
    *,
    exposed_at: str | None = None,
    keep: Sequence[str] = (),
) -> exp.Select:
    """``SELECT unit, <variant>, exposed_at, experiment[, keep…] FROM (units_source)``, one row
    per unit; ``exposed_at`` is a column of the source (its first value), or the experiment's
    start, or now. ``keep`` names columns of the source to carry along (a region or segment to
    slice by, or for a row filter to act on); a unit's first value of each is kept."""
    unit = column_ref(experiment.unit, "src")
    when: exp.Expr
    if exposed_at is not None:
        when = exp.Min(this=column_ref(exposed_at, "src"))
    elif experiment.start is not None:
        when = literal(experiment.start)
    else:
        when = exp.CurrentTimestamp()
    when = exp.Cast(this=when, to=exp.DataType.build("TIMESTAMP"))
    return (
        exp.select(
            exp.alias_(unit.copy(), experiment.unit, quoted=True),
            exp.alias_(variant_sql(experiment, unit.copy()), "variant", quoted=True),
            exp.alias_(when, "exposed_at", quoted=True),
            exp.alias_(literal(experiment.name), "experiment", quoted=True),
            *[
                exp.alias_(exp.Min(this=column_ref(c, "src")), c, quoted=True)
                for c in _kept(keep, experiment)
            ],
        )
        .from_(source_tree(units_source, "src"))
        .where(exp.Not(this=exp.Is(this=unit.copy(), expression=exp.Null())))
        .group_by(exp.Literal.number(1))
    )


def _kept(keep: Sequence[str], experiment: Experiment) -> list[str]:
    if isinstance(keep, str):
        keep = (keep,)
    reserved = {experiment.unit, "variant", "exposed_at", "experiment"}
    for c in keep:
        if not isinstance(c, str) or not c or c in reserved:
            raise ExperimentError(f"keep= names other columns of the units, not {c!r}")
    return list(dict.fromkeys(keep))


def log_exposures(
    experiment: Experiment,
    units_source: str,
    into: str,
    *,
    exposed_at: str | None = None,
    keep: Sequence[str] = (),
    mode: str = "create",
    session: Queries | None = None,
) -> Any:
    """Write the variants of ``units_source``'s units (a table or SELECT with the experiment's
    unit column) into the lake table ``into``; returns the write's query result.

    ``mode``: ``create`` (fails if the table exists), ``replace`` or ``append``.
    """
    if not isinstance(experiment, Experiment):
        raise InvalidExperiment("log_exposures() takes an Experiment")
    if mode not in MODES:
        raise ExperimentError(f"mode {mode!r}: one of {', '.join(MODES)}")
    if not isinstance(into, str) or not into.strip():
        raise ExperimentError("into= names the table to write, e.g. 'main.experiment_exposures'")
    schema, name = split_name(into.strip())
    target = exp.Table(
        this=exp.to_identifier(name, quoted=True), db=exp.to_identifier(schema, quoted=True)
    )
    select = exposure_select(experiment, units_source, exposed_at=exposed_at, keep=keep)
    statement: exp.Expr
    if mode == "append":
        statement = exp.Insert(this=target, expression=select)
    else:
        statement = exp.Create(
            this=target, kind="TABLE", expression=select, replace=mode == "replace"
        )
    return client(session).query(statement.sql(dialect=DIALECT))
