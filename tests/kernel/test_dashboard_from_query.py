"""The query builder's "Save as dashboard": a builder query published as a dashboard whose
queries run as each viewer, with everything the caller typed kept a string literal."""

from __future__ import annotations

import ast
import json
from typing import Any

import pytest

from dap_kernel.dashboards.generated import ChartChoice, publish_query
from dap_kernel.dashboards.store import gallery
from dap_kernel.errors import DapError, QueryRefused
from dap_kernel.governance.identity import Principal
from dap_kernel.querybuild import QuerySpec
from dap_kernel.session import Workspace

BY_REGION = QuerySpec.model_validate(
    {
        "table": "main.customers",
        "group_by": ["region"],
        "aggregates": [{"func": "count", "alias": "customers"}],
        "order_by": [{"column": "region"}],
    }
)
BAR = ChartChoice(kind="bar", x="region", y="customers")


def code_of(path: Any) -> str:
    return "".join(json.loads(path.read_text())["cells"][0]["source"])


def dashboard_as(code: str, session: Any) -> Any:
    """Run the generated cell as a viewer's kernel would, with that viewer's session."""
    scope: dict[str, Any] = {}
    exec(compile(code, "<dashboard>", "exec"), scope)  # the generated code under test
    d = scope["d"]
    d._session = session  # what viewer_session() gives the viewer's kernel
    d.refresh()
    return d


def test_a_builder_query_becomes_a_dashboard_each_viewer_sees_as_themselves(
    governed: Workspace,
) -> None:
    info = publish_query(
        governed.session(),
        "regions",
        BY_REGION,
        title="Customers by region",
        description="From the builder",
        chart=BAR,
        grants=["user:bob"],
    )
    assert info.owner == "tester" and info.title == "Customers by region"
    assert info.grants == ("user:bob",)
    assert [d.name for d in gallery(governed.session(Principal("bob")))] == ["regions"]
    code = code_of(info.path)
    assert "SELECT" in code and "customers" in code

    ann = dashboard_as(code, governed.session(Principal("ann")))
    raj = dashboard_as(code, governed.session(Principal("raj")))
    chart, table = ann.components
    assert chart.frame["region"].to_list() == ["EMEA"]
    assert table.frame["region"].to_list() == ["EMEA"]
    assert raj.components[0].frame["region"].to_list() == ["APAC"]
    # bob may open it, but its queries run as bob, who may read nothing
    bob = dashboard_as(code, governed.session(Principal("bob")))
    assert all(c.frame is None for c in bob.components)


def test_what_the_caller_typed_stays_a_string(governed: Workspace) -> None:
    hostile = '"""\nimport os; os.system("touch /tmp/owned")\n"""\' + str(1) + \''
    spec = QuerySpec.model_validate(
        {
            "table": "main.customers",
            "columns": ["region", "country"],
            "filters": [{"column": "country", "op": "=", "value": hostile}],
        }
    )
    info = publish_query(
        governed.session(), "hostile", spec, title=hostile, description=hostile, chart=None
    )
    tree = ast.parse(code_of(info.path))
    calls = {ast.unparse(n.func): n for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert set(calls) == {"Dashboard", "d.table"}
    title = calls["Dashboard"].args[0]
    assert isinstance(title, ast.Constant) and title.value == hostile
    source = next(
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Assign) and ast.unparse(n).startswith("SOURCE")
    )
    assert isinstance(source, ast.Constant) and hostile.replace("'", "''") in source.value
    d = dashboard_as(code_of(info.path), governed.session())
    assert d.components[0].frame.height == 0  # no country of that name: a value, not SQL


def test_refusals_come_before_anything_is_published(governed: Workspace) -> None:
    bob = governed.session(Principal("bob"))
    with pytest.raises(QueryRefused):
        publish_query(bob, "mine", BY_REGION)
    admin = governed.session()
    with pytest.raises(DapError, match="chart y='revenue' is not a column of the query"):
        publish_query(admin, "bad", BY_REGION, chart=ChartChoice("bar", "region", "revenue"))
    with pytest.raises(DapError, match="chart kind 'pie'"):
        publish_query(admin, "bad", BY_REGION, chart=ChartChoice("pie", "region", "customers"))
    with pytest.raises(DapError, match="dashboard name"):
        publish_query(admin, "Bad Name", BY_REGION)
    assert gallery(admin) == []
