"""An experiment analysed on governed data: the engine's sufficient statistics give the same
answers as scipy and statsmodels on the rows the caller may see, and nothing more."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from dap_kernel.errors import DapError
from dap_kernel.experiments import (
    Experiment,
    InvalidExperiment,
    InvalidMetric,
    Metric,
    NotEnoughData,
    analyze,
    assign_many,
    log_exposures,
)
from tests.experiments.conftest import EXPERIMENT, START, Lab

POST = Metric("post", sql="SELECT customer_id AS unit, post AS value FROM activity")
CUPED = Metric(
    "post_cuped",
    sql="SELECT customer_id AS unit, post AS value FROM activity",
    pre_sql="SELECT customer_id AS unit, pre AS value FROM activity",
)
CONVERTED = Metric(
    "converted",
    sql="SELECT customer_id AS unit, CAST(converted AS INT) AS value FROM activity",
    kind="proportion",
)
AOV = Metric(
    "revenue_per_order",
    sql="SELECT customer_id AS unit, revenue AS value, orders AS denominator FROM activity",
    kind="ratio",
)
METRICS = [POST, CUPED, CONVERTED, AOV]


def visible(lab: Lab, region: str | None) -> pl.DataFrame:
    frame = lab.activity.with_columns(
        pl.Series("variant", assign_many(EXPERIMENT, lab.activity["customer_id"].to_list()))
    )
    return frame if region is None else frame.filter(pl.col("region") == region)


def test_engine_analysis_equals_scipy_and_statsmodels(lab: Lab) -> None:
    from scipy import stats as sps
    from statsmodels.stats.proportion import proportions_ztest

    result = analyze(EXPERIMENT, METRICS, exposures="exposures", session=lab.session())
    rows = visible(lab, None)
    c, t = (rows.filter(pl.col("variant") == v) for v in ("control", "treatment"))
    assert result.units == (c.height, t.height) and result.mixed_units == 0

    post = result["post"]
    ref = sps.ttest_ind(t["post"].to_numpy(), c["post"].to_numpy(), equal_var=False)
    assert post.pvalue == pytest.approx(ref.pvalue, abs=1e-9)
    assert post.difference == pytest.approx(t["post"].mean() - c["post"].mean(), rel=1e-9)
    assert post.difference_ci == pytest.approx(tuple(ref.confidence_interval()), rel=1e-9)
    assert post.lift == pytest.approx(post.difference / c["post"].mean(), rel=1e-9)
    assert post.test == "Welch t-test" and post.pvalue < 0.001  # the effect is real

    conv = result["converted"]
    _, p = proportions_ztest([t["converted"].sum(), c["converted"].sum()], [t.height, c.height])
    assert conv.pvalue == pytest.approx(p, abs=1e-9)
    assert conv.test == "two-proportion z-test"

    aov = result["revenue_per_order"]
    assert aov.control_mean == pytest.approx(c["revenue"].sum() / c["orders"].sum(), rel=1e-9)
    assert aov.treatment_mean == pytest.approx(t["revenue"].sum() / t["orders"].sum(), rel=1e-9)

    cuped = result["post_cuped"]
    x, y = rows["pre"].to_numpy(), rows["post"].to_numpy()
    treat = (rows["variant"] == "treatment").to_numpy()
    theta = np.cov(y, x, ddof=1)[0, 1] / x.var(ddof=1)
    adjusted = y - theta * (x - x.mean())
    assert cuped.difference == pytest.approx(
        adjusted[treat].mean() - adjusted[~treat].mean(), rel=1e-9
    )
    assert cuped.variance_reduction is not None and cuped.variance_reduction > 0.3
    width = cuped.difference_ci[1] - cuped.difference_ci[0]
    assert width < 0.85 * (post.difference_ci[1] - post.difference_ci[0])

    # Holm across the four metrics, as statsmodels computes it
    from statsmodels.stats.multitest import multipletests

    raw = [m.pvalue for m in result.metrics]
    assert [m.adjusted_pvalue for m in result.metrics] == pytest.approx(
        list(multipletests(raw, method="holm")[1]), abs=1e-12
    )
    bh = analyze(EXPERIMENT, METRICS, exposures="exposures", correction="bh", session=lab.session())
    assert [m.adjusted_pvalue for m in bh.metrics] == pytest.approx(
        list(multipletests(raw, method="fdr_bh")[1]), abs=1e-12
    )
    # only aggregates left the engine: one statement, one row per variant
    assert len(result.sql) == 1
    assert all("GROUP BY" in s.upper() for s in result.sql)


def test_a_row_filtered_analyst_analyses_only_their_units(governed_lab: Lab) -> None:
    from scipy import stats as sps

    ann = analyze(
        EXPERIMENT, [POST, CUPED], exposures="exposures", session=governed_lab.session("ann")
    )
    raj = analyze(EXPERIMENT, [POST], exposures="exposures", session=governed_lab.session("raj"))
    mine = visible(governed_lab, "EMEA")
    c, t = (mine.filter(pl.col("variant") == v) for v in ("control", "treatment"))
    assert ann.units == (c.height, t.height)
    assert sum(ann.units) + sum(raj.units) == governed_lab.activity.height
    ref = sps.ttest_ind(t["post"].to_numpy(), c["post"].to_numpy(), equal_var=False)
    assert ann["post"].pvalue == pytest.approx(ref.pvalue, abs=1e-9)
    assert ann["post"].control_mean == pytest.approx(c["post"].mean(), rel=1e-9)
    # a metric SQL that tries to widen the view is rewritten like any query
    sneaky = Metric(
        "post",
        sql="SELECT customer_id AS unit, post AS value FROM activity"
        " WHERE true OR region <> 'EMEA'",
    )
    again = analyze(
        EXPERIMENT,
        sneaky,
        exposures="SELECT * FROM exposures WHERE 1=1 OR true",
        session=governed_lab.session("ann"),
    )
    assert again.units == ann.units
    assert again["post"].control_mean == pytest.approx(ann["post"].control_mean, rel=1e-12)
    with pytest.raises(DapError):  # bob has no grant: an error, never numbers
        analyze(EXPERIMENT, [POST], exposures="exposures", session=governed_lab.session("bob"))


def test_exposures_are_logged_with_the_python_assignment(lab: Lab) -> None:
    s = lab.session()
    logged = s.sql(
        "SELECT customer_id, variant, exposed_at, experiment, region FROM exposures ORDER BY 1"
    )
    assert logged.height == lab.users.height
    assert logged["variant"].to_list() == assign_many(EXPERIMENT, logged["customer_id"].to_list())
    assert set(logged["experiment"]) == {"new_checkout"}
    assert logged["exposed_at"].to_list() == lab.users.sort("customer_id")["seen_at"].to_list()
    # append another experiment's exposures into the same table (default time: its start)
    other = Experiment("other", unit="customer_id", start=START)
    log_exposures(
        other,
        "SELECT customer_id, region FROM users WHERE customer_id <= 10",
        into="main.exposures",
        mode="append",
        keep=("region",),
        session=s,
    )
    both = s.sql("SELECT experiment, count(*) AS n FROM exposures GROUP BY 1 ORDER BY 1")
    assert both.rows() == [("new_checkout", lab.users.height), ("other", 10)]
    # each analysis reads its own experiment's exposures from the shared table
    assert sum(analyze(other, POST, exposures="exposures", session=s).units) == 10
    assert sum(analyze(EXPERIMENT, POST, exposures="exposures", session=s).units) == 4000
    with pytest.raises(DapError):  # create refuses to overwrite an existing table
        log_exposures(other, "users", into="main.exposures", session=s)


def test_a_governed_writer_logs_only_the_units_they_see(governed_lab: Lab) -> None:
    admin = governed_lab.ws.admin("tester")
    admin.grant("SELECT", "main.users", "user", "ann")
    admin.add_row_filter("main.users", "region = current_user_attr('region')")
    ann = governed_lab.session("ann")
    with pytest.raises(DapError):  # no CREATE on the schema yet
        log_exposures(EXPERIMENT, "users", into="main.ann_exposures", keep=("region",), session=ann)
    admin.grant("CREATE", "main", "user", "ann")
    log_exposures(EXPERIMENT, "users", into="main.ann_exposures", keep=("region",), session=ann)
    got = governed_lab.session().sql("SELECT DISTINCT region FROM ann_exposures")
    assert got["region"].to_list() == ["EMEA"]


def test_timestamped_metric_counts_only_rows_after_exposure(lab: Lab) -> None:
    # every unit's "event" at START + 5 days; units seen later than that get 0
    timed = Metric(
        "post_after",
        sql="SELECT customer_id AS unit, post AS value,"
        " TIMESTAMP '2026-03-06 00:00:00' AS ts FROM activity",
        timestamp="ts",
    )
    result = analyze(EXPERIMENT, timed, exposures="exposures", session=lab.session())
    users = lab.users.join(lab.activity, on="customer_id")
    cutoff = START.replace(day=6)
    value = users.with_columns(
        pl.when(pl.col("seen_at") <= cutoff).then(pl.col("post")).otherwise(0.0).alias("y"),
        pl.Series("variant", assign_many(EXPERIMENT, users["customer_id"].to_list())),
    )
    want = value.filter(pl.col("variant") == "control")["y"].mean()
    assert result["post_after"].control_mean == pytest.approx(want, rel=1e-9)


def test_sample_ratio_mismatch_is_flagged(lab: Lab) -> None:
    s = lab.session()
    # drop 15% of the treatment's exposures: a broken logging path
    s.query(
        "CREATE TABLE main.broken AS SELECT * FROM exposures "
        "WHERE variant = 'control' OR customer_id % 7 <> 0"
    )
    result = analyze(EXPERIMENT, POST, exposures="broken", session=s)
    assert result.srm and result.srm_pvalue < 0.001
    assert "Sample ratio mismatch" in result._repr_html_()
    healthy = analyze(EXPERIMENT, POST, exposures="exposures", session=s)
    assert not healthy.srm and "Sample ratio mismatch" not in healthy._repr_html_()


def test_sequential_analysis_is_wider_and_valid(lab: Lab) -> None:
    fixed = analyze(EXPERIMENT, POST, exposures="exposures", session=lab.session())["post"]
    seq = analyze(EXPERIMENT, POST, exposures="exposures", sequential=True, session=lab.session())[
        "post"
    ]
    assert seq.sequential and seq.test.startswith("sequential")
    assert seq.lift_ci[0] < fixed.lift_ci[0] and seq.lift_ci[1] > fixed.lift_ci[1]
    assert seq.pvalue >= fixed.pvalue


def test_result_table_and_forest_plot(lab: Lab) -> None:
    result = analyze(EXPERIMENT, METRICS, exposures="exposures", session=lab.session())
    page = result._repr_html_()
    for text in (
        "post_cuped",
        "revenue_per_order",
        "chance to beat control",
        "adjusted p",
        "CUPED",
    ):
        assert text in page
    fig = result.plot()
    assert len(fig.data) == 1 and list(fig.data[0].y) == [m.metric for m in result.metrics]
    assert result.to_polars().height == len(METRICS)


def test_three_variants_and_mistakes(lab: Lab) -> None:
    s = lab.session()
    three = Experiment(
        "three", variants=("c", "a", "b"), weights=(0.4, 0.3, 0.3), unit="customer_id"
    )
    log_exposures(three, "users", into="main.three", session=s)
    result = analyze(three, [POST, CONVERTED], exposures="three", session=s)
    assert [(m.metric, m.variant) for m in result.metrics] == [
        ("post", "a"),
        ("post", "b"),
        ("converted", "a"),
        ("converted", "b"),
    ]
    assert all(m.control == "c" for m in result.metrics)
    assert sum(result.units) == lab.users.height and not result.srm
    with pytest.raises(NotEnoughData):  # the table holds no new_checkout exposures
        analyze(EXPERIMENT, POST, exposures="three", session=s)
    with pytest.raises(InvalidExperiment, match="does not have"):
        analyze(EXPERIMENT, POST, exposures="SELECT customer_id, variant FROM three", session=s)
    with pytest.raises(InvalidMetric, match="no column 'custmer_id'.*customer_id"):
        analyze(Experiment("x", unit="custmer_id"), POST, exposures="exposures", session=s)
    with pytest.raises(InvalidMetric, match="kind"):
        Metric("m", sql="SELECT 1", kind="median")
    with pytest.raises(InvalidMetric, match="CUPED"):
        Metric("m", sql="SELECT 1", kind="ratio", pre_sql="SELECT 1")


def test_one_row_per_unit_fast_path_gives_the_same_answer(lab: Lab) -> None:
    from dataclasses import replace

    s = lab.session()
    slow = analyze(EXPERIMENT, METRICS, exposures="exposures", session=s)
    fast_metrics = [replace(m, one_row_per_unit=True) for m in METRICS]
    fast = analyze(
        EXPERIMENT, fast_metrics, exposures="exposures", unique_exposures=True, session=s
    )
    assert fast.units == slow.units
    for a, b in zip(fast.metrics, slow.metrics, strict=True):
        assert a.pvalue == pytest.approx(b.pvalue, rel=1e-9)
        assert a.lift_ci == pytest.approx(b.lift_ci, rel=1e-9)
    assert all("GROUP BY 1 HAVING" not in q for q in fast.sql)
