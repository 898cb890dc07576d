"""One corpus, every door, the same answer: in-process, the magics (in-process and over HTTP)
and REST against a real `dap serve`, for two users whose row filters differ."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import polars as pl
import pytest
from IPython.core.interactiveshell import InteractiveShell

from dap_kernel.errors import DapError
from dap_kernel.governance.identity import Principal
from dap_kernel.magics import DapMagics
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings
from dap_kernel.transport import HttpSession
from tests.attacks import NAME_ATTACKS
from tests.conftest import Service

pytestmark = pytest.mark.slow

CORPUS = [
    "SELECT region, count(*) AS n FROM customers GROUP BY ALL ORDER BY ALL",
    "SELECT customer_id, email, name FROM customers ORDER BY customer_id LIMIT 20",
    "SELECT c.region, count(o.order_id) AS orders FROM customers c "
    "JOIN orders o USING (customer_id) GROUP BY ALL ORDER BY ALL",
    "WITH customers AS (SELECT * FROM customers) SELECT count(*) AS n FROM customers",
    "SELECT count(*) AS n FROM orders WHERE customer_id IN (SELECT customer_id FROM customers)",
    "SELECT max(email) AS m, min(region) AS r FROM customers",
    "SELECT * FROM customers WHERE region = 'APAC' ORDER BY customer_id LIMIT 5",
    *NAME_ATTACKS[:20],
]
Answer = tuple[str, Any]  # ("rows", sorted rows) or ("error", error code)


def _frame_answer(run: Callable[[], pl.DataFrame]) -> Answer:
    try:
        frame = run()
    except DapError as e:
        return ("error", e.code)
    return ("rows", sorted([str(v) for v in row] for row in frame.rows()))


def _rest_answer(service: Service, user: str, sql: str) -> Answer:
    reply = httpx.post(
        f"{service.url}/dap/api/v1/query",
        json={"sql": sql, "limit": 10_000},
        headers={"Authorization": f"Bearer {service.keys[user]}"},
        timeout=60,
    )
    body = reply.json()
    if reply.status_code != 200:
        return ("error", body["error"])
    return ("rows", sorted([str(v) for v in row] for row in body["rows"]))


@pytest.fixture(scope="module")
def local(dap_service: Service) -> Iterator[Workspace]:
    """The service's own DAP home, opened in this process as well."""
    ws = Workspace(Settings(home=dap_service.home, user="tester"))
    yield ws
    ws.close()


def _magic(session_factory: Callable[[], Any], sql: str) -> pl.DataFrame:
    shell = InteractiveShell.instance()
    shell.register_magics(DapMagics(shell=shell, session_factory=session_factory))
    try:
        result = shell.run_cell_magic("dap", "sql", sql)
        assert isinstance(result, pl.DataFrame)
        return result
    except Exception as e:  # UsageError from a magic: one line, the core's error inside
        raise DapError(str(e)) from e
    finally:
        InteractiveShell.clear_instance()


@pytest.mark.parametrize("user", ["ann", "raj"])
def test_every_door_gives_the_same_answer(
    dap_service: Service, local: Workspace, user: str
) -> None:
    session = local.session(Principal(user, source="test"))
    remote = HttpSession(dap_service.url, api_key=dap_service.keys[user])
    answers: dict[str, list[Answer]] = {"python": [], "magic": [], "magic-http": [], "rest": []}
    try:
        for sql in CORPUS:
            answers["python"].append(_frame_answer(lambda sql=sql: session.sql(sql)))
            answers["rest"].append(_rest_answer(dap_service, user, sql))
            answers["magic"].append(_frame_answer(lambda sql=sql: _magic(lambda: session, sql)))
            answers["magic-http"].append(_frame_answer(lambda sql=sql: _magic(lambda: remote, sql)))
    finally:
        remote.close()
    python = answers["python"]
    assert sum(kind == "rows" for kind, _ in python) > len(CORPUS) // 2
    for door in ("rest",):
        assert answers[door] == python, door
    for door in ("magic", "magic-http"):  # magics turn errors into one line: compare the rows
        assert [a for a in answers[door] if a[0] == "rows"] == [
            a for a in python if a[0] == "rows"
        ], door
        assert [a[0] for a in answers[door]] == [a[0] for a in python], door


def test_two_users_differ_and_catalogs_agree(dap_service: Service, local: Workspace) -> None:
    """The differential has teeth: ann's and raj's rows differ; each one's catalog is the same
    in-process, through the HTTP client and over REST."""
    sql = CORPUS[0]
    assert _rest_answer(dap_service, "ann", sql) != _rest_answer(dap_service, "raj", sql)
    for user in ("ann", "raj", "bob"):
        mine = sorted(t.qualified_name for t in local.session(Principal(user)).visible_tables())
        with HttpSession(dap_service.url, api_key=dap_service.keys[user]) as remote:
            over_http = sorted(t.qualified_name for t in remote.visible_tables())
        reply = httpx.get(
            f"{dap_service.url}/dap/api/v1/catalog",
            headers={"Authorization": f"Bearer {dap_service.keys[user]}"},
            timeout=30,
        ).json()
        rest = sorted(
            f"{t['schema']}.{t['name']}" if "schema" in t else t["name"] for t in reply["tables"]
        )
        assert mine == over_http, user
        assert [n.split(".")[-1] for n in mine] == [n.split(".")[-1] for n in rest], user
