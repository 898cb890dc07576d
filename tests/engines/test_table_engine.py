"""A table set to an engine runs there when a statement names none (`dap catalog engine`),
with the same governance as on the default engine."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from dap_kernel.errors import DapError, QueryFailed, QueryRefused, UnknownTable
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings

from .conftest import as_user


@pytest.fixture
def ws(governed_home: Path, tmp_path: Path) -> Iterator[Workspace]:
    home = tmp_path / "home"
    shutil.copytree(governed_home, home)
    workspace = Workspace(Settings(home=home, user="tester"))
    yield workspace
    workspace.close()


def engine_of_last(ws: Workspace, user: str) -> str:
    return ws.audit.tail(limit=1, principal=user)[-1].reason


def test_a_statement_runs_on_its_tables_engine(ws: Workspace) -> None:
    tester = ws.session()
    on_duckdb = tester.sql("SELECT count(*) AS n, sum(order_id) AS s FROM orders")
    assert tester.set_table_engine("orders", "chdb") == "chdb"
    assert ws.catalog.get("orders").options["engine"] == "chdb"
    on_chdb = tester.sql("SELECT count(*) AS n, sum(order_id) AS s FROM orders")
    assert on_chdb.to_dicts() == on_duckdb.to_dicts()
    assert engine_of_last(ws, "tester") == "engine chdb"
    # A table without a setting follows the one that has it; naming an engine wins.
    tester.sql("SELECT count(*) AS n FROM orders o JOIN customers c USING (customer_id)")
    assert engine_of_last(ws, "tester") == "engine chdb"
    tester.sql("SELECT count(*) AS n FROM orders", engine="duckdb")
    assert engine_of_last(ws, "tester") == ""
    tester.sql("SELECT count(*) AS n FROM customers")
    assert engine_of_last(ws, "tester") == ""
    tester.set_table_engine("orders", None)
    tester.sql("SELECT count(*) AS n FROM orders")
    assert engine_of_last(ws, "tester") == ""


@pytest.mark.parametrize("where", ["table", "schema"])
def test_governance_holds_on_the_tables_engine(ws: Workspace, where: str) -> None:
    sql = "SELECT region, email FROM customers ORDER BY email"
    before = as_user(ws, "ann").sql(sql)
    if where == "table":
        ws.session().set_table_engine("customers", "chdb")
    else:
        ws.session().set_schema_engine("main", "chdb")
    after = as_user(ws, "ann").sql(sql)
    assert engine_of_last(ws, "ann") == "engine chdb"
    assert after.to_dicts() == before.to_dicts()
    assert set(after["region"]) == {"EMEA"}  # ann's row filter
    raw = set(ws.session().sql("SELECT email FROM customers")["email"])
    assert after.height > 0 and set(after["email"]).isdisjoint(raw)  # ann's mask
    with pytest.raises(QueryRefused):
        as_user(ws, "bob").sql(sql)


def test_tables_on_different_engines_need_a_named_one(ws: Workspace) -> None:
    tester = ws.session()
    tester.set_table_engine("orders", "chdb")
    tester.set_table_engine("customers", "duckdb")
    sql = "SELECT count(*) AS n FROM orders o JOIN customers c USING (customer_id)"
    with pytest.raises(QueryFailed, match=r"main\.customers on duckdb, main\.orders on chdb"):
        tester.sql(sql)
    assert tester.sql(sql, engine="duckdb")["n"][0] > 0


def test_setting_an_engine_needs_modify_and_a_known_engine(ws: Workspace) -> None:
    with pytest.raises(QueryRefused):
        as_user(ws, "ann").set_table_engine("orders", "chdb")
    with pytest.raises(DapError, match="unknown engine 'oracle'"):
        ws.session().set_table_engine("orders", "oracle")
    assert "engine" not in ws.catalog.get("orders").options
    records = ws.audit.tail(limit=5, action="table_engine")
    assert records and records[0].decision == "refused"


def test_a_registered_csv_with_an_engine_still_reads(ws: Workspace, tmp_path: Path) -> None:
    """The engine setting is DAP's own option, never handed to a file reader."""
    csv = tmp_path / "rates.csv"
    csv.write_text("code;rate\nEUR;1.0\nUSD;1.1\n")
    tester = ws.session()
    tester.register_file("rates", csv)
    tester.set_table_engine("rates", "duckdb")
    assert tester.sql("SELECT count(*) AS n FROM rates")["n"][0] == 2


