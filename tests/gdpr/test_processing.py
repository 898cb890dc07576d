"""The register of processing activities: filed by stewards of the tables, listed with what
DAP knows of each table (subject key, PII-tagged columns, the retention the archive enforces)."""

from __future__ import annotations

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from dap_kernel.archive import Retention, set_retention
from dap_kernel.cli import app
from dap_kernel.errors import DapError, QueryRefused
from dap_kernel.gdpr import declare_key
from dap_kernel.gdpr.pii import confirm_tag
from dap_kernel.gdpr.processing import processing_records, record_processing, remove_processing
from dap_kernel.governance.identity import Principal
from dap_kernel.session import Workspace


@pytest.fixture
def crm(workspace: Workspace) -> Workspace:
    for name in ("contacts", "deals"):
        workspace.catalog.create_table(
            name,
            pl.DataFrame({"id": [1, 2], "email": ["a@x.org", "b@x.org"], "at": [None, None]}),
            owner="tester",
        )
    s = workspace.session()
    declare_key(s, "contacts", "id")
    confirm_tag(s, "contacts", "email", "email")
    admin = workspace.admin("tester")
    admin.set_multi_user(True)
    admin.add_user("ann")
    admin.grant("SELECT", "main.contacts", "user", "ann")
    return workspace


def test_a_record_lists_what_the_workspace_knows_of_its_tables(crm: Workspace) -> None:
    s = crm.session()
    crm.catalog.write(
        "contacts", pl.DataFrame({"id": [3], "email": ["c@x.org"], "at": [None]}), "append"
    )
    set_retention(s, "contacts", Retention(keep_history_days=30))

    record_processing(
        s,
        "newsletter",
        purpose="Monthly product news",
        legal_basis="consent",
        tables=["contacts"],
        subjects="customers who opted in",
    )

    [record] = processing_records(s)
    assert (record.name, record.legal_basis, record.subjects) == (
        "newsletter",
        "consent",
        "customers who opted in",
    )
    [table] = record.tables
    assert table.table == "main.contacts" and table.subject_key == "id"
    assert table.personal_columns == {"email": ["email", "pii"]}
    assert table.retention == {"keep_history_days": 30}
    # Filing it again replaces it; the register keeps one record per name.
    record_processing(s, "newsletter", purpose="News", legal_basis="consent", tables=["contacts"])
    assert [r.purpose for r in processing_records(s)] == ["News"]
    assert remove_processing(s, "newsletter") and processing_records(s) == []


def test_bad_records_are_refused_with_one_line(crm: Workspace) -> None:
    s = crm.session()
    with pytest.raises(DapError, match="one of consent, contract"):
        record_processing(s, "x", purpose="p", legal_basis="because", tables=["contacts"])
    with pytest.raises(DapError, match="needs its purpose"):
        record_processing(s, "x", purpose=" ", legal_basis="consent", tables=["contacts"])
    with pytest.raises(DapError, match="names the tables"):
        record_processing(s, "x", purpose="p", legal_basis="consent", tables=[])
    with pytest.raises(DapError, match="invalid record name"):
        record_processing(s, "X Y", purpose="p", legal_basis="consent", tables=["contacts"])


def test_only_a_steward_of_every_table_files_and_readers_list(crm: Workspace) -> None:
    ann = crm.session(Principal("ann"))
    with pytest.raises(QueryRefused):  # she reads contacts, she does not govern it
        record_processing(ann, "mine", purpose="p", legal_basis="consent", tables=["contacts"])
    s = crm.session()
    record_processing(s, "crm", purpose="Sales", legal_basis="contract", tables=["contacts"])
    record_processing(
        s, "pipeline", purpose="Deals", legal_basis="contract", tables=["contacts", "deals"]
    )
    # She sees the record of the table she may read, not the one that names a table she may not.
    assert [r.name for r in processing_records(ann)] == ["crm"]
    with pytest.raises(QueryRefused):
        remove_processing(ann, "crm")
    assert [r.name for r in processing_records(s)] == ["crm", "pipeline"]


def test_cli(crm: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAP_HOME", str(crm.settings.home))
    runner = CliRunner()
    filed = runner.invoke(
        app,
        [
            "gdpr",
            "processing",
            "support",
            "--purpose",
            "Answer tickets",
            "--legal-basis",
            "contract",
            "--tables",
            "contacts,deals",
        ],
    )
    assert filed.exit_code == 0 and "support: contract, 2 tables" in filed.output, filed.output
    listed = runner.invoke(app, ["gdpr", "processing"])
    assert "support\tcontract\tAnswer tickets" in listed.output
    assert "main.contacts\tkey id\temail" in listed.output
    assert "main.deals\tno subject key\tno PII-tagged column" in listed.output
    [record] = json.loads(runner.invoke(app, ["gdpr", "processing", "--json"]).output)
    assert record["name"] == "support" and len(record["tables"]) == 2
    bad = runner.invoke(app, ["gdpr", "processing", "x", "--purpose", "p", "--tables", "deals"])
    assert isinstance(bad.exception, DapError) and "legal basis ''" in str(bad.exception)
