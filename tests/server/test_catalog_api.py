"""GET /dap/api/v1/catalog through a real Jupyter Server with the extension loaded."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

Fetch = Callable[..., Awaitable[Any]]


async def test_catalog_lists_tables_with_documentation(jp_fetch: Fetch) -> None:
    response = await jp_fetch("dap", "api", "v1", "catalog")
    assert response.code == 200
    tables = json.loads(response.body)["tables"]
    by_name = {t["name"]: t for t in tables}
    assert list(by_name) == [
        "main.customers",
        "main.experiment_exposures",
        "main.order_lines",
        "main.orders",
        "main.products",
        "main.web_events",
    ]
    customers = by_name["main.customers"]
    assert customers["row_count"] == 200
    assert "pii" in customers["tags"]
    assert customers["description"]
    assert customers["schema"] == "main" and customers["table"] == "customers"


async def test_catalog_requires_an_identity(jp_fetch: Fetch) -> None:
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("dap", "api", "v1", "catalog", headers={"Authorization": "token wrong"})
    assert info.value.code in (401, 403)


def test_extension_points_declare_server_and_lab_extension() -> None:
    import dap_server

    assert dap_server._jupyter_server_extension_points()[0]["module"] == "dap_server"
    assert dap_server._jupyter_labextension_paths() == [
        {"src": "labextension", "dest": "@dap/labextension"}
    ]
