"""The one summary statement: metrics over the same rows share a scan, anything else stays a
source of its own, units in two variants are counted apart, and the answers do not change."""

from __future__ import annotations

import polars as pl
import pytest

from dap_kernel.experiments import Metric, analyze, assign_many
from dap_kernel.experiments.summary import _plain
from tests.experiments.conftest import EXPERIMENT, Lab

POST = Metric("post", sql="SELECT customer_id AS unit, post AS value FROM activity")


@pytest.mark.parametrize(
    ("sql", "merged"),
    [
        ("SELECT customer_id AS unit, post AS value FROM activity", True),
        ("SELECT a.customer_id AS unit, a.post * 2 AS value FROM activity a WHERE a.pre > 1", True),
        ("SELECT DISTINCT customer_id AS unit, post AS value FROM activity", False),
        ("SELECT customer_id AS unit, post AS value FROM activity LIMIT 10", False),
        ("SELECT customer_id AS unit, sum(post) AS value FROM activity GROUP BY 1", False),
        ("SELECT customer_id AS unit, unnest([post, pre]) AS value FROM activity", False),
        ("SELECT customer_id AS unit, post AS value FROM activity WHERE value > 0", False),
        ("SELECT * FROM activity", False),
        ("SELECT customer_id AS unit, post AS value FROM activity UNION ALL SELECT 1, 2", False),
        ("activity", False),
    ],
)
def test_only_row_for_row_selects_share_a_scan(sql: str, merged: bool) -> None:
    assert (_plain(sql, ["unit", "value"]) is not None) is merged


def test_merged_and_separate_sources_give_the_same_answer(lab: Lab) -> None:
    s = lab.session()
    grouped = Metric(
        "post_grouped",
        sql="SELECT customer_id AS unit, sum(post) AS value FROM activity GROUP BY 1",
    )
    by_name = Metric("post_table", sql="activity", unit="customer_id", value="post")
    cuped = Metric(
        "post_cuped",
        sql="SELECT customer_id AS unit, post AS value FROM activity",
        pre_sql="SELECT customer_id AS unit, pre AS value FROM activity",
    )
    result = analyze(EXPERIMENT, [POST, grouped, by_name, cuped], exposures="exposures", session=s)
    (statement,) = result.sql
    # POST and the CUPED metric (and its pre-period) share one source; the other two their own
    assert "dap_experiment_m2" in statement and "dap_experiment_m3" not in statement
    a = result["post"]
    for other in ("post_grouped", "post_table"):
        b = result[other]
        assert (b.control_mean, b.treatment_mean) == pytest.approx(
            (a.control_mean, a.treatment_mean), rel=1e-12
        )
        assert b.pvalue == pytest.approx(a.pvalue, rel=1e-9)
    alone = analyze(EXPERIMENT, cuped, exposures="exposures", session=s)["post_cuped"]
    assert result["post_cuped"].difference == pytest.approx(alone.difference, rel=1e-12)


def test_units_in_two_variants_are_counted_apart(lab: Lab) -> None:
    s = lab.session()
    # units 1..10 also seen in the other variant: a broken assignment path
    s.query(
        "CREATE TABLE main.doubled AS SELECT customer_id, variant FROM exposures UNION ALL "
        "SELECT customer_id, CASE WHEN variant = 'control' THEN 'treatment' ELSE 'control' END"
        " FROM exposures WHERE customer_id <= 10"
    )
    result = analyze(EXPERIMENT, POST, exposures="doubled", session=s)
    assert result.mixed_units == 10
    frame = lab.activity.with_columns(
        pl.Series("variant", assign_many(EXPERIMENT, lab.activity["customer_id"].to_list()))
    ).filter(pl.col("customer_id") > 10)
    control = frame.filter(pl.col("variant") == "control")
    assert result.units == (control.height, frame.height - control.height)
    assert result["post"].control_mean == pytest.approx(control["post"].mean(), rel=1e-12)
