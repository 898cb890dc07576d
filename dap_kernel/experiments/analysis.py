"""Analyse an experiment on governed data: one summary statement, numbers from the sums.

:func:`analyze` reads the exposures (a lake table or SELECT with the unit, the variant and,
optionally, the first exposure time) and each :class:`~.metrics.Metric` through the caller's
session, so an analyst with a row filter analyses their units only and nothing they may not
read reaches the answer. The engine returns per-variant sufficient statistics for every metric
in one statement (:mod:`.summary`); the estimates,
intervals, p-values, corrections across metrics and the sample-ratio check come from
:mod:`.stats_engine`.

>>> exp = Experiment("checkout", unit="customer_id")  # doctest: +SKIP
>>> analyze(exp, [Metric("orders", sql="SELECT customer_id AS unit, 1 AS value FROM orders")],
...         exposures="experiment_exposures")  # doctest: +SKIP
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import dap_kernel.experiments.stats_engine as se

from ..sqlbuild import DIALECT
from ..stats.source import Queries, client
from .definition import Experiment
from .errors import ExperimentError, InvalidExperiment, InvalidMetric, NotEnoughData
from .metrics import Metric, exposure_counts, source_tree
from .results import ExperimentResult, MetricResult
from .summary import summary_query

CORRECTIONS = ("holm", "bh", "none")


def _probe(source: str, session: Queries) -> list[str]:
    """The columns the caller sees of ``source`` (a ``LIMIT 0`` statement: no rows)."""
    from sqlglot import exp

    query = exp.select(exp.Star()).from_(source_tree(source, "x")).limit(0)
    return list(session.query(query.sql(dialect=DIALECT)).table.schema.names)


def _of_experiment(exposures: str, name: str) -> str:
    """``SELECT * FROM (exposures) WHERE experiment = name`` (the name written by sqlglot)."""
    from sqlglot import exp

    from ..sqlbuild import column_ref, literal

    query = (
        exp.select(exp.Star())
        .from_(source_tree(exposures, "x"))
        .where(exp.EQ(this=column_ref("experiment", "x"), expression=literal(name)))
    )
    return query.sql(dialect=DIALECT)


def _of(row: Mapping[str, Any], k: int) -> dict[str, Any]:
    """Metric ``k``'s sums in a summary row, under the names :func:`_stats_of` reads."""
    prefix = f"{k}_"
    out = {key[len(prefix) :]: value for key, value in row.items() if key.startswith(prefix)}
    out["n"] = row["n"]
    return out


def _counts(
    session: Queries, exposures: str, experiment: Experiment, variant: str, unique: bool
) -> tuple[dict[str, int], int]:
    """Units per variant name and units in two variants: the exact count, run only when the
    exposures hold a variant name the experiment lacks (to name it)."""
    query = exposure_counts(exposures, experiment.unit, variant, unique=unique)
    per_variant = {
        r["v"]: int(r["n"]) for r in session.query(query.sql(dialect=DIALECT)).table.to_pylist()
    }
    mixed = per_variant.pop(None, 0)
    return per_variant, mixed


