"""The governed path: identity, parameters, limits, errors and the audit record of each query."""

from __future__ import annotations

import polars as pl
import pytest

from dap_kernel.errors import DapError, QueryRefused, SqlSyntaxError, UnknownTable
from dap_kernel.governance.identity import Principal
from dap_kernel.governance.policy import AllowAllPolicy, Decision
from dap_kernel.session import Workspace


def test_query_returns_polars_and_records_an_audit_entry(demo_workspace: Workspace) -> None:
    session = demo_workspace.session()
    frame = session.sql("SELECT region, count(*) AS n FROM customers GROUP BY region ORDER BY 1")
    assert isinstance(frame, pl.DataFrame)
    assert frame["region"].to_list() == ["AMER", "APAC", "EMEA"]
    assert frame["n"].sum() == 200
    record = demo_workspace.audit.tail(1)[0]
    assert (record.principal, record.decision, record.row_count) == ("tester", "allowed", 3)
    assert record.tables == ["main.customers"]


def test_named_and_positional_parameters_are_bound(demo_workspace: Workspace) -> None:
    s = demo_workspace.session()
    hostile = "EMEA' OR '1'='1"
    assert (
        s.sql("SELECT count(*) AS n FROM customers WHERE region = :r", {"r": hostile})["n"][0] == 0
    )
    emea = s.sql("SELECT count(*) AS n FROM customers WHERE region = $r", {"r": "EMEA"})["n"][0]
    assert 0 < emea < 200
    assert s.sql("SELECT count(*) AS n FROM customers WHERE region = ?", ["EMEA"])["n"][0] == emea


def test_missing_parameter_is_a_clear_error(demo_workspace: Workspace) -> None:
    with pytest.raises(DapError, match="no value for parameter :r"):
        demo_workspace.session().sql("SELECT * FROM customers WHERE region = :r", {})


def test_limit(demo_workspace: Workspace) -> None:
    assert demo_workspace.session().sql("SELECT * FROM orders", limit=7).height == 7


@pytest.mark.parametrize(
    ("sql", "error", "decision"),
    [
        ("SELECT * FROM ordrs", UnknownTable, "failed"),
        ("SELEC 1", SqlSyntaxError, "failed"),
        ("SELECT * FROM read_csv('/etc/passwd')", QueryRefused, "refused"),
        ("DELETE FROM orders", QueryRefused, "refused"),
    ],
)
def test_bad_statements_are_refused_and_audited(
    demo_workspace: Workspace, sql: str, error: type[Exception], decision: str
) -> None:
    with pytest.raises(error):
        demo_workspace.session().sql(sql)
    record = demo_workspace.audit.tail(1)[0]
    assert record.decision == decision
    assert record.statement == sql


def test_policy_refusal_stops_before_the_engine(demo_workspace: Workspace) -> None:
    class DenyOrders(AllowAllPolicy):
        def authorize(self, principal: Principal, action: str, tables: object) -> Decision:
            allowed = "main.orders" not in tables  # type: ignore[operator]
            return Decision(allowed, f"{principal.name} may not read main.orders")

    demo_workspace.policy = DenyOrders()
    session = demo_workspace.session(Principal(name="mallory"))
    with pytest.raises(QueryRefused, match="mallory may not read main.orders"):
        session.sql("SELECT * FROM orders")
    assert session.sql("SELECT count(*) AS n FROM products")["n"][0] > 0
    assert demo_workspace.audit.tail(2)[1].principal == "mallory"


def test_whoami_names_the_local_user(workspace: Workspace) -> None:
    me = workspace.session().whoami()
    assert me["user"] == "tester"
    assert me["source"] == "local"


def test_query_timeout_stops_a_long_query(demo_workspace: Workspace) -> None:
    from dataclasses import replace

    from dap_kernel.errors import QueryTimeout

    demo_workspace.settings = replace(demo_workspace.settings, query_timeout_s=0.3)
    with pytest.raises(QueryTimeout, match="longer than 0.3 s"):
        demo_workspace.session().sql(
            "SELECT count(*) FROM range(100000000000) a, range(10) b WHERE a.range % 7 = b.range"
        )
    assert demo_workspace.audit.tail(1)[0].reason.startswith("query_timeout")
    assert demo_workspace.session().sql("SELECT 1 AS one")["one"][0] == 1
