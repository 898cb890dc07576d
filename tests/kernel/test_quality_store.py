"""Quality rules and results in the metadata store, on both metadata databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy import select

from dap_kernel.meta import MetaStore
from dap_kernel.quality import QualityReport, QualityResult, QualityStore, validate
from tests.kernel.test_quality_table import ORDERS_RULES


def test_store_round_trip(meta_url: str) -> None:
    meta = MetaStore(meta_url)
    meta.migrate()
    try:
        store = QualityStore(meta)
        store.set_rules("orders", ORDERS_RULES, actor="ann")
        assert [r.kind for r in store.rules("main.orders")] == [
            "not_null",
            "unique",
            "foreign_key",
            "accepted_values",
            "row_count",
            "freshness",
        ]
        newest = datetime(2026, 1, 1, tzinfo=UTC)
        report = QualityReport(
            results=[
                replace_status(
                    validate(pl.DataFrame({"id": [1]}), [{"not_null": "id"}]).results[0]
                ),
                validate(
                    pl.DataFrame({"t": [newest]}), [{"freshness": {"column": "t", "max_age": "1h"}}]
                ).results[0],
            ],
            passed=pl.DataFrame(),
            failed=pl.DataFrame(),
            ok=False,
            table="main.orders",
            table_version=7,
        )
        store.record(report, checked_by="ann")
        latest = store.latest("main.orders")
        assert latest is not None and latest.table_version == 7 and latest.status == "fail"
        assert latest.checked_at.tzinfo is not None
        badge = store.badge("main.orders")
        assert badge["status"] == "fail" and badge["failed_rules"] == 1
        assert badge["freshness"]["newest"] == newest
        store.set_rules("main.orders", [])
        assert store.rules("main.orders") == []
        # Old checks beyond `keep` are pruned; the newest stays the latest.
        small = QualityStore(meta, keep=2)
        for i in range(3):
            report.checked_at = datetime.now(UTC) + timedelta(minutes=i + 1)  # after the first
            last_id = small.record(report)
        with meta.session() as s:
            kept = s.execute(
                select(QualityResult.check_id).where(QualityResult.table_name == "main.orders")
            ).scalars()
            assert len(set(kept)) == 2
        latest = small.latest("main.orders")
        assert latest is not None and latest.check_id == last_id
    finally:
        meta.dispose()


def replace_status(r: Any) -> Any:
    from dataclasses import replace

    return replace(r, status="pass")
