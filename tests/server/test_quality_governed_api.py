"""REST ``quality/{table}`` gives the core's governed answer (tests/kernel/test_quality_governed):
a filtered, masked reader gets statuses without figures, a stranger the answer for a missing
table, the steward the results as stored — the same fields as the CLI and Python doors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dap_kernel.quality import check, set_rules
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings
from tests import payments
from tests.kernel.test_quality_governed import RULES, hidden_figures, status_of, visible
from tests.payments import as_user
from tests.server.conftest import Fetch


@pytest.fixture(scope="module")
def payments_built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("payments") / "home"
    payments.build(home)
    ws = Workspace(Settings(home=home, user="tester"))
    try:
        set_rules("main.payments", RULES, session=as_user(ws, "tester"))
        assert check("main.payments", session=as_user(ws, "tester")).recorded
    finally:
        ws.close()
    return home


@pytest.fixture
def pay_ws(payments_ws: Workspace) -> Workspace:
    return payments_ws


@pytest.fixture
def tokens(payments_tokens: dict[str, str]) -> dict[str, str]:
    return payments_tokens


@pytest.fixture
def jp_server_config(payments_server_config: dict[str, Any]) -> dict[str, Any]:
    return payments_server_config


async def call(
    jp_fetch: Fetch, tokens: dict[str, str], user: str, method: str, path: str, body: Any = None
) -> tuple[int, Any, str]:
    response = await jp_fetch(
        *f"dap/api/v1/{path}".split("/"),
        method=method,
        headers={"Authorization": f"Bearer {tokens[user]}"},
        body=json.dumps(body) if body is not None else None,
        raise_error=False,
    )
    text = (response.body or b"").decode()
    return response.code, json.loads(text), text


async def test_rest_quality_is_the_core_answer(
    jp_fetch: Fetch, tokens: dict[str, str], pay_ws: Workspace
) -> None:
    for user in ("sam", "stew"):
        code, body, text = await call(jp_fetch, tokens, user, "GET", "quality/payments")
        assert code == 200, text
        core = status_of(as_user(pay_ws, user))
        assert visible(body) == visible(core), user
        assert body["rules"] == core["rules"]
        if user == "sam":
            assert hidden_figures(text) == []
            assert all(r["failures"] is None for r in body["results"])
        else:
            assert body["badge"]["freshness"]["newest"].startswith("2026-02-01")
    code, ran, text = await call(jp_fetch, tokens, "sam", "POST", "quality/payments/check", {})
    assert code == 200 and ran["status"] == "warn" and not ran["recorded"], text
    assert hidden_figures(text.replace("1 row(s) with", "")) == []


async def test_rest_answers_a_stranger_as_for_a_missing_table(
    jp_fetch: Fetch, tokens: dict[str, str]
) -> None:
    replies = []
    for name in ("main.payments", "main.paymentz"):
        for method, path, body in (
            ("GET", f"quality/{name}", None),
            ("POST", f"quality/{name}/check", {}),
            ("POST", f"quality/{name}/rules", {"rules": []}),
        ):
            code, answer, _ = await call(jp_fetch, tokens, "bob", method, path, body)
            assert code == 404 and answer["error"] == "unknown_table", (path, answer)
            replies.append(answer["message"].replace(name, "T"))
    assert replies[:3] == replies[3:]
    code, answer, _ = await call(
        jp_fetch, tokens, "sam", "POST", "quality/payments/rules", {"rules": []}
    )
    assert code == 403 and "MODIFY or MANAGE_GRANTS" in answer["message"]
