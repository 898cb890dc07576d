"""Liveness, readiness, draining and per-key rate limits of the REST service (in-process; the
real `dap serve` process under SIGTERM is in test_graceful_shutdown.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from dap_kernel.session import Workspace
from tests.server.conftest import Api


def _runtime(jp_serverapp: Any) -> Any:
    return jp_serverapp.web_app.settings["dap_state"].runtime


async def test_live_and_ready_answer_without_identity_and_tell_nothing(
    api: Api, governed: Workspace
) -> None:
    live = await api("GET", "health/live", as_=None)
    assert live.status == 200 and live.body == {"status": "live"}
    ready = await api("GET", "health/ready", as_=None)
    assert ready.status == 200
    assert ready.body == {"status": "ready", "checks": {"metadata": "ok", "engine": "ok"}}
    home = str(governed.settings.home)
    for reply in (live, ready):  # no version, path or URL of anything behind the service
        text = reply.raw.decode()
        assert home not in text and "sqlite" not in text and "version" not in text


async def test_the_openapi_document_lists_the_probes_as_public(api: Api) -> None:
    doc = (await api("GET", "openapi.json")).body
    for path in ("/dap/api/v1/health/live", "/dap/api/v1/health/ready"):
        operation = doc["paths"][path]["get"]
        assert operation["security"] == []
    ready = doc["paths"]["/dap/api/v1/health/ready"]["get"]["responses"]
    assert ready["503"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    query = doc["paths"]["/dap/api/v1/query"]["post"]["responses"]
    assert {"429", "503"} <= set(query)


async def test_a_draining_server_fails_readiness_and_refuses_new_queries(
    api: Api, jp_serverapp: Any, jp_fetch: Any
) -> None:
    assert (await api("POST", "query", as_="ann", body={"sql": "SELECT 1 AS x"})).status == 200
    _runtime(jp_serverapp).begin_drain()
    ready = await api("GET", "health/ready", as_=None)
    assert ready.status == 503 and ready.body["error"] == "shutting_down"
    assert int(ready.headers["Retry-After"]) >= 1
    # health answers its own model, 503 too (the api helper expects the error shape).
    health = await jp_fetch("dap", "api", "v1", "health", raise_error=False)
    body = json.loads(health.body)
    assert health.code == 503 and body["ready"] is False
    assert body["checks"]["shutdown"] == "draining"
    assert (await api("GET", "health/live", as_=None)).status == 200  # still alive
    refused = await api("POST", "query", as_="ann", body={"sql": "SELECT 1 AS x"})
    assert refused.status == 503 and refused.body == {
        "error": "shutting_down",
        "message": "the service is shutting down",
    }
    assert "Retry-After" in refused.headers
    # What is not a new query still answers: the catalog, a finished query's pages.
    assert (await api("GET", "catalog", as_="ann")).status == 200


async def test_a_key_over_its_rate_gets_429_and_recovers_after_the_refill(
    api: Api, keys: dict[str, str], governed: Workspace
) -> None:
    # 60 a minute: bursts of 10, one more token a second.
    keys["limited"] = governed.apikeys.create("ann", "limited", rate_limit_per_min=60)[1]
    statuses = [(await api("GET", "whoami", as_="limited")).status for _ in range(10)]
    assert statuses == [200] * 10
    over = await api("GET", "whoami", as_="limited")
    assert over.status == 429 and over.body["error"] == "rate_limited"
    assert "60 a minute" in over.body["message"] and "\n" not in over.body["message"]
    assert over.headers["Retry-After"] == "1"
    # Another key of the same user, another user, and the probes: unaffected.
    assert (await api("GET", "whoami", as_="ann")).status == 200
    assert (await api("GET", "whoami", as_="raj")).status == 200
    for _ in range(30):
        assert (await api("GET", "health/live", as_=None)).status == 200
    await asyncio.sleep(1.2)  # one token refilled
    assert (await api("GET", "whoami", as_="limited")).status == 200
    assert (await api("GET", "whoami", as_="limited")).status == 429


async def test_the_service_default_limits_every_caller(api: Api, jp_serverapp: Any) -> None:
    from dap_kernel.ratelimit import Rate, RateLimiter

    _runtime(jp_serverapp).limiter = RateLimiter(Rate(per_min=12))  # bursts of 2
    assert [(await api("GET", "whoami", as_="raj")).status for _ in range(3)] == [200, 200, 429]
    # A Jupyter-authenticated caller (no key) spends their user's bucket.
    assert [(await api("GET", "whoami")).status for _ in range(3)] == [200, 200, 429]
    for _ in range(10):
        assert (await api("GET", "health", as_=None)).status == 200
        assert (await api("GET", "health/ready", as_=None)).status == 200


async def test_a_key_with_rate_0_is_not_limited(
    api: Api, jp_serverapp: Any, keys: dict[str, str], governed: Workspace
) -> None:
    from dap_kernel.ratelimit import Rate, RateLimiter

    _runtime(jp_serverapp).limiter = RateLimiter(Rate(per_min=6))  # bursts of 1
    keys["unlimited"] = governed.apikeys.create("raj", "unlimited", rate_limit_per_min=0)[1]
    assert [(await api("GET", "whoami", as_="unlimited")).status for _ in range(5)] == [200] * 5
    assert [(await api("GET", "whoami", as_="raj")).status for _ in range(2)] == [200, 429]


async def test_only_a_manager_gives_a_key_its_own_rate(api: Api) -> None:
    body = {"name": "fast", "rate_limit_per_min": 100000}
    refused = await api("POST", "apikeys", as_="ann", body=body)
    assert refused.status == 403 and "rate limit" in refused.body["message"]
    made = await api("POST", "apikeys", body=body | {"user": "ann"})
    assert made.status == 201 and made.body["rate_limit_per_min"] == 100000
    listed = (await api("GET", "apikeys")).body["keys"]
    assert [k["rate_limit_per_min"] for k in listed if k["key_id"] == made.body["key_id"]] == [
        100000
    ]
    assert json.dumps(made.body).count(made.body["token"]) == 1
