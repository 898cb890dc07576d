"""Metadata is governed in the core: every door shows the catalog as the caller may see it.

Given ``main.payments`` with a row filter on region and a masked e-mail (tests/payments.py),
no describe or catalog output of a filtered reader carries a raw e-mail, a hidden region or a
hidden amount, whichever door they use; a user without grants sees no table at all.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from typer.testing import CliRunner

import dap_kernel as dap
from dap_kernel.catalog import TableInfo
from dap_kernel.catalog.governed import GovernedCatalog
from dap_kernel.catalog.views import TableDescription, TableListing
from dap_kernel.cli import app
from dap_kernel.errors import QueryRefused, UnknownTable
from dap_kernel.governance.identity import Principal
from dap_kernel.magics import DapMagics
from dap_kernel.session import Workspace, reset_default_workspace
from tests import payments
from tests.payments import as_user, leaked


@pytest.fixture
def home(payments_home: Path) -> Path:
    return payments_home


@pytest.fixture
def ws(payments_ws: Workspace) -> Workspace:
    return payments_ws


def text_of(infos: list[TableInfo]) -> str:
    """Everything a door could print of these entries."""
    return json.dumps([i.to_dict() for i in infos], default=str) + "".join(
        str(i.columns_frame().to_dicts()) + repr(i) for i in infos
    )


def test_a_filtered_reader_sees_no_statistic_of_hidden_rows_or_masked_values(
    ws: Workspace,
) -> None:
    sam = as_user(ws, "sam")
    info = sam.describe("payments")
    columns = {c.name: c for c in info.columns}
    assert set(columns) == {"payment_id", "region", "email", "amount", "paid_on"}
    assert info.row_count is None  # a count over the filter would say how many rows it hides
    for c in columns.values():
        assert (c.min_value, c.max_value, c.distinct_count, c.null_count) == (None,) * 4
    assert info.location == "" and info.options == {}
    listed = sam.visible_tables()
    assert [t.qualified_name for t in listed] == ["archive.payments", "main.payments"]
    assert leaked(text_of([info, *listed, *sam.visible_tables("pay")])) == []


def test_the_manager_and_single_user_answers_stay_as_stored(ws: Workspace) -> None:
    stored = ws.catalog.get("main.payments")
    admin = as_user(ws, "tester").describe("payments")
    assert admin == stored and admin.columns[2].min_value == "erik.berg@emea.example"
    ws.admin("tester").set_multi_user(False)
    anyone = as_user(ws, "bob")
    assert anyone.describe("payments") == stored
    assert len(anyone.visible_tables()) == len(ws.catalog.list_tables())


def test_masked_columns_hide_statistics_without_a_row_filter(ws: Workspace) -> None:
    refunds = payments.PAYMENTS.filter(pl.col("region") == "EMEA").drop("region")
    ws.catalog.create_table("main.refunds", refunds, owner="olga")
    ws.admin("tester").set_mask("main.refunds.email", "mask_email")
    view = GovernedCatalog(ws.catalog, ws.policy, Principal(name="sam")).describe("refunds")
    assert view.masked == {"email"} and view.partial and not view.row_filtered
    columns = {c.name: c for c in view.info.columns}
    assert view.info.row_count == 2  # no filter: sam can count these rows himself
    assert columns["email"].min_value is None and columns["email"].distinct_count is None
    assert columns["amount"].max_value == "20.25"  # unmasked, unfiltered: as stored
    assert leaked(text_of([view.info])) == []


def test_columns_beyond_a_column_grant_are_absent(ws: Workspace) -> None:
    ws.admin("tester").grant("SELECT", "main.payments.payment_id", "user", "bob")
    ws.admin("tester").grant("SELECT", "main.payments.paid_on", "user", "bob")
    bob = as_user(ws, "bob")
    info = bob.describe("main.payments")
    assert [c.name for c in info.columns] == ["payment_id", "paid_on"]
    assert [t.qualified_name for t in bob.visible_tables()] == ["archive.payments", "main.payments"]
    # A search finds only what the caller sees: the hidden column's name is no hit.
    assert bob.visible_tables("email") == []
    assert [t.qualified_name for t in as_user(ws, "sam").visible_tables("email")] == [
        "archive.payments",
        "main.payments",
    ]


def test_a_user_without_grants_sees_no_table(ws: Workspace) -> None:
    bob = as_user(ws, "bob")
    assert bob.visible_tables() == [] and bob.visible_tables("pay") == []
    with pytest.raises(QueryRefused, match="bob may not SELECT main.payments"):
        bob.describe("payments")
    denied = bob.governed_catalog.entries(include_denied=True)
    assert denied and not any(e.readable for e in denied)
    assert all(e.info.columns == [] and e.info.row_count is None for e in denied)
    assert leaked(text_of([e.info for e in denied])) == []


def test_did_you_mean_names_only_tables_the_caller_may_read(ws: Workspace) -> None:
    with pytest.raises(UnknownTable, match=r"did you mean main\.payments"):
        as_user(ws, "sam").describe("paymnts")
    with pytest.raises(UnknownTable) as info:
        as_user(ws, "bob").describe("paymnts")
    assert "payments" not in str(info.value).replace("paymnts", "")


def test_the_quarantine_is_not_listed_to_a_schema_reader(ws: Workspace) -> None:
    names = [t.qualified_name for t in as_user(ws, "sam").visible_tables()]
    assert "main.payments__quarantine" not in names
    with pytest.raises(QueryRefused):
        as_user(ws, "sam").describe("main.payments__quarantine")
    steward = [t.qualified_name for t in as_user(ws, "stew").visible_tables()]
    assert "main.payments__quarantine" in steward


def test_magics_describe_and_catalog(ws: Workspace) -> None:
    ip = InteractiveShell.instance()
    ip.register_magics(DapMagics(shell=ip, session_factory=lambda: as_user(ws, "sam", "magic")))
    try:
        described = ip.run_line_magic("dap", "describe payments")
        listed = ip.run_line_magic("dap", "catalog")
        found = ip.run_line_magic("dap", "catalog pay")
    finally:
        InteractiveShell.clear_instance()
    assert isinstance(described, TableDescription) and isinstance(listed, TableListing)
    assert described.frame["min"].null_count() == 5
    assert listed.frame["table"].to_list() == ["archive.payments", "main.payments"]
    assert listed.frame["rows"].to_list() == [None, None]
    text = "".join(
        [str(x.frame.to_dicts()) + x.text() + x._repr_html_() for x in (described, listed, found)]
    )
    assert "row count not shown" in described.text() and "<table" in described._repr_html_()
    assert "not shown to you" in described.text()
    assert leaked(text) == []
    ip = InteractiveShell.instance()
    ip.register_magics(DapMagics(shell=ip, session_factory=lambda: as_user(ws, "bob", "magic")))
    try:
        assert len(ip.run_line_magic("dap", "catalog")) == 0
        with pytest.raises(UsageError, match="bob may not SELECT"):
            ip.run_line_magic("dap", "describe payments")
    finally:
        InteractiveShell.clear_instance()


def cli(home: Path, monkeypatch: pytest.MonkeyPatch, user: str, *args: str) -> str:
    monkeypatch.setenv("DAP_USER", user)
    reset_default_workspace()
    try:
        result = CliRunner().invoke(app, list(args))
    finally:
        reset_default_workspace()
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_catalog_show_list_and_search(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shown = cli(home, monkeypatch, "sam", "catalog", "show", "payments")
    as_json = cli(home, monkeypatch, "sam", "catalog", "show", "payments", "--json")
    listed = cli(home, monkeypatch, "sam", "catalog", "list")
    found = cli(home, monkeypatch, "sam", "catalog", "search", "pay")
    assert "row count not shown" in shown and "email" in shown
    assert json.loads(as_json)["row_count"] is None
    assert listed.splitlines()[1].startswith("main.payments\tdelta\t?")
    assert "payments__quarantine" not in listed + found
    assert leaked(shown + as_json + listed + found) == []
    assert cli(home, monkeypatch, "bob", "catalog", "list") == ""
    owner = cli(home, monkeypatch, "tester", "catalog", "show", "payments", "--json")
    assert "erik.berg@emea.example" in owner  # the admin sees the table as stored


def test_python_catalog_shortcuts(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAP_USER", "sam")
    reset_default_workspace()
    info = dap.catalog.get("payments")
    found = dap.catalog.search("pay")
    listed = dap.catalog.list("main")
    assert info.row_count is None and [t.qualified_name for t in listed] == ["main.payments"]
    assert leaked(text_of([info, *found, *listed])) == []
    monkeypatch.setenv("DAP_USER", "bob")
    reset_default_workspace()
    assert dap.catalog.list() == [] and dap.catalog.search("pay") == []


def test_explore_offers_only_visible_columns(ws: Workspace) -> None:
    from dap_kernel.dashboards.explore import Explore

    ws.admin("tester").grant("SELECT", "main.payments.region", "user", "bob")
    ws.admin("tester").grant("SELECT", "main.payments.amount", "user", "bob")
    explore = Explore(session=as_user(ws, "bob", "dashboard"))
    explore.build()
    explore.start()
    assert explore.column_names() == ["region", "amount"]
    assert explore.dataset.options == ("archive.payments", "main.payments")
