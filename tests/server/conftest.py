"""A real Jupyter Server with DAP loaded over a multi-user demo workspace, and a small client.

The Jupyter token identifies the server's owner (``tester``, DAP's admin here); the analysts
``ann`` (EMEA) and ``raj`` (APAC) and ``bob`` (no grants) come in with DAP API keys.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from dap_kernel.meta.models import ApiKey
from dap_kernel.session import Workspace

Fetch = Callable[..., Awaitable[Any]]


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any
    raw: bytes


@pytest.fixture
def keys(governed: Workspace) -> dict[str, str]:
    """Bearer tokens by name; ``expired`` and ``revoked`` belong to ann."""
    api = governed.apikeys
    tokens = {
        name: api.create(name, "tests", scopes=["query", "read-catalog", "admin"])[1]
        for name in ("tester", "ann", "raj", "bob")
    }
    tokens["ann-query-only"] = api.create("ann", "query only", scopes=["query"])[1]
    expired_info, tokens["expired"] = api.create("ann", "old", expires_in_days=1)
    with governed.meta.session() as s:
        s.execute(
            update(ApiKey)
            .where(ApiKey.key_id == expired_info.key_id)
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    revoked_info, tokens["revoked"] = api.create("ann", "gone")
    api.revoke(revoked_info.key_id)
    tokens["forged"] = f"dap_{revoked_info.key_id}_not-the-secret"
    return tokens


@pytest.fixture
def jp_server_config(governed: Workspace) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"dap_server": True}},
        "DapExtension": {"dap_home": str(governed.settings.home), "identity": "owner"},
    }


Api = Callable[..., Awaitable[Reply]]


@pytest.fixture
def api(jp_fetch: Fetch, keys: dict[str, str]) -> Api:
    """``await api("GET", "catalog", as_="ann")``; ``as_="jupyter"`` uses the server token,
    ``as_=None`` sends no identity at all."""

    async def call(
        method: str,
        path: str,
        *,
        as_: str | None = "jupyter",
        body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        raw_body: bytes | None = None,
    ) -> Reply:
        headers = dict(headers or {})
        if as_ is None:
            headers["Authorization"] = ""
        elif as_ != "jupyter":
            headers["Authorization"] = f"Bearer {keys[as_]}"
        kwargs: dict[str, Any] = {"method": method, "raise_error": False}
        if raw_body is not None:
            kwargs["body"] = raw_body
        elif body is not None:
            kwargs["body"] = json.dumps(body)
        elif method == "POST":
            kwargs["body"] = b""
        # Relative to /dap/api/v1/, unless absolute (/dap/metrics).
        parts = path[1:].split("/") if path.startswith("/") else f"dap/api/v1/{path}".split("/")
        response = await jp_fetch(*parts, headers=headers, params=params, **kwargs)
        raw = response.body or b""
        content_type = response.headers.get("Content-Type", "")
        parsed = json.loads(raw) if raw and content_type.startswith("application/json") else raw
        if response.code >= 400:
            assert isinstance(parsed, dict) and set(parsed) == {"error", "message"}, raw
            assert "Traceback" not in parsed["message"]
        return Reply(response.code, parsed, response.headers, raw)

    return call


@pytest.fixture
def payments_tokens(payments_ws: Workspace) -> dict[str, str]:
    """An API key with every scope for each user of the payments workspace."""
    scopes = ["query", "read-catalog", "admin"]
    users = ("sam", "bob", "stew", "tester", "raj", "ann", "olga")
    return {u: payments_ws.apikeys.create(u, "tests", scopes=scopes)[1] for u in users}


@pytest.fixture
def payments_server_config(payments_ws: Workspace) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"dap_server": True}},
        "DapExtension": {"dap_home": str(payments_ws.settings.home), "identity": "owner"},
    }
