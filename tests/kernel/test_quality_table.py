"""Data quality on a catalog table: checks through governance, stored results and badges,
quarantine copies, and the CLI and the magic."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from dap_kernel.errors import QueryRefused, UnknownTable
from dap_kernel.governance.identity import Principal
from dap_kernel.magics import DapMagics
from dap_kernel.quality import QualityError, QualityStore, check, set_rules, validate
from dap_kernel.quarantine import quarantine_name
from dap_kernel.session import Workspace

DAP = shutil.which("dap", path=str(Path(sys.executable).parent)) or "dap"


# -- check: catalog tables through governance --------------------------------------------------

ORDERS_RULES: list[dict[str, Any]] = [
    {"not_null": "order_id"},
    {"unique": "order_id"},
    {"foreign_key": {"column": "customer_id", "references": "main.customers.customer_id"}},
    {"accepted_values": {"column": "channel", "values": ["web", "mobile", "store"]}},
    {"row_count": {"min": 1}},
    {"freshness": {"column": "order_ts", "max_age": "100000d"}},
]


def test_check_with_stored_rules_records_results_and_a_badge(demo_workspace: Workspace) -> None:
    session = demo_workspace.session()
    store = QualityStore(demo_workspace.meta)
    assert store.badge("main.orders")["status"] == "unknown"
    with pytest.raises(QualityError, match="no quality rules for main.orders"):
        check("main.orders", session=session)
    set_rules("main.orders", ORDERS_RULES, session=session)
    report = check("orders", session=session)
    assert report.status == "pass" and report.ok and report.recorded
    assert report.rows == demo_workspace.catalog.get("main.orders").row_count
    latest = store.latest("main.orders")
    assert latest is not None and latest.checked_by == "tester"
    assert latest.table_version == demo_workspace.catalog.get("main.orders").version
    assert [r.rule for r in latest.results] == [r.rule for r in report.results]
    badge = store.badge("main.orders")
    assert badge["status"] == "pass" and badge["failed_rules"] == 0
    assert badge["freshness"]["column"] == "order_ts"
    newest = demo_workspace.session().sql("SELECT max(order_ts) AS m FROM main.orders")["m"][0]
    assert badge["freshness"]["newest"] == newest.replace(tzinfo=UTC)
    assert badge["freshness"]["age_s"] > 0
    # A failing warn rule, then an error rule: the newest check is what the badge shows.
    set_rules(
        "main.orders",
        [{"accepted_values": {"column": "status", "values": ["x"]}, "severity": "warn"}],
        session=session,
    )
    assert check("main.orders", session=session).status == "warn"
    assert store.badge("main.orders")["status"] == "warn"
    set_rules("main.orders", [{"range": {"column": "order_id", "max": 10}}], session=session)
    failing = check("main.orders", session=session)
    assert failing.status == "fail" and not failing.ok
    assert store.badge("main.orders") | {"checked_at": None} == {
        "status": "fail",
        "checked_at": None,
        "failed_rules": 1,
        "freshness": None,
    }
    assert failing.failed.height == 100  # a sample; nothing was written
    assert failing.failed["_dap_reason"][0].endswith("is above the maximum 10")
    assert quarantine_name("main.orders") not in demo_workspace.catalog.known_names()


def test_ad_hoc_rules_are_not_recorded(demo_workspace: Workspace) -> None:
    session = demo_workspace.session()
    report = check("main.orders", [{"range": {"column": "order_id", "max": 0}}], session=session)
    assert report.status == "fail" and not report.recorded
    assert QualityStore(demo_workspace.meta).latest("main.orders") is None
    recorded = check("main.orders", [{"not_null": "order_id"}], session=session, record=True)
    assert recorded.recorded


def test_write_failures_copies_rows_to_quarantine_and_deletes_nothing(
    demo_workspace: Workspace,
) -> None:
    session = demo_workspace.session()
    before = demo_workspace.catalog.get("main.orders").row_count
    rules: list[dict[str, Any]] = [
        {"range": {"column": "order_id", "max": 40}},
        {"accepted_values": {"column": "channel", "values": ["web"]}},
        {"sql": "SELECT * FROM {table} WHERE order_id = 45", "name": "no_45"},
    ]
    report = check("main.orders", rules, session=session, write_failures=True)
    assert demo_workspace.catalog.get("main.orders").row_count == before
    quarantined = session.sql(
        "SELECT _dap_rule, _dap_reason, _dap_record FROM main.orders__quarantine"
    )
    expected = session.sql(
        "SELECT count(*) AS n FROM main.orders WHERE order_id > 40 OR channel <> 'web'"
    )["n"][0]
    assert report.quarantined == quarantined.height == expected + 1  # 45 twice: two statements
    both = quarantined.filter(pl.col("_dap_rule") == "range_order_id; accepted_values_channel")
    assert both.height > 0 and all(
        "is above the maximum 40; channel = '" in r for r in both["_dap_reason"]
    )
    assert quarantined.filter(pl.col("_dap_rule") == "no_45").height == 1


def test_check_sees_only_the_rows_the_checker_may_read(governed: Workspace) -> None:
    rules: list[dict[str, Any]] = [
        {"accepted_values": {"column": "region", "values": ["EMEA"]}},
        {"row_count": {"min": 1}},
    ]
    admin = check("main.customers", rules, session=governed.session(), record=True)
    assert admin.status == "fail"
    ann = governed.session(Principal("ann"))
    mine = check("main.customers", rules, session=ann)
    emea = ann.sql("SELECT count(*) AS n FROM main.customers")["n"][0]
    assert mine.status == "pass" and mine.rows == emea < (admin.rows or 0)
    assert not mine.recorded  # a filtered view's results are not the table's
    with pytest.raises(QueryRefused, match="MODIFY"):  # ad hoc rules recorded: a write
        check("main.customers", rules, session=ann, record=True)
    set_rules("main.customers", rules, session=governed.session())
    assert not check("main.customers", session=ann).recorded
    with pytest.raises(QueryRefused, match="not stored"):
        check("main.customers", session=ann, record=True)
    assert QualityStore(governed.meta).badge("main.customers")["status"] == "fail"
    # Masks apply too: ann's emails are masked, so a pattern on raw emails fails for her.
    pattern = [{"regex": {"column": "email", "pattern": r"^[^*@]+@example\.com$"}}]
    assert check("main.customers", pattern, session=governed.session()).status == "pass"
    assert check("main.customers", pattern, session=ann).status == "fail"


def test_a_foreign_key_into_an_unreadable_table_is_refused(governed: Workspace) -> None:
    governed.admin("tester").grant("SELECT", "main.orders", "user", "bob")
    bob = governed.session(Principal("bob"))
    rule = [{"foreign_key": {"column": "customer_id", "references": "main.customers.customer_id"}}]
    assert check("main.orders", [{"not_null": "order_id"}], session=bob).status == "pass"
    with pytest.raises(QueryRefused):
        check("main.orders", rule, session=bob)
    with pytest.raises(QueryRefused):
        validate(pl.DataFrame({"customer_id": [1]}), rule, session=bob)
    # A table bob may not read is answered as a missing one: no existence oracle.
    with pytest.raises(UnknownTable) as refused:
        check("main.customers", [{"not_null": "email"}], session=bob)
    with pytest.raises(UnknownTable) as missing:
        check("main.customerz", [{"not_null": "email"}], session=bob)
    assert str(refused.value).replace("customers", "X") == str(missing.value).replace(
        "customerz", "X"
    )


def test_setting_rules_and_writing_failures_need_modify(governed: Workspace) -> None:
    ann = governed.session(Principal("ann"))
    with pytest.raises(QueryRefused):
        set_rules("main.orders", [{"not_null": "order_id"}], session=ann)
    with pytest.raises(QueryRefused):
        check("main.orders", [{"not_null": "order_id"}], session=ann, write_failures=True)
    set_rules("main.orders", [{"not_null": "order_id"}], session=governed.session())
    assert check("main.orders", session=ann).recorded  # ann sees all of orders


def test_check_on_hostile_column_names(workspace: Workspace) -> None:
    col = 'x"y; DROP TABLE main.t; --'
    workspace.catalog.create_table(
        "hostile", pl.DataFrame({col: ["a'; --", "b", None], "n": [1, 1, 2]})
    )
    session = workspace.session()
    report = check(
        "main.hostile",
        [
            {"accepted_values": {"column": col, "values": ["b"]}},
            {"unique": "n"},
            {"regex": {"column": col, "pattern": "^[ab]$"}},
        ],
        session=session,
        write_failures=True,
    )
    assert [(r.rule, r.failures) for r in report.results] == [
        (f"accepted_values_{col}", 1),
        ("unique_n", 1),
        (f"regex_{col}", 1),
    ]
    assert session.sql("SELECT count(*) AS n FROM main.hostile")["n"][0] == 3
    assert report.quarantined >= 1


def test_unknown_columns_and_tables(demo_workspace: Workspace) -> None:
    session = demo_workspace.session()
    with pytest.raises(QualityError, match="no column 'nope' in main.orders"):
        check("main.orders", [{"not_null": "nope"}], session=session)
    with pytest.raises(Exception, match="nowhere"):
        check("main.nowhere", [{"not_null": "x"}], session=session)


# -- CLI and magic ----------------------------------------------------------------------------


def dap(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAP_")}
    env.update({"DAP_HOME": str(home), "DAP_USER": "tester"})
    return subprocess.run([DAP, *args], capture_output=True, text=True, env=env, timeout=120)


def test_cli_rules_check_show(demo_workspace: Workspace, tmp_path: Path) -> None:
    home = demo_workspace.settings.home
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "- not_null: order_id\n"
        "- accepted_values: {column: status, values: [none]}\n"
        "  severity: warn\n"
    )
    assert "no quality rules" in dap("quality", "rules", "main.orders", home=home).stdout
    stored = dap("quality", "rules", "main.orders", "--set", str(rules), home=home)
    assert stored.returncode == 0 and "2 rules stored" in stored.stdout, stored.stderr
    assert "accepted_values:" in dap("quality", "rules", "orders", home=home).stdout
    ok = dap("quality", "check", "main.orders", home=home)
    assert ok.returncode == 0, ok.stderr
    assert "main.orders: warn (1 of 2 rules failed); results stored" in ok.stdout
    failing = tmp_path / "failing.yaml"
    failing.write_text("- range: {column: order_id, max: 3}\n")
    bad = dap("quality", "check", "main.orders", "--rules", str(failing), home=home)
    assert bad.returncode == 1 and "main.orders: fail" in bad.stdout
    assert "results stored" not in bad.stdout
    shown = dap("quality", "show", "main.orders", home=home)
    assert "accepted_values_status" in shown.stdout and "main.orders: warn" in shown.stdout
    error = dap(
        "quality", "check", "main.orders", "--rules", str(tmp_path / "none.yaml"), home=home
    )
    assert error.returncode == 1 and error.stderr.startswith("error: cannot read the rules file")
    assert len(error.stderr.strip().splitlines()) == 1


@pytest.fixture
def shell(demo_workspace: Workspace) -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    ip.register_magics(DapMagics(shell=ip, session_factory=demo_workspace.session))
    yield ip
    InteractiveShell.clear_instance()


def test_magic_runs_the_check_and_shows_a_frame(
    shell: InteractiveShell, demo_workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    set_rules("main.orders", [{"not_null": "order_id"}], session=demo_workspace.session())
    frame = shell.run_line_magic("dap", "quality main.orders")
    assert isinstance(frame, pl.DataFrame)
    assert frame.select("rule", "status", "failures").rows() == [("not_null_order_id", "pass", 0)]
    with pytest.raises(UsageError, match="no quality rules for main.customers"):
        shell.run_line_magic("dap", "quality main.customers")
    with pytest.raises(UsageError, match="name one table"):
        shell.run_line_magic("dap", "quality")
    shell.run_line_magic("dap", "help")
    assert "%dap quality TABLE" in capsys.readouterr().out
