"""The name attacks over REST, against a real `dap serve`: refused with a JSON 4xx, or only
permitted rows — for a user with a filtered grant (ann) and one with no grant (bob)."""

from __future__ import annotations

import httpx
import pytest

from tests.attacks import ERROR_ATTACKS, NAME_ATTACKS, leaks
from tests.conftest import Service

pytestmark = pytest.mark.slow


def _query(service: Service, user: str, sql: str) -> httpx.Response:
    return httpx.post(
        f"{service.url}/dap/api/v1/query",
        json={"sql": sql},
        headers={"Authorization": f"Bearer {service.keys[user]}"},
        timeout=60,
    )


@pytest.mark.parametrize("user", ["ann", "bob"])
def test_name_attacks_over_rest(dap_service: Service, user: str) -> None:
    answered = 0
    for sql in [*NAME_ATTACKS, *ERROR_ATTACKS]:
        reply = _query(dap_service, user, sql)
        body = reply.json()
        assert reply.status_code in (200, 400, 403, 404), (sql, reply.status_code, body)
        if reply.status_code == 200:
            answered += 1
            assert not leaks(body["rows"], no_grant=user == "bob"), sql
        else:
            assert set(body) == {"error", "message"} and "Traceback" not in body["message"]
            assert not leaks(body["message"], no_grant=user == "bob"), (sql, body)
    if user == "ann":  # the suite also exercises statements that are answered
        assert answered > 10


def test_a_user_without_grant_is_refused_even_after_others_queried(dap_service: Service) -> None:
    """The old cache hole: once anyone had read a table, a shadowing CTE skipped bob's check."""
    sql = "SELECT email FROM customers UNION ALL (WITH customers AS (SELECT 'x') FROM customers)"
    assert _query(dap_service, "tester", "SELECT count(*) FROM customers").status_code == 200
    assert _query(dap_service, "ann", sql).status_code == 200
    reply = _query(dap_service, "bob", sql)
    assert reply.status_code == 403 and "bob may not SELECT main.customers" in reply.text
