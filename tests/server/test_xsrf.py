"""Cookie-authenticated calls need the XSRF token; header-authenticated ones do not."""

from __future__ import annotations

import json
from typing import Any

from tests.server.conftest import Api, Fetch


async def _login_cookie(jp_fetch: Fetch, token: str) -> str:
    """What a browser holds after opening Jupyter with ?token=…: the login cookie."""
    response = await jp_fetch(
        "api", "status", params={"token": token}, headers={"Authorization": ""}
    )
    cookies = response.headers.get_list("Set-Cookie")
    login = [c.split(";")[0] for c in cookies if c.startswith("username-")]
    assert login, cookies
    return login[0]


async def test_cookie_posts_need_the_xsrf_token(
    jp_fetch: Fetch, jp_auth_header: dict[str, str], api: Api
) -> None:
    token = jp_auth_header["Authorization"].split(" ", 1)[1]
    cookie = await _login_cookie(jp_fetch, token)
    body = {"sql": "SELECT 42 AS x"}
    forged: Any = await api("POST", "query", as_=None, body=body, headers={"Cookie": cookie})
    assert forged.status == 403 and "xsrf" in forged.body["message"].lower()
    ok = await api(
        "POST",
        "query",
        as_=None,
        body=body,
        headers={"Cookie": f"{cookie}; _xsrf=abc123", "X-XSRFToken": "abc123"},
    )
    assert ok.status == 200 and ok.body["rows"] == [[42]], json.dumps(ok.body)
    # GETs by cookie need no XSRF token; the identity is the server's owner.
    me = await api("GET", "whoami", as_=None, headers={"Cookie": cookie})
    assert me.status == 200 and me.body["user"] == "tester"
