"""The demo data set is deterministic, documented and consistent."""

from __future__ import annotations

from pathlib import Path

from dap_kernel import demo
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings


def build(home: Path, seed: int = 42) -> Workspace:
    ws = Workspace(Settings(home=home, user="tester"))
    demo.build(ws.catalog, scale=0.01, seed=seed)
    return ws


def fingerprint(ws: Workspace) -> list[tuple[object, ...]]:
    return (
        ws.session()
        .sql(
            "SELECT (SELECT count(*) FROM orders) o, (SELECT count(*) FROM order_lines) l, "
            "(SELECT sum(quantity * unit_price) FROM order_lines) rev, "
            "(SELECT string_agg(email, ',' ORDER BY customer_id) FROM customers) emails"
        )
        .rows()
    )


def test_same_seed_same_data_other_seed_other_data(tmp_path: Path) -> None:
    a, b, c = build(tmp_path / "a"), build(tmp_path / "b"), build(tmp_path / "c", seed=7)
    try:
        assert fingerprint(a) == fingerprint(b)
        assert fingerprint(a) != fingerprint(c)
    finally:
        for ws in (a, b, c):
            ws.close()


def test_tables_are_documented_and_keys_join(demo_workspace: Workspace) -> None:
    tables = {t.name: t for t in demo_workspace.catalog.list_tables()}
    assert set(tables) == {
        "customers",
        "products",
        "orders",
        "order_lines",
        "web_events",
        "experiment_exposures",
    }
    assert all(t.description for t in tables.values())
    email = next(c for c in tables["customers"].columns if c.name == "email")
    assert "pii" in email.tags and email.description
    orphans = demo_workspace.session().sql(
        "SELECT count(*) AS n FROM order_lines l LEFT JOIN orders o USING (order_id) "
        "LEFT JOIN products p USING (product_id) WHERE o.order_id IS NULL OR p.product_id IS NULL"
    )["n"][0]
    assert orphans == 0


def test_row_counts_scale_linearly(demo_workspace: Workspace) -> None:
    """scale=1 is ~1M rows: 10k customers, 100k orders, ~300k lines, 600k events."""
    counts = {t.name: t.row_count or 0 for t in demo_workspace.catalog.list_tables()}
    scale = 0.02  # tests/conftest.py DEMO_SCALE
    assert counts["customers"] == 10_000 * scale
    assert counts["orders"] == 100_000 * scale
    assert counts["web_events"] == 600_000 * scale
    assert 2.5 * counts["orders"] < counts["order_lines"] < 3.5 * counts["orders"]
