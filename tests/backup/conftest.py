"""A governed DAP home built the way an operator builds one, and the queries it must keep
answering: the demo (``dap init --multi-user``, ``dap demo``), a row-filtered analyst, a masked
auditor (redact, e-mail and hash masks: the hash key lives in the encrypted secret store), a
connector with a password, a published dashboard, and ``main.events`` appended over versions."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import polars as pl
import pytest
from typer.testing import CliRunner

from dap_kernel.cli import app
from dap_kernel.connectors.registry import Connectors
from dap_kernel.dashboards.store import publish
from dap_kernel.governance.identity import Principal
from dap_kernel.session import Session, Workspace, reset_default_workspace
from dap_kernel.settings import Settings

ROWS_PER_APPEND = 40
CONNECTOR_URL = "postgresql://crm:s3cret-Pa55@crm.invalid:5432/crm"

# (user, SQL, as_of): the fixed list every restored home must answer exactly as before.
QUERIES: list[tuple[str, str, int | None]] = [
    ("tester", "SELECT count(*) AS n FROM customers", None),
    ("tester", "SELECT region, count(*) AS n FROM customers GROUP BY region ORDER BY region", None),
    ("tester", "SELECT customer_id, name, email, phone FROM customers ORDER BY 1 LIMIT 5", None),
    ("ann", "SELECT count(*) AS n FROM customers", None),
    ("ann", "SELECT customer_id, name, email, phone FROM customers ORDER BY 1 LIMIT 5", None),
    (
        "ann",
        "SELECT o.status, count(*) AS n FROM orders o JOIN customers c USING (customer_id) "
        "GROUP BY 1 ORDER BY 1",
        None,
    ),
    ("mia", "SELECT count(*) AS n FROM customers", None),
    ("mia", "SELECT customer_id, email, phone FROM customers ORDER BY 1 LIMIT 5", None),
    ("mia", "SELECT channel, count(*) AS n FROM orders GROUP BY 1 ORDER BY 1", None),
    (
        "tester",
        "SELECT p.category, round(sum(l.quantity * l.unit_price), 2) AS revenue "
        "FROM order_lines l JOIN products p USING (product_id) GROUP BY 1 ORDER BY 1",
        None,
    ),
    ("tester", "SELECT batch, count(*) AS n, sum(v) AS s FROM events GROUP BY 1 ORDER BY 1", 3),
    ("tester", "SELECT count(*) AS n FROM events", 1),
    ("ann", "SELECT count(*) AS n FROM events", 2),
]


def as_user(ws: Workspace, name: str) -> Session:
    if name == "tester":
        return ws.session()
    return ws.session(Principal(name=name, source="test"))


def answers(ws: Workspace) -> list[dict[str, Any]]:
    """Each query's columns and rows, or its error, as the user sees them."""
    out: list[dict[str, Any]] = []
    for user, sql, as_of in QUERIES:
        try:
            frame = as_user(ws, user).sql(sql, as_of=as_of)
            out.append({"columns": frame.columns, "rows": frame.rows()})
        except Exception as e:  # a refusal must be the same refusal
            out.append({"error": f"{type(e).__name__}: {e}"})
    return out


def events_frame(batch: int) -> pl.DataFrame:
    return pl.DataFrame(
        {"batch": [batch] * ROWS_PER_APPEND, "v": list(range(ROWS_PER_APPEND))},
        schema={"batch": pl.Int64, "v": pl.Int64},
    )


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def govern(ws: Workspace) -> None:
    """ann: EMEA rows only, masked; mia (auditors): every row, masked, order channel hashed."""
    admin = ws.admin("tester")
    admin.add_user("ann", {"region": "EMEA"})
    admin.add_user("mia", {"region": "APAC"})
    admin.add_member("group", "analysts", "user", "ann")
    admin.add_member("group", "auditors", "user", "mia")
    admin.add_member("role", "analyst", "group", "analysts")
    admin.add_member("role", "analyst", "group", "auditors")
    admin.add_row_filter(
        "main.customers", "is_member('auditors') OR region = current_user_attr('region')"
    )
    admin.set_mask("tag:pii", "redact")
    admin.set_mask("main.customers.email", "mask_email")
    admin.set_mask("main.orders.channel", "hash")


@dataclass
class Home:
    ws: Workspace
    settings: Settings
    before: list[dict[str, Any]]

    @property
    def path(self) -> Path:
        return self.settings.home


def build_home(
    home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, meta_url: str = ""
) -> Home:
    monkeypatch.setenv("DAP_HOME", str(home))
    if meta_url:
        monkeypatch.setenv("DAP_META_URL", meta_url)
    reset_default_workspace()
    cli("init", "--multi-user")
    cli("demo", "--scale", "0.01")
    reset_default_workspace()
    monkeypatch.delenv("DAP_META_URL", raising=False)
    settings = Settings(home=home, user="tester", meta_url=meta_url)
    ws = Workspace(settings)
    govern(ws)
    Connectors(ws.meta, ws.secrets).create("crm", CONNECTOR_URL, owner="tester")
    ws.catalog.create_table("events", events_frame(0), owner="tester")
    for batch in (1, 2, 3):
        ws.catalog.write("events", events_frame(batch), "append")
    ws.admin("tester").grant("SELECT", "main.events", "group", "analysts")
    notebook = tmp_path / "sales.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import dap_kernel as dap\ndap.sql('SELECT 1')")]
    nbformat.write(nb, notebook)
    publish(notebook, name="sales", grants=["group:analysts"], session=ws.session())
    return Home(ws, settings, answers(ws))


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Home]:
    home = build_home(tmp_path / "source-home", monkeypatch, tmp_path)
    yield home
    home.ws.close()


def new_database(server: str) -> str:
    """A fresh, empty PostgreSQL database on the shared test server."""
    import psycopg

    name = f"dap_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"
