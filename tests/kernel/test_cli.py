"""The `dap` command as a user runs it: a real subprocess, real exit codes, one-line errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DAP = shutil.which("dap", path=str(Path(sys.executable).parent)) or "dap"


def dap(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DAP_")}
    environ.update({"DAP_HOME": str(home), "DAP_USER": "cli-user", **env})
    return subprocess.run([DAP, *args], capture_output=True, text=True, env=environ, timeout=120)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("cli-home")
    assert dap("init", home=home).returncode == 0
    result = dap("demo", "--scale", "0.01", home=home)
    assert result.returncode == 0, result.stderr
    assert "demo data ready: 6 tables" in result.stdout
    assert "dashboard sales published" in result.stdout
    return home


def test_the_demo_has_a_tour_rules_lineage_and_a_dashboard(home: Path) -> None:
    rules = dap("quality", "show", "customers", home=home)
    assert rules.returncode == 0 and "unique_customer_id" in rules.stdout, rules.stdout
    assert "not been checked" not in rules.stdout  # checked once already
    lineage = dap("lineage", "orders", home=home)
    assert "downstream:\n  main.daily_sales" in lineage.stdout
    dashboards = dap("dashboard", "list", home=home)
    assert dashboards.stdout.startswith("sales\tSales")
    revenue = dap("sql", "SELECT sum(revenue) > 0 AS ok FROM daily_sales", "-f", "csv", home=home)
    assert revenue.stdout == "ok\ntrue\n"


def test_the_tours_scheduled_report_runs(home: Path) -> None:
    listed = dap("schedule", "list", home=home).stdout.split()
    assert "sales-weekly" in listed and "MON" in listed
    schedule_id = listed[0]
    ran = dap("schedule", "run", schedule_id, home=home)
    assert ran.returncode == 0, ran.stderr
    pdf = next((home / "reports" / schedule_id).glob("*/sales-weekly-*.pdf"))
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    assert "Weekly sales" in text and "EMEA" in text and "revenue" in text
    assert "cannot be shown in a static report" not in text  # the chart is drawn


def test_catalog_list_prints_one_table_per_line(home: Path) -> None:
    result = dap("catalog", "list", home=home)
    assert result.returncode == 0
    names = [line.split("\t")[0] for line in result.stdout.splitlines()]
    assert names == [
        "main.customers",
        "main.daily_sales",
        "main.experiment_exposures",
        "main.order_lines",
        "main.orders",
        "main.products",
        "main.web_events",
    ]


def test_sql_prints_the_result(home: Path) -> None:
    result = dap("sql", "SELECT count(*) AS n FROM customers", "--format", "csv", home=home)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "n\n100\n"
    table = dap("sql", "SELECT region FROM customers GROUP BY 1 ORDER BY 1", home=home)
    assert "EMEA" in table.stdout and "(3 rows)" in table.stdout


def test_sql_parameters_are_bound(home: Path) -> None:
    result = dap(
        "sql",
        "SELECT count(*) AS n FROM customers WHERE region = :r",
        "-p",
        "r=EMEA",
        "-f",
        "json",
        home=home,
    )
    assert result.returncode == 0, result.stderr
    assert '"n"' in result.stdout


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM ordrs", "did you mean orders"),
        ("SELECT * FRO orders", "SQL syntax error at line 1"),
        ("SELECT * FROM read_csv('/etc/passwd')", "not allowed"),
        ("DROP TABLE orders", "DROP statements are not allowed"),
        ("SELECT 1; SELECT 2", "one statement at a time"),
    ],
)
def test_failing_sql_exits_non_zero_with_one_line(home: Path, sql: str, message: str) -> None:
    result = dap("sql", sql, home=home)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_malformed_param_is_one_line(home: Path) -> None:
    result = dap("sql", "SELECT :r AS r", "-p", "r", home=home)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: --param takes NAME=VALUE"


def test_catalog_show_search_and_register(home: Path, tmp_path: Path) -> None:
    show = dap("catalog", "show", "customers", home=home)
    assert show.returncode == 0 and "email" in show.stdout and "PII" in show.stdout
    assert dap("catalog", "search", "pii", home=home).stdout.startswith("main.customers")
    csv = tmp_path / "targets.csv"
    csv.write_text("region,target\nEMEA,100\nAMER,200\n")
    registered = dap("catalog", "register", "targets", str(csv), home=home)
    assert registered.returncode == 0, registered.stderr
    assert "2 rows" in registered.stdout
    missing = dap("catalog", "register", "nothing", str(tmp_path / "missing.csv"), home=home)
    assert missing.returncode == 1 and "file not found" in missing.stderr


def test_wrong_meta_url_is_one_clear_line(tmp_path: Path) -> None:
    result = dap(
        "catalog", "list", home=tmp_path, DAP_META_URL="postgresql://dap:hunter2@127.0.0.1:1/dap"
    )
    assert result.returncode == 1
    assert "cannot open the metadata database" in result.stderr
    assert "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [[], ["sql"], ["catalog"], ["demo"], ["init"], ["up"]])
def test_help_for_every_command(command: list[str], tmp_path: Path) -> None:
    result = dap(*command, "--help", home=tmp_path)
    assert result.returncode == 0
    assert "Usage" in result.stdout
