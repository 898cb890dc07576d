"""The engine of a REST query: ``engine`` in the body, the same governed answer on each."""

from __future__ import annotations

import pytest

from tests.server.conftest import Api

pytest.importorskip("chdb")

SQL = "SELECT region, count(*) AS n, min(email) AS e FROM customers GROUP BY region"


async def test_a_query_names_its_engine(api: Api, spark_session: object) -> None:
    answers = {}
    for engine in ("duckdb", "chdb", "spark"):
        reply = await api("POST", "query", as_="ann", body={"sql": SQL, "engine": engine})
        assert reply.status == 200, reply.body
        answers[engine] = reply.body["rows"]
    assert answers["chdb"] == answers["duckdb"] == answers["spark"]
    assert [row[0] if isinstance(row, list) else row["region"] for row in answers["chdb"]] == [
        "EMEA"
    ]
    wrong = await api("POST", "query", as_="ann", body={"sql": SQL, "engine": "oracle"})
    assert wrong.status == 400


async def test_an_engine_this_server_is_not_set_up_for_is_the_callers_400(api: Api) -> None:
    """No DAP_CLICKHOUSE_URL here: one line saying what is missing, a 4xx (the caller may
    name another engine), never a 500 (found by the schemathesis run)."""
    reply = await api("POST", "query", as_="ann", body={"sql": SQL, "engine": "clickhouse"})
    assert reply.status == 400, reply.body
    assert reply.body["error"] == "engine_unavailable"
    assert "DAP_CLICKHOUSE_URL" in reply.body["message"]
    assert "\n" not in reply.body["message"]
