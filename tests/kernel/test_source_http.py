"""REST/JSON API sources against a real local HTTP server (aiohttp on 127.0.0.1, in a thread).

The server misbehaves on purpose: 429s with Retry-After, 500s, slow pages, malformed records,
and it checks every kind of credential, including an OAuth2 token endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from dap_kernel.connectors.base import Extracted
from dap_kernel.connectors.http import ApiSource, OffsetPagination, read_api
from dap_kernel.errors import SourceError
from dap_kernel.session import Workspace
from tests.conftest import _free_port

API_KEY = "k3y-Sup3rS3cret"
CLIENT_ID = "dap-client"
CLIENT_SECRET = "cl1ent-S3cret-value"
FAST = {"backoff_s": 0.01, "backoff_max_s": 0.05}

ITEMS = [
    {"id": i, "name": f"item{i}", "updated_at": f"2024-01-0{i}T00:00:00Z"} for i in range(1, 8)
]


@dataclass
class State:
    """What the server saw, reset for every test."""

    hits: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    tokens: list[str] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    queries: list[dict[str, str]] = field(default_factory=list)
    revoke_after: int = 0  # revoke every token issued after this many good OAuth2 answers
    served: int = 0

    def reset(self) -> None:
        self.revoke_after = self.served = 0
        self.hits.clear()
        self.tokens.clear()
        self.revoked.clear()
        self.queries.clear()


def _app(state: State) -> web.Application:
    def seen(request: web.Request) -> int:
        state.hits[request.path].append(time.monotonic())
        state.queries.append(dict(request.query))
        return len(state.hits[request.path])

    async def page(request: web.Request) -> web.Response:
        seen(request)
        n, size = int(request.query.get("page", "1")), 3
        return web.json_response({"data": {"items": ITEMS[(n - 1) * size : n * size]}})

    async def offset(request: web.Request) -> web.Response:
        seen(request)
        start, limit = int(request.query["offset"]), int(request.query["limit"])
        return web.json_response(ITEMS[start : start + limit])

    async def cursor(request: web.Request) -> web.Response:
        seen(request)
        start = int(request.query.get("cursor", "0"))
        following = start + 2 if start + 2 < len(ITEMS) else None
        body = {"results": ITEMS[start : start + 2], "meta": {"next": following}}
        return web.json_response(body)

    async def link(request: web.Request) -> web.Response:
        seen(request)
        n = int(request.query.get("p", "1"))
        headers = {}
        if n * 4 < len(ITEMS):  # a relative link, as many APIs send
            headers["Link"] = f'</link?p={n + 1}>; rel="next", </link?p=1>; rel="first"'
        return web.json_response(ITEMS[(n - 1) * 4 : n * 4], headers=headers)

    async def secure(request: web.Request) -> web.Response:
        seen(request)
        kind = request.match_info["kind"]
        auth = request.headers.get("Authorization", "")
        ok = {
            "header": request.headers.get("X-API-Key") == API_KEY,
            "query": request.query.get("api_key") == API_KEY,
            "bearer": auth == f"Bearer {API_KEY}",
            "basic": auth == "Basic " + base64.b64encode(f"ann:{API_KEY}".encode()).decode(),
            "oauth": auth.startswith("Bearer ")
            and auth[7:] in state.tokens
            and auth[7:] not in state.revoked,
        }[kind]
        if not ok:
            return web.json_response({"error": "unauthorized"}, status=401)
        if kind == "oauth":
            state.served += 1
            if state.served == state.revoke_after:
                state.revoked.update(state.tokens)
        return web.json_response({"items": ITEMS[:2]})

    async def token(request: web.Request) -> web.Response:
        seen(request)
        form = await request.post()
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.json_response({"error": "invalid_client"}, status=401)
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        issued = f"tok-{len(state.tokens) + 1}"
        state.tokens.append(issued)
        return web.json_response(
            {"access_token": issued, "token_type": "Bearer", "expires_in": 3600}
        )

    async def too_many(request: web.Request) -> web.Response:
        if seen(request) == 1:
            return web.json_response(
                {"error": "slow down"}, status=429, headers={"Retry-After": "1"}
            )
        return web.json_response(ITEMS[:1])

    async def flaky(request: web.Request) -> web.Response:
        if seen(request) <= 2:
            return web.Response(status=500, text="boom")
        return web.json_response(ITEMS[:1])

    async def broken(request: web.Request) -> web.Response:
        seen(request)
        return web.Response(status=503, text="down for maintenance")

    async def slow(request: web.Request) -> web.Response:
        seen(request)
        await asyncio.sleep(1.5)
        return web.json_response(ITEMS[:1])

    async def malformed(request: web.Request) -> web.Response:
        seen(request)
        body = [{"id": 1, "name": "a"}, 5, {"id": "two", "name": "b"}, "x", {"id": 3, "name": "c"}]
        return web.json_response({"items": body})

    async def since(request: web.Request) -> web.Response:
        seen(request)
        after = request.query.get("updated_since", "")
        return web.json_response([r for r in ITEMS if str(r["updated_at"]) > after])

    async def nested(request: web.Request) -> web.Response:
        seen(request)
        body = {"data": [{"id": 1, "customer": {"name": "ann", "tier": 2}, "tags": ["a", "b"]}]}
        return web.json_response(body)

    async def not_json(request: web.Request) -> web.Response:
        seen(request)
        return web.Response(text="<html>hello</html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/page", page)
    app.router.add_get("/offset", offset)
    app.router.add_get("/cursor", cursor)
    app.router.add_get("/link", link)
    app.router.add_get("/secure/{kind}", secure)
    app.router.add_post("/token", token)
    app.router.add_get("/too-many", too_many)
    app.router.add_get("/flaky", flaky)
    app.router.add_get("/broken", broken)
    app.router.add_get("/slow", slow)
    app.router.add_get("/malformed", malformed)
    app.router.add_get("/since", since)
    app.router.add_get("/nested", nested)
    app.router.add_get("/not-json", not_json)
    return app


@dataclass
class Server:
    base: str
    state: State


@pytest.fixture(scope="module")
def http_server() -> Iterator[Server]:
    state = State()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(_app(state), shutdown_timeout=0.5, handler_cancellation=True)
    port = _free_port()
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{port}", state)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture
def server(http_server: Server) -> Server:
    http_server.state.reset()
    return http_server


def _ids(result: Extracted) -> list[Any]:
    ids: list[Any] = result.to_table().column("id").to_pylist()
    return ids


# -- pagination ------------------------------------------------------------------------------


def test_page_pagination_reads_until_an_empty_page(server: Server) -> None:
    result = read_api(
        {"url": f"{server.base}/page", "pagination": "page", "records": "$.data.items[*]"}
    )
    assert _ids(result) == [1, 2, 3, 4, 5, 6, 7]
    assert [q["page"] for q in server.state.queries] == ["1", "2", "3", "4"]
    assert result.bad.is_empty()


def test_page_pagination_stops_at_max_pages(server: Server) -> None:
    source = {
        "url": f"{server.base}/page",
        "pagination": {"type": "page", "max_pages": 2},
        "records": "data.items",
    }
    assert _ids(read_api(source)) == [1, 2, 3, 4, 5, 6]
    assert len(server.state.hits["/page"]) == 2


def test_offset_pagination_stops_on_a_short_page(server: Server) -> None:
    source = ApiSource(url=f"{server.base}/offset", pagination=OffsetPagination(limit=3))
    assert _ids(read_api(source)) == [1, 2, 3, 4, 5, 6, 7]
    assert [(q["offset"], q["limit"]) for q in server.state.queries] == [
        ("0", "3"),
        ("3", "3"),
        ("6", "3"),
    ]


def test_cursor_pagination_follows_the_cursor_in_the_body(server: Server) -> None:
    source = {
        "url": f"{server.base}/cursor",
        "pagination": {"type": "cursor", "param": "cursor", "path": "meta.next"},
        "records": "results",
    }
    assert _ids(read_api(source)) == [1, 2, 3, 4, 5, 6, 7]
    assert [q.get("cursor") for q in server.state.queries] == [None, "2", "4", "6"]


def test_link_header_pagination_follows_relative_next_links(server: Server) -> None:
    result = read_api({"url": f"{server.base}/link", "pagination": "link"})
    assert _ids(result) == [1, 2, 3, 4, 5, 6, 7]
    assert len(server.state.hits["/link"]) == 2


def test_nested_objects_stay_nested(server: Server) -> None:
    table = read_api({"url": f"{server.base}/nested", "records": "data"}).to_table()
    assert table.column("customer").to_pylist() == [{"name": "ann", "tier": 2}]
    assert table.column("tags").to_pylist() == [["a", "b"]]


# -- auth ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "auth"),
    [
        ("header", {"type": "api_key", "name": "X-API-Key", "value": API_KEY}),
        ("query", {"type": "api_key", "name": "api_key", "value": API_KEY, "in": "query"}),
        ("bearer", {"type": "bearer", "token": API_KEY}),
        ("basic", {"type": "basic", "username": "ann", "password": API_KEY}),
    ],
)
def test_each_auth_kind_is_accepted(server: Server, kind: str, auth: dict[str, Any]) -> None:
    result = read_api({"url": f"{server.base}/secure/{kind}", "auth": auth, "records": "items"})
    assert _ids(result) == [1, 2]


def test_static_headers_and_secret_references(server: Server, workspace: Workspace) -> None:
    workspace.secrets.put("shop_key", API_KEY)
    source = {
        "url": f"{server.base}/secure/header",
        "headers": {"X-API-Key": "${secret:shop_key}"},
        "records": "items",
    }
    assert _ids(read_api(source, secrets=workspace.secrets)) == [1, 2]
    with pytest.raises(SourceError, match="no secret store"):
        read_api(source)


def test_wrong_key_fails_without_showing_the_key(server: Server, workspace: Workspace) -> None:
    wrong = "Wr0ng-" + API_KEY
    workspace.secrets.put("shop_key", wrong)
    source = {
        "url": f"{server.base}/secure/query",
        "auth": {
            "type": "api_key",
            "name": "api_key",
            "value": "${secret:shop_key}",
            "in": "query",
        },
        "records": "items",
    }
    with pytest.raises(SourceError) as info:
        read_api(source, secrets=workspace.secrets)
    message = str(info.value)
    assert "HTTP 401 Unauthorized" in message and "/secure/query" in message
    assert wrong not in message and API_KEY not in message
    assert len(server.state.hits["/secure/query"]) == 1  # a 401 is not retried


def _oauth(server: Server, secret: str = CLIENT_SECRET) -> dict[str, Any]:
    return {
        "url": f"{server.base}/secure/oauth",
        "auth": {
            "type": "oauth2",
            "token_url": f"{server.base}/token",
            "client_id": CLIENT_ID,
            "client_secret": secret,
        },
        "records": "items",
    }


def test_oauth2_client_credentials(server: Server) -> None:
    assert _ids(read_api(_oauth(server))) == [1, 2]
    assert server.state.tokens == ["tok-1"]


def test_oauth2_token_is_fetched_again_on_401(server: Server) -> None:
    server.state.revoke_after = 1  # the first token is revoked after one page: then a 401
    source = {**_oauth(server), "pagination": {"type": "page", "max_pages": 2}}
    assert _ids(read_api(source)) == [1, 2, 1, 2]
    assert server.state.tokens == ["tok-1", "tok-2"]
    assert len(server.state.hits["/secure/oauth"]) == 3  # page 1, page 2 (401), page 2 again


def test_oauth2_bad_client_secret_is_a_clear_error_without_the_secret(server: Server) -> None:
    wrong = "Wr0ng-" + CLIENT_SECRET
    with pytest.raises(SourceError) as info:
        read_api(_oauth(server, wrong))
    message = str(info.value)
    assert "OAuth2 token request" in message and "invalid_client" in message
    assert wrong not in message and CLIENT_SECRET not in message


# -- faults ----------------------------------------------------------------------------------


def test_429_waits_for_retry_after_then_succeeds(server: Server) -> None:
    result = read_api({"url": f"{server.base}/too-many", **FAST})
    assert _ids(result) == [1]
    first, second = server.state.hits["/too-many"]
    assert second - first >= 0.9  # Retry-After: 1 was honoured, not the 10 ms backoff


def test_500s_are_retried_then_succeed(server: Server) -> None:
    result = read_api({"url": f"{server.base}/flaky", "max_retries": 3, **FAST})
    assert _ids(result) == [1]
    assert len(server.state.hits["/flaky"]) == 3


def test_a_dead_endpoint_fails_after_the_retries(server: Server) -> None:
    source = {
        "url": f"{server.base}/broken",
        "auth": {"type": "api_key", "name": "token", "value": API_KEY, "in": "query"},
        "max_retries": 2,
        **FAST,
    }
    with pytest.raises(SourceError) as info:
        read_api(source)
    message = str(info.value)
    assert "HTTP 503 Service Unavailable" in message and "after 3 attempts" in message
    assert f"{server.base}/broken" in message and API_KEY not in message
    assert len(server.state.hits["/broken"]) == 3


def test_a_slow_page_times_out_is_retried_then_fails(server: Server) -> None:
    source = {"url": f"{server.base}/slow", "timeout_s": 0.3, "max_retries": 1, **FAST}
    with pytest.raises(SourceError, match=r"timed out after 0.3 s \(after 2 attempts\)"):
        read_api(source)
    assert len(server.state.hits["/slow"]) == 2


def test_connection_refused_is_retried_then_fails() -> None:
    url = f"http://127.0.0.1:{_free_port()}/nothing"
    with pytest.raises(SourceError, match="cannot connect .*after 2 attempts"):
        read_api({"url": url, "max_retries": 1, **FAST})


def test_a_body_that_is_not_json_is_a_clear_error(server: Server) -> None:
    with pytest.raises(SourceError, match="not JSON"):
        read_api({"url": f"{server.base}/not-json"})


def test_a_missing_record_path_is_a_clear_error(server: Server) -> None:
    with pytest.raises(SourceError, match="no 'data.rows'"):
        read_api({"url": f"{server.base}/page", "records": "data.rows"})


def test_an_invalid_definition_is_one_line() -> None:
    with pytest.raises(SourceError, match="invalid API source: pagination"):
        read_api({"url": "http://127.0.0.1:1/x", "pagination": {"type": "sideways"}})
    with pytest.raises(SourceError, match="url"):
        read_api({"url": "ftp://example.org/x"})


def test_malformed_records_are_quarantined_not_dropped(server: Server) -> None:
    result = read_api({"url": f"{server.base}/malformed", "records": "items"})
    assert _ids(result) == [1, 3]
    bad = result.bad.sort("_dap_line")
    assert bad.get_column("_dap_line").to_list() == [1, 2, 3]
    assert bad.get_column("_dap_record").to_list() == ["5", '{"id": "two", "name": "b"}', '"x"']
    assert bad.get_column("_dap_rule").to_list() == ["record_shape", "record_type", "record_shape"]
    assert "not an object" in bad.get_column("_dap_reason")[0]
    assert "field 'id' is a string" in bad.get_column("_dap_reason")[1]
    assert set(bad.get_column("_dap_source")) == {f"{server.base}/malformed"}


# -- incremental -----------------------------------------------------------------------------


def test_incremental_sends_since_and_returns_the_max_field(server: Server) -> None:
    source = {
        "url": f"{server.base}/since",
        "incremental": {"param": "updated_since", "field": "updated_at"},
    }
    first = read_api(source)
    assert _ids(first) == [1, 2, 3, 4, 5, 6, 7]
    assert first.watermark == "2024-01-07T00:00:00Z"
    assert "updated_since" not in server.state.queries[0]
    later = read_api(source, since="2024-01-05T00:00:00Z")
    assert _ids(later) == [6, 7]
    assert server.state.queries[1]["updated_since"] == "2024-01-05T00:00:00Z"
    nothing = read_api(source, since=first.watermark)
    assert nothing.to_table().num_rows == 0 and nothing.watermark == first.watermark


def test_source_is_shown_without_secrets(server: Server) -> None:
    source = {
        "url": f"{server.base}/secure/query",
        "auth": {"type": "api_key", "name": "api_key", "value": API_KEY, "in": "query"},
        "records": "items",
    }
    result = read_api(source)
    assert API_KEY not in result.source and API_KEY not in json.dumps(result.bad.to_dicts())