def test_the_cli_sets_shows_and_clears_a_tables_engine(ws: Workspace) -> None:
    from tests.kernel.test_cli import dap

    home = ws.settings.home
    assert (
        dap("catalog", "engine", "orders", "chdb", home=home, DAP_USER="tester").stdout
        == "orders: chdb\n"
    )
    assert dap("catalog", "engine", "orders", home=home, DAP_USER="tester").stdout == "chdb\n"
    ran = dap("sql", "SELECT count(*) AS n FROM orders", home=home, DAP_USER="tester")
    assert ran.returncode == 0, ran.stderr
    assert ws.audit.tail(limit=1, principal="tester")[0].reason == "engine chdb"
    cleared = dap("catalog", "engine", "orders", "--default", home=home, DAP_USER="tester")
    assert cleared.stdout == "orders: default (its schema's, else DAP_ENGINE)\n"
    wrong = dap("catalog", "engine", "orders", "oracle", home=home, DAP_USER="tester")
    assert wrong.returncode == 1 and "unknown engine 'oracle'" in wrong.stderr


def test_a_schemas_tables_follow_its_engine_unless_they_name_their_own(ws: Workspace) -> None:
    tester = ws.session()
    tester.create_table("sales.facts", pl.DataFrame({"id": [1, 2, 3]}))
    assert tester.set_schema_engine("sales", "chdb") == "chdb"
    assert tester.sql("SELECT sum(id) AS s FROM sales.facts")["s"][0] == 6
    assert engine_of_last(ws, "tester") == "engine chdb"
    tester.sql("SELECT count(*) AS n FROM orders")  # main is not sales
    assert engine_of_last(ws, "tester") == ""
    tester.set_schema_engine("main", "chdb")
    tester.sql("SELECT count(*) AS n FROM orders")
    assert engine_of_last(ws, "tester") == "engine chdb"
    # A table's own setting wins over its schema's
    tester.set_table_engine("orders", "duckdb")
    tester.sql("SELECT count(*) AS n FROM orders")
    assert engine_of_last(ws, "tester") == ""
    sql = "SELECT count(*) AS n FROM orders o JOIN customers c USING (customer_id)"
    with pytest.raises(QueryFailed, match=r"main\.customers on chdb, main\.orders on duckdb"):
        tester.sql(sql)
    tester.set_schema_engine("main", None)
    assert tester.sql(sql)["n"][0] > 0
    assert engine_of_last(ws, "tester") == ""
    assert ws.catalog.schema_options("main") == {}


def test_the_engine_setting_is_shown_for_tables_the_caller_may_read(ws: Workspace) -> None:
    """Every door asks the core: the setting that runs the caller's statements (a non-owner is
    not shown a table's options, yet its engine decides where they run), for tables they may
    read."""
    ws.session().set_schema_engine("main", "chdb")
    assert ws.session().engine_setting("orders") == ("chdb", "schema")
    assert ws.session().engine_setting("main", schema=True) == ("chdb", "schema")
    ws.session().set_table_engine("orders", "duckdb")
    assert as_user(ws, "ann").engine_setting("orders") == ("duckdb", "table")
    with pytest.raises(QueryRefused):  # as `dap describe` refuses bob this table
        as_user(ws, "bob").engine_setting("customers")
    with pytest.raises(UnknownTable):
        ws.session().engine_setting("no_such_table")
    with pytest.raises(DapError, match="invalid schema name"):
        ws.session().engine_setting("main.orders", schema=True)


