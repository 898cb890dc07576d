"""Every change of data is in the audit chain, like a query: loads, registrations, table
creation and drops, pipeline loads, archive runs, quality rules and quarantines, exports and
dashboards; refused and failed attempts too. Each kind is driven through one front door, and
the chain still verifies afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import dap_kernel as dap
from dap_kernel.archive import Retention, set_retention
from dap_kernel.cli import app
from dap_kernel.dashboards.store import get, publish, unpublish
from dap_kernel.errors import QueryRefused, SourceError, UnknownTable
from dap_kernel.export import export_file
from dap_kernel.governance.identity import Principal
from dap_kernel.local import LocalClient
from dap_kernel.meta import AuditRecord
from dap_kernel.pipelines import pipeline
from dap_kernel.quality import check, set_rules
from dap_kernel.session import Workspace, default_workspace, reset_default_workspace

REPO = Path(__file__).resolve().parents[2]


def newest(ws: Workspace, action: str) -> AuditRecord:
    """The newest record of ``action``; the chain must hold together around it."""
    assert ws.audit.verify() is None
    found = [r for r in ws.audit.tail(200) if r.action == action]
    assert found, f"no {action} record in the audit log"
    return found[0]


def write_sales(path: Path, bad: bool = False) -> Path:
    lines = ["id,region,amount", "1,EMEA,2.5", "2,APAC,3.5", "3,EMEA,4.5"]
    if bad:
        lines.append("4,x")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_an_ingest_through_the_python_api_is_audited(tmp_path: Path) -> None:
    result = dap.ingest(write_sales(tmp_path / "s.csv", bad=True), "sales")
    record = newest(default_workspace(), "ingest")
    assert (record.principal, record.decision, record.channel) == ("tester", "allowed", "python")
    assert record.tables == ["main.sales", "main.sales__quarantine"]
    assert record.row_count == result.rows_loaded == 3
    assert "s.csv" in record.statement and "main.sales" in record.statement


def test_a_refused_ingest_is_audited_as_refused(governed: Workspace, tmp_path: Path) -> None:
    ann = LocalClient(governed.session(Principal(name="ann"), channel="magic"))  # no CREATE
    with pytest.raises(QueryRefused):
        ann.ingest(write_sales(tmp_path / "s.csv"), "anns_table")
    record = newest(governed, "ingest")
    assert (record.principal, record.decision, record.channel) == ("ann", "refused", "magic")
    assert record.tables == ["main.anns_table"] and record.row_count is None
    assert "CREATE" in record.reason
    assert "main.anns_table" not in governed.catalog.known_names()


def test_a_failed_ingest_is_audited_as_failed(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(SourceError):
        LocalClient(workspace.session()).ingest(tmp_path / "missing.csv", "sales")
    record = newest(workspace, "ingest")
    assert record.decision == "failed" and "file not found" in record.reason


def test_catalog_register_on_the_cli_is_audited(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAP_HOME", str(workspace.settings.home))
    source = write_sales(tmp_path / "ext.csv")
    out = CliRunner().invoke(app, ["catalog", "register", "ext", str(source)])
    assert out.exit_code == 0, out.output
    reset_default_workspace()  # the CLI's workspace writes its last records as it closes
    workspace.catalog.get("ext")  # registered in the shared metadata
    record = newest(workspace, "register")
    assert (record.decision, record.channel, record.tables) == ("allowed", "cli", ["main.ext"])
    assert str(source) in record.statement
    assert workspace.catalog.get("main.ext").owner == "tester"  # owned by who registered it


def test_a_database_registration_keeps_no_password_in_the_log(
    workspace: Workspace, tmp_path: Path
) -> None:
    session = workspace.session()
    with pytest.raises(SourceError):
        session.register_database_table("db", "mysql://me:s3cret@db.example/x", "t")
    record = newest(workspace, "register")
    assert record.decision == "failed" and "s3cret" not in record.statement + record.reason


def test_create_table_needs_create_and_is_audited(governed: Workspace) -> None:
    frame = pl.DataFrame({"a": [1, 2]})
    raj = governed.session(Principal(name="raj"))
    with pytest.raises(QueryRefused):
        raj.create_table("rajs", frame)
    refused = newest(governed, "create")
    assert (refused.principal, refused.decision, refused.tables) == (
        "raj",
        "refused",
        ["main.rajs"],
    )
    governed.admin("tester").grant("CREATE", "main", "user", "raj")
    info = raj.create_table("rajs", frame)
    assert info.owner == "raj"
    created = newest(governed, "create")
    assert (created.decision, created.row_count) == ("allowed", 2)
    # Replacing a table needs MODIFY on it as well, not just CREATE on the schema.
    with pytest.raises(QueryRefused):
        raj.create_table("orders", frame, replace=True)
    assert newest(governed, "create").tables == ["main.orders"]
    assert governed.catalog.get("main.orders").row_count != 2


def test_drop_is_for_the_owner_and_audited(governed: Workspace) -> None:
    governed.admin("tester").grant("CREATE", "main", "user", "raj")
    raj = governed.session(Principal(name="raj"))
    raj.create_table("scratch", pl.DataFrame({"a": [1]}))
    ann = governed.session(Principal(name="ann"))
    with pytest.raises(QueryRefused, match="only its owner"):
        ann.drop_table("scratch")
    assert newest(governed, "drop").decision == "refused"
    raj.drop_table("scratch", purge=True)
    record = newest(governed, "drop")
    assert (record.principal, record.decision, record.tables) == (
        "raj",
        "allowed",
        ["main.scratch"],
    )
    assert "main.scratch" not in governed.catalog.known_names()


def test_a_pipeline_load_is_audited(workspace: Workspace, tmp_path: Path) -> None:
    write_sales(tmp_path / "a.csv")
    spec = {
        "name": "sales_load",
        "extract": {"file": str(tmp_path / "*.csv")},
        "load": {"table": "main.sales"},
        "retries": {"attempts": 1, "backoff_s": 0},
    }
    result = pipeline(spec).run(workspace.session(channel="pipeline"))
    record = newest(workspace, "load")
    assert (record.decision, record.channel, record.tables) == (
        "allowed",
        "pipeline",
        ["main.sales"],
    )
    assert record.row_count == result.rows_written == 3
    assert "sales_load" in record.statement and result.run_id in record.statement


def test_a_refused_pipeline_load_is_audited(governed: Workspace, tmp_path: Path) -> None:
    write_sales(tmp_path / "a.csv")
    spec = {"name": "p", "extract": {"file": str(tmp_path / "a.csv")}, "load": {"table": "x"}}
    with pytest.raises(QueryRefused):
        pipeline(spec).run(governed.session(Principal(name="bob")))
    record = newest(governed, "load")
    assert (record.principal, record.decision, record.tables) == ("bob", "refused", ["main.x"])


def test_retention_and_archive_runs_are_audited(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    session = workspace.session()
    session.create_table(
        "events", pl.DataFrame({"id": [1, 2], "at": [now - timedelta(days=800), now]})
    )
    set_retention(session, "events", Retention(archive_after_days=365, column="at"))
    assert newest(workspace, "retention").tables == ["main.events"]
    monkeypatch.setenv("DAP_HOME", str(workspace.settings.home))
    out = CliRunner().invoke(app, ["archive", "run"])
    assert out.exit_code == 0, out.output
    reset_default_workspace()  # the CLI's workspace writes its last records as it closes
    record = newest(workspace, "archive")
    assert (record.decision, record.channel, record.row_count) == ("allowed", "cli", 1)
    assert record.tables == ["main.events", "archive.events"]


def test_quality_rules_and_quarantines_are_audited(governed: Workspace) -> None:
    bob = governed.session(Principal(name="bob"))
    with pytest.raises(UnknownTable):  # bob may not read it: answered as a missing table
        set_rules("main.orders", [{"not_null": "order_id"}], session=bob)
    attempt = newest(governed, "quality_rules")
    assert (attempt.principal, attempt.decision) == ("bob", "failed")  # still on record
    ann = governed.session(Principal(name="ann"))  # a reader without MODIFY
    with pytest.raises(QueryRefused):
        set_rules("main.orders", [{"not_null": "order_id"}], session=ann)
    assert newest(governed, "quality_rules").principal == "ann"
    assert newest(governed, "quality_rules").decision == "refused"
    admin = governed.session()
    set_rules(
        "main.orders",
        [{"accepted_values": {"column": "channel", "values": ["web"]}}],
        session=admin,
    )
    assert newest(governed, "quality_rules").decision == "allowed"
    report = check("main.orders", session=admin, write_failures=True)
    record = newest(governed, "quarantine")
    assert record.decision == "allowed" and record.row_count == report.quarantined > 0
    assert record.tables == ["main.orders", "main.orders__quarantine"]


def test_an_export_is_audited_with_its_rows_and_tables(governed: Workspace, tmp_path: Path) -> None:
    ann = governed.session(Principal(name="ann"), channel="cli")
    done = export_file(
        "SELECT customer_id, email FROM customers", "csv", tmp_path / "c.csv", session=ann
    )
    record = newest(governed, "export")
    assert (record.principal, record.decision, record.channel) == ("ann", "allowed", "cli")
    assert record.tables == ["main.customers"] and record.row_count == done.rows > 0
    assert str(tmp_path / "c.csv") in record.statement
    bob = governed.session(Principal(name="bob"))
    with pytest.raises(QueryRefused):
        export_file("SELECT * FROM customers", "csv", tmp_path / "b.csv", session=bob)
    assert newest(governed, "export").decision == "refused"
    assert not (tmp_path / "b.csv").exists()


def test_dashboard_publish_views_and_unpublish_are_audited(governed: Workspace) -> None:
    admin = governed.session()
    publish(REPO / "notebooks" / "dashboards" / "sales.ipynb", session=admin)
    published = newest(governed, "dashboard_publish")
    assert (published.decision, published.tables) == ("allowed", ["dashboard:sales"])
    bob = governed.session(Principal(name="bob"), channel="rest")
    with pytest.raises(QueryRefused):
        get(bob, "sales")
    refused = newest(governed, "dashboard_view")
    assert (refused.principal, refused.decision, refused.channel) == ("bob", "refused", "rest")
    get(admin, "sales")
    assert newest(governed, "dashboard_view").decision == "allowed"
    unpublish(admin, "sales")
    assert newest(governed, "dashboard_unpublish").decision == "allowed"
    assert json.dumps([r.action for r in governed.audit.tail(200)]).count("dashboard_") >= 4


def test_the_audit_of_a_change_is_in_the_same_chain_as_queries(workspace: Workspace) -> None:
    session = workspace.session()
    session.sql("SELECT 1")
    session.create_table("t", pl.DataFrame({"a": [1]}))
    session.sql("SELECT count(*) FROM t")
    actions = [r.action for r in workspace.audit.tail(3)]
    assert actions == ["query", "create", "query"]
    assert workspace.audit.verify() is None
