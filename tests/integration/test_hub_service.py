"""DAP as a service of a real JupyterHub: users come in with their hub tokens.

The hub (hub_config/jupyterhub_config.py, dummy authenticator) starts `dap serve` itself, as in a
deployment. A test driver, registered as a hub service with the right to mint user tokens, gets
a token for ann and one for bob; the DAP service asks the hub who they are.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dap_kernel.errors import QueryRefused
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings
from dap_kernel.transport import HttpSession
from tests.conftest import make_governed
from tests.hub_process import hub_process

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Hub:
    url: str  # the proxy: what users see
    service: str  # the DAP service behind the proxy
    tokens: dict[str, str]  # hub tokens by user name


@pytest.fixture(scope="module")
def hub(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    root = tmp_path_factory.mktemp("hub")
    home = root / "dap-home"
    shutil.copytree(demo_home, home)
    ws = Workspace(Settings(home=home, user="tester"))
    make_governed(ws)
    ws.close()
    with hub_process(home, root) as process:
        tokens = {
            "ann": process.mint("ann", ["access:services!service=dap"]),
            "bob": process.mint("bob", ["access:services!service=dap"]),
            "ann-no-access": process.mint("ann", ["read:users:name!user=ann"]),
        }
        yield Hub(url=process.url, service=process.service, tokens=tokens)


def test_hub_users_are_dap_principals(hub: Hub) -> None:
    me = httpx.get(
        f"{hub.service}/dap/api/v1/whoami",
        headers={"Authorization": f"token {hub.tokens['ann']}"},
        timeout=30,
    )
    assert me.status_code == 200, me.text
    assert me.json()["user"] == "ann" and me.json()["source"] == "hub"


def test_governed_queries_through_the_hub(hub: Hub) -> None:
    with HttpSession(hub.service, hub_token=hub.tokens["ann"], channel="magic") as ann:
        regions = ann.sql("SELECT DISTINCT region FROM customers")["region"].to_list()
        emails = ann.sql("SELECT email FROM customers LIMIT 5")["email"].to_list()
    assert regions == ["EMEA"]
    assert all(e.startswith("***@") for e in emails)
    with HttpSession(hub.service, hub_token=hub.tokens["bob"]) as bob, pytest.raises(QueryRefused):
        bob.sql("SELECT count(*) FROM customers")


def test_without_a_hub_identity_there_is_no_entry(hub: Hub) -> None:
    for headers in (
        {},
        {"Authorization": "token not-a-hub-token"},
        {"Authorization": f"token {hub.tokens['ann-no-access']}"},  # no access to the service
    ):
        reply = httpx.get(f"{hub.service}/dap/api/v1/whoami", headers=headers, timeout=30)
        assert reply.status_code == 401, (headers, reply.text)
        assert reply.json()["error"] == "unauthenticated"