def test_setting_a_schemas_engine_needs_modify_on_it_and_a_known_engine(ws: Workspace) -> None:
    """An analyst who may read a schema cannot move its tables to another engine."""
    with pytest.raises(QueryRefused):
        as_user(ws, "ann").set_schema_engine("main", "chdb")
    with pytest.raises(DapError, match="unknown engine 'oracle'"):
        ws.session().set_schema_engine("main", "oracle")
    with pytest.raises(DapError, match="invalid schema name"):
        ws.session().set_schema_engine("main; DROP", "chdb")
    assert ws.catalog.schema_options("main") == {}
    records = ws.audit.tail(limit=5, action="schema_engine")
    assert records and records[-1].decision == "refused"


def test_the_cli_sets_shows_and_clears_a_schemas_engine(ws: Workspace) -> None:
    from tests.kernel.test_cli import dap

    home = ws.settings.home
    run = dap("catalog", "engine", "--schema", "main", "chdb", home=home, DAP_USER="tester")
    assert run.stdout == "main: chdb\n", run.stderr
    shown = dap("catalog", "engine", "--schema", "main", home=home, DAP_USER="tester")
    assert shown.stdout == "chdb\n"
    table = dap("catalog", "engine", "orders", home=home, DAP_USER="tester")
    assert table.stdout == "chdb (its schema's)\n"
    ran = dap("sql", "SELECT count(*) AS n FROM orders", home=home, DAP_USER="tester")
    assert ran.returncode == 0, ran.stderr
    assert ws.audit.tail(limit=1, principal="tester")[0].reason == "engine chdb"
    clear = ("catalog", "engine", "--schema", "main", "--default")
    cleared = dap(*clear, home=home, DAP_USER="tester")
    assert cleared.stdout == "main: default (DAP_ENGINE)\n"
    table = dap("catalog", "engine", "orders", home=home, DAP_USER="tester")
    assert table.stdout == "default (DAP_ENGINE)\n"


def test_a_schemas_engine_set_in_another_process_is_followed_at_once(ws: Workspace) -> None:
    """The query path keeps catalog rows per metadata version; a schema's setting rides on
    them, so its change must bump that version for every process."""
    tester = ws.session()
    tester.sql("SELECT count(*) AS n FROM orders")  # rows kept under the current version
    other = Workspace(Settings(home=ws.settings.home, user="tester"))
    try:
        other.session().set_schema_engine("main", "chdb")
    finally:
        other.close()
    tester.sql("SELECT count(*) AS n FROM orders")
    assert engine_of_last(ws, "tester") == "engine chdb"


def test_rest_gives_the_in_process_answer_on_a_schemas_engine(
    demo_home: Path, tmp_path: Path
) -> None:
    """The same governed answer through both doors once a schema is moved to chDB; a user
    with no grant is refused over REST as in process."""
    from dap_kernel.transport import HttpSession
    from tests.conftest import served

    sql = "SELECT region, email FROM customers ORDER BY email"
    with served(demo_home, tmp_path) as service:
        ws = Workspace(Settings(home=service.home, user="tester"))
        try:
            ws.session().set_schema_engine("main", "chdb")
            in_process = as_user(ws, "ann").sql(sql)
            assert engine_of_last(ws, "ann") == "engine chdb"
            with HttpSession(service.url, api_key=service.keys["ann"]) as ann:
                over_rest = ann.sql(sql)
            assert _rest_record(ws, "ann").reason == "engine chdb"
            bob = HttpSession(service.url, api_key=service.keys["bob"])
            with bob, pytest.raises(QueryRefused):
                bob.sql(sql)
        finally:
            ws.close()
    assert over_rest.height > 0 and set(over_rest["region"]) == {"EMEA"}
    assert over_rest.to_dicts() == in_process.to_dicts()


def _rest_record(ws: Workspace, user: str) -> Any:
    """The newest audit record of ``user`` made over REST (the service writes it just after
    answering)."""
    deadline = time.monotonic() + 10
    while True:
        record = ws.audit.tail(limit=1, principal=user)[-1]
        if record.channel.startswith("rest") or time.monotonic() > deadline:
            assert record.channel.startswith("rest"), record
            return record
        time.sleep(0.05)
