"""The metadata store on SQLite and on a real PostgreSQL: migrations, catalog, audit chain."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from sqlalchemy import select, text

from dap_kernel.catalog.store import Catalog
from dap_kernel.engines.clickhouse_native import NativeTable
from dap_kernel.errors import DapError, MetaStoreError
from dap_kernel.governance.apikeys import _KEY_AND_OWNER, ApiKeys
from dap_kernel.governance.audit import AuditEvent
from dap_kernel.meta import MetaStore
from dap_kernel.meta.models import ApiKey as ApiKeyRow
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings

EXPECTED_TABLES = {
    "alembic_version",
    "api_keys",
    "secrets",
    "audit_head",
    "audit_log",
    "catalog_columns",
    "catalog_schemas",
    "catalog_tables",
    "column_masks",
    "grants",
    "memberships",
    "policy_state",
    "principals",
    "row_filters",
    "connectors",
    "lineage_edges",
    "lineage_column_edges",
    "schedules",
    "schedule_runs",
    "run_reads",
    "pipelines",
    "pipeline_runs",
    "pipeline_watermarks",
    "quality_rules",
    "quality_results",
    "dashboards",
    "gdpr_subject_keys",
    "gdpr_erasures",
    "gdpr_processing",
}


def test_the_fast_head_check_agrees_with_alembic() -> None:
    """`migrate` answers a current database from the file names alone (no Alembic import):
    they must name Alembic's own head."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from dap_kernel.meta.store import MIGRATIONS_DIR, newest_revision

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    scripts = ScriptDirectory.from_config(config)
    assert newest_revision() == scripts.get_current_head()
    for script in scripts.walk_revisions():
        assert Path(script.path).name.startswith(f"{script.revision}_"), script.path


def test_migrations_create_the_schema_and_are_idempotent(meta_url: str) -> None:
    store = MetaStore(meta_url)
    store.migrate()
    store.migrate()  # second run: already at head, changes nothing
    assert set(store.table_names()) >= EXPECTED_TABLES
    with store.engine.connect() as con:
        assert con.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0017"
    store.dispose()