def _need_column(columns: Sequence[str], name: str, what: str) -> None:
    if name not in columns:
        close = difflib.get_close_matches(name, list(columns), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InvalidMetric(f"{what} has no column {name!r}{hint}")


def _stats_of(metric: Metric, row: Mapping[str, Any]) -> se.Stats:
    n = int(row["n"])

    def f(key: str) -> float:
        value = row.get(key)
        return 0.0 if value is None else float(value)

    post: se.MeanStats | se.ProportionStats
    if metric.kind == "proportion":
        post = se.ProportionStats(n, f("s"))
    else:
        post = se.MeanStats(n, f("s"), f("ss"))
    if metric.kind == "ratio":
        return se.RatioStats(
            n, se.MeanStats(n, f("s"), f("ss")), se.MeanStats(n, f("ds"), f("dss")), f("yd")
        )
    if metric.pre_sql is not None:
        pre: se.MeanStats | se.ProportionStats
        if metric.kind == "proportion":
            pre = se.ProportionStats(n, f("xs"))
        else:
            pre = se.MeanStats(n, f("xs"), f("xss"))
        return se.CupedStats(n, post, pre, f("yx"))
    return post


def _compare(
    metric: Metric,
    control: str,
    variant: str,
    a: se.Stats,
    b: se.Stats,
    *,
    alpha: float,
    sequential: bool,
    tuning: float,
) -> MetricResult:
    variance_reduction = None
    if isinstance(a, se.CupedStats) and isinstance(b, se.CupedStats):
        plain = se.effect(a.post, b.post, relative=False)
        a, b = se.cuped_pair(a, b)
    absolute = se.effect(a, b, relative=False)
    relative = se.effect(a, b, relative=True)
    if isinstance(a, se.CupedStats):
        variance_reduction = 1 - absolute.se**2 / plain.se**2 if plain.se > 0 else 0.0
    if sequential:
        diff_ci = se.sequential_interval(absolute, alpha, tuning)
        lift_ci = se.sequential_interval(relative, alpha, tuning)
        pvalue = se.sequential_pvalue(absolute, alpha, tuning)
        test = "sequential (always-valid) t"
    else:
        diff_ci, lift_ci = absolute.interval(alpha), relative.interval(alpha)
        if isinstance(a, se.ProportionStats) and isinstance(b, se.ProportionStats):
            _, pvalue = se.proportions_z(a, b)
            test = "two-proportion z-test"
        else:
            pvalue = absolute.pvalue()
            test = "Welch t-test" + (" (CUPED)" if variance_reduction is not None else "")
    chance = se.chance_to_beat_control(relative)
    if not metric.higher_is_better:
        chance = 1 - chance
    mean_a = a.unadjusted_mean if isinstance(a, se.CupedStats) else a.mean
    mean_b = b.unadjusted_mean if isinstance(b, se.CupedStats) else b.mean
    return MetricResult(
        metric=metric.name,
        kind=metric.kind,
        variant=variant,
        control=control,
        control_n=a.n,
        treatment_n=b.n,
        control_mean=mean_a,
        treatment_mean=mean_b,
        difference=absolute.estimate,
        difference_ci=diff_ci,
        lift=relative.estimate,
        lift_ci=lift_ci,
        pvalue=pvalue,
        adjusted_pvalue=pvalue,
        chance_to_beat_control=chance,
        test=test,
        cuped=variance_reduction is not None,
        variance_reduction=variance_reduction,
        sequential=sequential,
        higher_is_better=metric.higher_is_better,
    )


def analyze(
    experiment: Experiment,
    metrics: Sequence[Metric] | Metric,
    *,
    exposures: str,
    variant_column: str = "variant",
    exposed_at: str | None = "exposed_at",
    alpha: float = 0.05,
    correction: str = "holm",
    sequential: bool = False,
    sequential_tuning: float = se.SEQUENTIAL_TUNING,
    unique_exposures: bool = False,
    session: Queries | None = None,
) -> ExperimentResult:
    """Compare every treatment with the control on every metric.

    ``exposures`` is a table or SELECT with ``experiment.unit``, ``variant_column`` and (when
    present) ``exposed_at``; a metric with ``timestamp=`` counts rows from each unit's first
    exposure on. ``correction`` (``holm``, ``bh`` or ``none``) adjusts each treatment's
    p-values across the metrics. ``sequential=True`` gives always-valid intervals and p-values
    (safe to look at every day); the default is the fixed-horizon analysis.
    ``unique_exposures=True`` trusts the exposures to hold one row per unit (as
    :func:`~.exposures.log_exposures` writes them) and skips their per-unit GROUP BY; units in
    several variants are then not detected. All metrics are summarised in one statement
    (``result.sql``): metrics over the same rows share one scan (see :mod:`.summary`).
    """
    if not isinstance(experiment, Experiment):
        raise InvalidExperiment("analyze() takes an Experiment")
    metric_list = [metrics] if isinstance(metrics, Metric) else list(metrics)
    if not metric_list or not all(isinstance(m, Metric) for m in metric_list):
        raise InvalidMetric("give one or more Metric(…) to analyse")
    names = [m.name for m in metric_list]
    if len(set(names)) != len(names):
        raise InvalidMetric("metric names must be unique")
    if correction not in CORRECTIONS:
        raise ExperimentError(f"correction {correction!r}: one of {', '.join(CORRECTIONS)}")
    if not 0 < alpha < 0.5:
        raise ExperimentError("alpha lies between 0 and 0.5")
    session = client(session)

    columns = _probe(exposures, session)
    _need_column(columns, experiment.unit, "the exposures")
    _need_column(columns, variant_column, "the exposures")
    timed_col = exposed_at if exposed_at is not None and exposed_at in columns else None
    if "experiment" in columns:  # a table of several experiments' exposures (log_exposures)
        exposures = _of_experiment(exposures, experiment.name)

    query = summary_query(
        metric_list,
        exposures,
        experiment.unit,
        experiment.variants,
        variant=variant_column,
        exposed_at=timed_col,
        unique_exposures=unique_exposures,
    )
    res = session.query(query.sql(dialect=DIALECT))
    statements = [res.sql]
    by_code = {r["c"]: r for r in res.table.to_pylist()}
    mixed = int(by_code.pop(None, {"n": 0})["n"])
    if -1 in by_code:  # names the experiment lacks: their names, from the exact count
        per_variant, mixed = _counts(
            session, exposures, experiment, variant_column, unique_exposures
        )
        unknown = sorted(set(per_variant) - set(experiment.variants))
        if unknown:
            raise InvalidExperiment(
                f"the exposures name variants {experiment.name!r} does not have: "
                f"{', '.join(unknown)}"
            )
    rows = {experiment.variants[c]: r for c, r in by_code.items() if c is not None and c >= 0}
    units = tuple(int(rows[v]["n"]) if v in rows else 0 for v in experiment.variants)
    srm = se.srm_pvalue(units, experiment.weights)
    if units[0] < 2:
        raise NotEnoughData(f"the control {experiment.control!r} has {units[0]} exposed units")

    results: list[MetricResult] = []
    for k, metric in enumerate(metric_list):
        if experiment.control not in rows:
            raise NotEnoughData(f"metric {metric.name!r}: no control units")
        control = _stats_of(metric, _of(rows[experiment.control], k))
        for variant in experiment.treatments:
            if variant not in rows:
                raise NotEnoughData(f"metric {metric.name!r}: no units in {variant!r}")
            results.append(
                _compare(
                    metric,
                    experiment.control,
                    variant,
                    control,
                    _stats_of(metric, _of(rows[variant], k)),
                    alpha=alpha,
                    sequential=sequential,
                    tuning=sequential_tuning,
                )
            )

    adjusted = _adjust(results, correction)
    return ExperimentResult(
        experiment=experiment.name,
        variants=experiment.variants,
        units=units,
        expected_weights=experiment.weights,
        srm_pvalue=srm,
        mixed_units=mixed,
        metrics=tuple(adjusted),
        alpha=alpha,
        correction=correction,
        sql=tuple(statements),
    )


def _adjust(results: list[MetricResult], correction: str) -> list[MetricResult]:
    """Adjust p-values across metrics, separately for each treatment variant."""
    from dataclasses import replace

    out = list(results)
    for variant in dict.fromkeys(r.variant for r in results):
        idx = [i for i, r in enumerate(results) if r.variant == variant]
        ps = [results[i].pvalue for i in idx]
        ps = [math.nan if p is None else p for p in ps]
        for i, p in zip(idx, se.adjust(ps, correction), strict=True):
            out[i] = replace(results[i], adjusted_pvalue=p)
    return out
