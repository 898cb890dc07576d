"""REST catalog and catalog/{table} give the core's governed view (tests/payments.py), through a
real Jupyter Server: no raw e-mail, hidden region or hidden amount in any answer; the
quarantine is the steward's; a user without grants sees no table."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dap_kernel.session import Workspace
from tests.payments import as_user, leaked
from tests.server.conftest import Fetch


@pytest.fixture
def pay_ws(payments_ws: Workspace) -> Workspace:
    return payments_ws


@pytest.fixture
def tokens(payments_tokens: dict[str, str]) -> dict[str, str]:
    return payments_tokens


@pytest.fixture
def jp_server_config(payments_server_config: dict[str, Any]) -> dict[str, Any]:
    return payments_server_config


async def get(
    jp_fetch: Fetch, tokens: dict[str, str], user: str, path: str, **params: str
) -> tuple[int, Any, str]:
    response = await jp_fetch(
        *f"dap/api/v1/{path}".split("/"),
        headers={"Authorization": f"Bearer {tokens[user]}"},
        params=params or None,
        raise_error=False,
    )
    text = (response.body or b"").decode()
    return response.code, json.loads(text), text


async def test_rest_catalog_hides_what_the_filter_and_masks_hide(
    jp_fetch: Fetch, tokens: dict[str, str], pay_ws: Workspace
) -> None:
    texts = []
    for path, params in [
        ("catalog", {}),
        ("catalog", {"q": "pay"}),
        ("catalog", {"include_denied": "true"}),
        ("catalog/main.payments", {"sample": "10"}),
        ("catalog/archive.payments", {"sample": "10"}),
    ]:
        status, _body, text = await get(jp_fetch, tokens, "sam", path, **params)
        assert status == 200, text
        texts.append(text)
    assert leaked("".join(texts)) == []
    listed = json.loads(texts[0])["tables"]
    assert [t["name"] for t in listed] == ["archive.payments", "main.payments"]
    denied = {t["name"]: t for t in json.loads(texts[2])["tables"]}
    assert denied["main.payments__quarantine"]["readable"] is False
    detail = json.loads(texts[3])
    assert detail["row_filtered"] is True and detail["row_count"] is None
    assert all(c["min_value"] is None for c in detail["columns"])
    # The REST answer is the core's answer: the same columns and statistics as in-process.
    core = as_user(pay_ws, "sam").describe("main.payments")
    assert [(c["name"], c["max_value"]) for c in detail["columns"]] == [
        (c.name, c.max_value) for c in core.columns
    ]
    rows = [dict(zip(detail["sample_columns"], r, strict=True)) for r in detail["sample_rows"]]
    assert [r["region"] for r in rows] == ["EMEA"] and rows[0]["email"].startswith("***")


async def test_rest_quarantine_is_the_stewards(jp_fetch: Fetch, tokens: dict[str, str]) -> None:
    status, body, _ = await get(jp_fetch, tokens, "sam", "catalog/main.payments__quarantine")
    assert status == 403 and body["error"] == "query_refused"
    status, body, text = await get(
        jp_fetch, tokens, "stew", "catalog/main.payments__quarantine", sample="5"
    )
    assert status == 200 and "hidden.tanaka@apac.example" in text
    assert "main.payments__quarantine" in [
        t["name"] for t in (await get(jp_fetch, tokens, "stew", "catalog"))[1]["tables"]
    ]


async def test_rest_user_without_grants_sees_no_table(
    jp_fetch: Fetch, tokens: dict[str, str]
) -> None:
    status, body, _ = await get(jp_fetch, tokens, "bob", "catalog")
    assert status == 200 and body["tables"] == []
    status, body, text = await get(jp_fetch, tokens, "bob", "catalog", include_denied="true")
    assert body["tables"] and not any(t["readable"] for t in body["tables"])
    assert leaked(text) == []
    status, body, _ = await get(jp_fetch, tokens, "bob", "catalog/paymnts")
    assert status == 404 and "did you mean" not in body["message"]