def test_distinct_counts_stored_before_0014_are_marked_as_estimates(meta_url: str) -> None:
    """Every count recorded before revision 0014 came from approx_count_distinct."""
    from alembic import command
    from alembic.config import Config

    from dap_kernel.meta.store import MIGRATIONS_DIR

    store = MetaStore(meta_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0013")
    with store.engine.begin() as con:
        con.execute(
            text(
                "INSERT INTO catalog_tables (schema_name, name, kind, location, description,"
                " owner, tags, options, version, created_at, updated_at)"
                " VALUES ('main', 't', 'delta', 'lake:main/t', '', '', '[]', '{}', 0,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        table_id = con.execute(text("SELECT id FROM catalog_tables")).scalar()
        for position, (name, count) in enumerate([("a", 9442), ("b", None)]):
            con.execute(
                text(
                    "INSERT INTO catalog_columns (table_id, position, name, data_type, nullable,"
                    " description, tags, distinct_count)"
                    " VALUES (:t, :p, :n, 'BIGINT', true, '', '[]', :d)"
                ),
                {"t": table_id, "p": position, "n": name, "d": count},
            )
    store.migrate()
    with store.engine.connect() as con:
        flags = con.execute(
            text("SELECT name, distinct_approx FROM catalog_columns ORDER BY name")
        ).all()
    assert [(name, bool(flag)) for name, flag in flags] == [("a", True), ("b", False)]
    store.dispose()


def test_catalog_and_queries_work_on_each_store(meta_url: str, tmp_path: Path) -> None:
    ws = Workspace(Settings(home=tmp_path / "home", meta_url=meta_url, user="tester"))
    try:
        ws.catalog.create_table(
            "sales",
            pl.DataFrame({"id": [1, 2, 3], "amount": [10.5, 20.0, None]}),
            description="Daily sales",
            tags=["finance"],
        )
        info = ws.catalog.get("sales")
        assert info.row_count == 3
        assert [c.name for c in info.columns] == ["id", "amount"]
        assert info.columns[1].null_count == 1
        assert ws.catalog.search("finance")[0].qualified_name == "main.sales"
        total = ws.session().sql("SELECT sum(amount) AS s FROM sales")["s"][0]
        assert total == pytest.approx(30.5)
        assert ws.audit.tail(1)[0].decision == "allowed"
    finally:
        ws.close()


def test_audit_chain_verifies_and_detects_tampering(meta_url: str, tmp_path: Path) -> None:
    ws = Workspace(Settings(home=tmp_path / "home", meta_url=meta_url, user="tester"))
    try:
        for i in range(5):
            ws.audit.record(
                AuditEvent(
                    principal="tester", action="query", decision="allowed", statement=f"SELECT {i}"
                )
            )
        assert ws.audit.verify() is None
        seqs = [r.seq for r in ws.audit.tail(10)]
        assert seqs == [5, 4, 3, 2, 1]
        with ws.meta.engine.begin() as con:
            con.execute(text("UPDATE audit_log SET statement = 'SELECT 42' WHERE seq = 3"))
        assert ws.audit.verify() == 3
    finally:
        ws.close()


def test_unreachable_postgres_is_one_clear_error_without_the_password() -> None:
    store = MetaStore("postgresql://dap:topsecret@127.0.0.1:1/dap")
    with pytest.raises(MetaStoreError) as info:
        store.migrate()
    message = str(info.value)
    assert "cannot open the metadata database" in message
    assert "topsecret" not in message
    assert "\n" not in message


def test_the_hot_path_read_answers_and_fails_in_one_line(tmp_path: Path) -> None:
    """``first_row`` (the policy version of every statement) reads what Core reads; a lost
    server or a bad statement is one MetaStoreError line, never the password."""
    store = MetaStore(f"sqlite:///{tmp_path / 'meta.db'}")
    store.migrate()
    with store.connection() as con:
        expected = tuple(con.exec_driver_sql("SELECT version FROM policy_state").one())
    assert store.first_row("SELECT version FROM policy_state WHERE id = 1") == expected
    assert store.first_row("SELECT version FROM policy_state WHERE id = 2") is None
    with pytest.raises(MetaStoreError, match="no such table"):
        store.first_row("SELECT 1 FROM nowhere")
    lost = MetaStore("postgresql://dap:topsecret@127.0.0.1:1/dap")
    with pytest.raises(MetaStoreError) as info:
        lost.first_row("SELECT 1")
    message = str(info.value)
    assert message.startswith("metadata database ") and "topsecret" not in message
    assert "\n" not in message


def test_a_prepared_read_is_what_core_reads(meta_url: str) -> None:
    """The API-key check of every request, compiled once and run on the driver: the same row,
    the same types (datetimes and lists, not SQLite's text), parameters never pasted in."""
    store = MetaStore(meta_url)
    store.migrate()
    keys = ApiKeys(store)
    info, token = keys.create("ann", "probe", expires_in_days=3, rate_limit_per_min=7)
    with store.connection() as con:
        core = con.execute(_KEY_AND_OWNER, {"key_id": info.key_id}).one()
    fast: Any = store.first_row(_KEY_AND_OWNER, {"key_id": info.key_id})
    assert fast == tuple(core) and fast._fields == tuple(core._fields)
    assert isinstance(fast.expires_at, datetime) and fast.scopes == ["query", "read-catalog"]
    assert fast.rate_limit_per_min == 7
    assert store.first_row(_KEY_AND_OWNER, {"key_id": f"{info.key_id}' OR '1'='1"}) is None
    assert keys.authenticate(token, "query").name == "ann"
    with pytest.raises(ValueError, match="parameter"):
        store.first_row(select(ApiKeyRow.key_id).where(ApiKeyRow.key_id == "x"))
    store.dispose()


def test_a_server_table_keeps_one_catalog_name_in_a_race(
    meta_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two stewards registering one ClickHouse table under two names at once: both pass the
    read-before-write check, and the database's unique index (0017) refuses the second."""
    ws = Workspace(Settings(home=tmp_path / "home", meta_url=meta_url, user="tester"))
    try:
        native = NativeTable(0, pa.schema([("id", pa.int64())]), {}, distinct_approx=False)
        ws.catalog.register_clickhouse_table("main.events", "analytics.events", native)
        check = Catalog._refuse_second_name
        calls: list[str] = []

        def late(self: Catalog, location: str, schema: str, table: str) -> None:
            calls.append(table)
            if len(calls) > 1:  # the first check ran before main.events was written
                check(self, location, schema, table)

        monkeypatch.setattr(Catalog, "_refuse_second_name", late)
        with pytest.raises(DapError, match="registered already, as main.events"):
            ws.catalog.register_clickhouse_table("main.again", "analytics.events", native)
        assert calls == ["again", "again"]
        assert "main.again" not in ws.catalog.known_names()
    finally:
        ws.close()


@pytest.mark.parametrize("url", ["nonsense", "mysql+nodriver://x/y", "postgresql://x:y@:bad/"])
def test_malformed_meta_url_is_a_clear_error(url: str) -> None:
    with pytest.raises(MetaStoreError, match="DAP_META_URL|cannot open"):
        MetaStore(url).migrate()
