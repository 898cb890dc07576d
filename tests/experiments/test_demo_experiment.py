"""The demo's A/B test: its exposures follow the documented hash, and it analyses end to end."""

from __future__ import annotations

from dap_kernel import demo
from dap_kernel.experiments import Experiment, Metric, analyze, assign_many
from dap_kernel.session import Workspace


def test_demo_exposures_follow_the_hash_and_analyse(demo_workspace: Workspace) -> None:
    s = demo_workspace.session()
    exposures = s.sql(
        "SELECT customer_id, variant, exposed_at FROM experiment_exposures ORDER BY 1"
    )
    customers = s.sql("SELECT count(*) AS n FROM customers")["n"][0]
    assert exposures.height == customers
    e = Experiment(
        demo.EXPERIMENT_NAME,
        unit="customer_id",
        salt=demo.EXPERIMENT_SALT,
        start=demo.EXPERIMENT_START,
    )
    assert exposures["variant"].to_list() == assign_many(e, exposures["customer_id"].to_list())
    assert exposures["exposed_at"].min() >= demo.EXPERIMENT_START
    orders = Metric(
        "orders",
        sql="SELECT customer_id AS unit, 1 AS value, order_ts FROM orders",
        timestamp="order_ts",
        pre_sql="SELECT customer_id AS unit, 1 AS value FROM orders"
        f" WHERE order_ts < TIMESTAMP '{demo.EXPERIMENT_START}'",
    )
    result = analyze(e, orders, exposures="experiment_exposures", session=s)
    assert sum(result.units) == customers and not result.srm
    assert result["orders"].cuped and result["orders"].control_mean > 0
