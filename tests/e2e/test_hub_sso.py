"""Single sign-on end to end: a real OpenID provider, JupyterHub with its proxy, the DAP service
as its own system user, user servers as system users of theirs, and a real browser.

Group A (``emea-analysts``) may read customers; the provider's ``region`` claim becomes the
attribute its row filter reads. Group B (``apac-analysts``) is mapped to DAP's ``analyst`` role
(``DAP_ROLE_MAP``), which reads every table. Both log in through the provider's own login page,
land in JupyterLab and run ``%%dap sql`` in their kernels, and open the same published
dashboard on the hub's dashboard host, each seeing their own numbers.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
from dap_server.headers import HEADERS
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from dap_kernel.dashboards.store import publish
from dap_kernel.errors import QueryRefused
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings
from dap_kernel.transport import HttpSession

from .conftest import Browser, screenshot
from .hub_deploy import Deployment, Person, deployment

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ANN = Person("dap-ann", ("emea-analysts",), "EMEA")
BOB = Person("dap-bob", ("apac-analysts",), "APAC")
DAP_ENV = {
    "DAP_ROLE_MAP": '{"apac-analysts": "analyst"}',
    "DAP_ATTRIBUTE_CLAIMS": '{"region": "region"}',
    "DAP_HUB_AUTH_REFRESH_AGE": "2",
    "DAP_HUB_CACHE": "1",
}
SERVICE_SCOPE = ["access:services!service=dap"]
VIEWER_SCOPES = ["access:services!service=dashboards", *SERVICE_SCOPE]
CUSTOMERS_DASHBOARD = """
from dap_kernel.dashboards import Dashboard

d = Dashboard("Customers", source="SELECT region, customer_id FROM main.customers")
d.kpi("customer_id", agg="count_distinct", title="Customers", fmt="{:,}")
d.table(columns=["region", "customer_id"], limit=5, title="Some customers")
d.show();
"""
REGION_COUNTS: dict[str, int] = {}  # customers per region, read as the admin
TABLES = [
    "main.customers",
    "main.experiment_exposures",
    "main.order_lines",
    "main.orders",
    "main.products",
    "main.web_events",
]


@pytest.fixture(scope="module")
def hub(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    if os.geteuid() != 0:
        pytest.skip("the deployment creates system users: run as root (as `make test` does)")
    home = tmp_path_factory.mktemp("sso") / "dap-home"
    shutil.copytree(demo_home, home)
    ws = Workspace(Settings(home=home, user="tester"))
    admin = ws.admin("tester")
    admin.set_multi_user(True)
    for group in ("emea-analysts", "apac-analysts"):
        admin.grant("SELECT", "main.customers", "group", group)
    admin.add_row_filter("main.customers", "region = current_user_attr('region')")
    admin.set_mask("main.customers.email", "mask_email")
    counts = ws.session().sql("SELECT region, count(*) AS n FROM main.customers GROUP BY 1")
    REGION_COUNTS.update(dict(zip(counts["region"], counts["n"], strict=True)))
    notebook = home.parent / "customers.ipynb"
    nbformat.write(
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CUSTOMERS_DASHBOARD)]), notebook
    )
    grants = ["group:emea-analysts", "group:apac-analysts"]
    publish(notebook, description="Customers by region", grants=grants, session=ws.session())
    publish(notebook, name="apac-only", grants=["group:apac-analysts"], session=ws.session())
    ws.close()
    with deployment(home, [ANN, BOB], dap_env=DAP_ENV) as started:
        try:
            yield started
        except Exception:
            print(started.log_text())
            raise


RUN_IN_KERNEL = """async (code) => {
    const app = window.jupyterapp;
    if (!window.dapPanel) {
        window.dapPanel = await app.commands.execute('notebook:create-new',
            {cwd: '', kernelName: 'python3'});
        await window.dapPanel.sessionContext.ready;
    }
    const kernel = window.dapPanel.sessionContext.session.kernel;
    const out = [];
    const future = kernel.requestExecute({code});
    future.onIOPub = (msg) => {
        const c = msg.content;
        if (msg.header.msg_type === 'stream') { out.push(c.text); }
        if (['execute_result', 'display_data'].includes(msg.header.msg_type)) {
            out.push(c.data['text/plain'] || '');
        }
        if (msg.header.msg_type === 'error') { out.push(`ERROR ${c.ename}: ${c.evalue}`); }
    };
    await future.done;
    return out.join('\\n');
}"""

PROBE_FILES = """
import os, pwd
print("uid", pwd.getpwuid(os.getuid()).pw_name)
for path in ({home!r} + "/meta.db", {home!r} + "/lake"):
    try:
        open(path, "rb").close() if path.endswith(".db") else os.listdir(path)
        print("OPENED", path)
    except PermissionError:
        print("DENIED", path)
"""


def sign_in(page: Any, hub: Deployment, person: Person) -> None:
    """Through the provider's own login page, into the user's JupyterLab."""
    page.goto(f"{hub.url}/hub/oauth_login?next=/hub/spawn")
    page.wait_for_selector('input[name="sub"]', timeout=30_000)
    assert page.url.startswith(hub.provider)  # the provider asks, not the hub
    page.fill('input[name="sub"]', person.name)
    page.click('button[type="submit"]:has-text("Authorize")')
    page.wait_for_url(f"**/user/{person.name}/lab**", timeout=120_000)
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=90_000)
    page.wait_for_function("window.jupyterapp !== undefined", timeout=30_000)
    page.evaluate("async () => { await window.jupyterapp.restored; }")


def catalog(page: Any) -> dict[str, Any]:
    page.evaluate("() => window.jupyterapp.shell.activateById('dap-catalog-panel')")
    page.wait_for_selector("#dap-catalog-panel .dap-catalog-item", timeout=60_000)
    panel = page.locator("#dap-catalog-panel")
    items = panel.locator(".dap-catalog-item")
    return {
        "tables": [items.nth(i).get_attribute("data-table") for i in range(items.count())],
        "denied": [e.get_attribute("data-table") for e in panel.locator(".dap-denied").all()],
    }


def session_in_lab(hub: Deployment, person: Person) -> Any:
    def steps(page: Any) -> dict[str, Any]:
        sign_in(page, hub, person)
        seen: dict[str, Any] = catalog(page)
        seen["load"] = page.evaluate(RUN_IN_KERNEL, "%load_ext dap_kernel")
        seen["sql"] = page.evaluate(
            RUN_IN_KERNEL, "%%dap sql\nSELECT region, count(*) AS n FROM customers GROUP BY 1"
        )
        seen["email"] = page.evaluate(
            RUN_IN_KERNEL,
            "import dap_kernel as dap; print(dap.sql('SELECT email FROM customers LIMIT 3'))",
        )
        seen["files"] = page.evaluate(RUN_IN_KERNEL, PROBE_FILES.format(home=str(hub.home)))
        # Another user's server is not theirs to open.
        other = "dap-bob" if person is ANN else "dap-ann"
        seen["other_server"] = page.request.get(f"{hub.url}/user/{other}/api/contents").status
        screenshot(page, f"hub-sso-{person.name}")
        return seen

    return steps


@pytest.fixture(scope="module")
def ann_in_lab(browser: Browser, hub: Deployment) -> dict[str, Any]:
    """Ann's Lab session, run once: the tests that read its traces need not run in file order."""
    return browser.run(session_in_lab(hub, ANN), timeout=400)


@pytest.fixture(scope="module")
def bob_in_lab(browser: Browser, hub: Deployment, ann_in_lab: dict[str, Any]) -> dict[str, Any]:
    """Bob's Lab session, after Ann's (so her server is running when he tries to open it)."""
    return browser.run(session_in_lab(hub, BOB), timeout=400)


def test_group_a_signs_in_and_sees_only_its_rows(ann_in_lab: dict[str, Any]) -> None:
    seen = ann_in_lab
    assert seen["tables"] == TABLES
    assert seen["denied"] == TABLES[1:]  # A reads customers only
    assert "EMEA" in seen["sql"] and "APAC" not in seen["sql"], seen["sql"]
    assert "***@" in seen["email"], seen["email"]
    assert "uid dap-ann" in seen["files"]
    assert seen["files"].count("DENIED") == 2, seen["files"]  # the kernel cannot open the lake
    assert seen["other_server"] in (403, 404), seen["other_server"]


def test_group_b_signs_in_and_sees_its_own_rows(bob_in_lab: dict[str, Any]) -> None:
    seen = bob_in_lab
    assert seen["denied"] == []  # apac-analysts → analyst role: every table
    assert "APAC" in seen["sql"] and "EMEA" not in seen["sql"], seen["sql"]
    assert seen["files"].count("DENIED") == 2, seen["files"]
    assert seen["other_server"] == 403  # ann's server is running: refused, not merely absent


def test_without_a_hub_identity_nothing_is_served(hub: Deployment) -> None:
    bare = httpx.get(f"{hub.service}/dap/api/v1/catalog", timeout=30)
    assert bare.status_code == 401
    no_scope = hub.token(ANN.name, ["read:users:name!user=dap-ann"])
    reply = httpx.get(
        f"{hub.service}/dap/api/v1/catalog",
        headers={"Authorization": f"token {no_scope}"},
        timeout=30,
    )
    assert reply.status_code == 401
    server = httpx.get(f"{hub.url}/user/{ANN.name}/api/contents", timeout=30)
    assert server.status_code in (302, 403), server.status_code  # to the login, not in


def test_the_hub_event_service_has_no_dap_identity(hub: Deployment) -> None:
    events = (Path(hub.logs["hub"]).parent / "hub-state" / "dap_hub_events_token").read_text()
    reply = httpx.get(
        f"{hub.service}/dap/api/v1/catalog",
        headers={"Authorization": f"token {events.strip()}"},
        timeout=30,
    )
    assert reply.status_code == 401 and "may only post hub events" in reply.text


def dashboard_as(hub: Deployment, person: Person) -> Any:
    """Sign in through the provider and open the customers dashboard, then the gallery."""

    def steps(page: Any) -> dict[str, Any]:
        page.goto(f"{hub.url}/hub/oauth_login?next=/services/dashboards/dap/dashboards/customers")
        page.wait_for_selector('input[name="sub"]', timeout=30_000)
        page.fill('input[name="sub"]', person.name)
        page.click('button[type="submit"]:has-text("Authorize")')
        page.wait_for_url("**/services/dashboards/dap/dashboards/customers**", timeout=60_000)
        # The KPI and table are HTML the kernel rendered as the viewer (in the page as it
        # streams); the card buttons' bridge is a hidden widget: it is there once the page's
        # websocket to the viewer's kernel works through the host.
        page.wait_for_function(
            "() => /\\d/.test(document.querySelector('.dap-kpi-value')?.textContent || '')",
            timeout=120_000,
        )
        page.wait_for_selector("[class*='dap-bridge-in-'] input", state="attached", timeout=120_000)
        page.wait_for_function("() => window.dapRendered && window.dapRendered()", timeout=60_000)
        seen: dict[str, Any] = {"kpi": page.locator(".dap-kpi-value").first.inner_text()}
        seen["table"] = page.locator(".dap-table").first.inner_text()
        screenshot(page, f"hub-dashboard-{person.name}")
        page.goto(f"{hub.dashboards}/dap/dashboards")
        seen["gallery"] = page.locator(".dap-gallery a").all_inner_texts()
        refused = page.request.get(f"{hub.dashboards}/dap/dashboards/apac-only")
        seen["refused"] = (refused.status, refused.text())
        return seen

    return steps


def test_one_dashboard_two_viewers_each_their_own_numbers(
    browser: Browser, hub: Deployment
) -> None:
    ann = browser.run(dashboard_as(hub, ANN), timeout=300)
    assert ann["kpi"].replace(",", "") == str(REGION_COUNTS["EMEA"]), ann
    assert "EMEA" in ann["table"] and "APAC" not in ann["table"], ann["table"]
    assert ann["gallery"] == ["customers"]  # apac-only is not hers to see
    assert ann["refused"][0] == 403 and "may not open dashboard apac-only" in ann["refused"][1]
    bob = browser.run(dashboard_as(hub, BOB), timeout=300)
    assert bob["kpi"].replace(",", "") == str(REGION_COUNTS["APAC"]), bob
    assert "APAC" in bob["table"] and "EMEA" not in bob["table"], bob["table"]
    assert sorted(bob["gallery"]) == ["apac-only", "customers"]  # both are shared with B
    assert bob["refused"][0] == 200


def _kernel_of(page_html: str) -> str:
    found = re.search(r'"kernelId": "([0-9a-f-]{36})"', page_html)
    assert found, page_html[-2000:]
    return found.group(1)


async def _talk(url: str, token: str, messages: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Send kernel messages over the websocket as ``token``'s user; the reply types seen."""
    request = HTTPRequest(url, headers={"Authorization": f"token {token}"})
    connection = await websocket_connect(request)
    session = uuid.uuid4().hex
    for msg_type, content in messages:
        header = {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "session": session,
                  "username": "", "version": "5.3", "date": ""}  # fmt: skip
        connection.write_message(json.dumps({"header": header, "parent_header": {},
                                             "metadata": {}, "content": content,
                                             "channel": "shell"}))  # fmt: skip
    seen: list[str] = []
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        try:
            message = await asyncio.wait_for(connection.read_message(), 1)
        except TimeoutError:
            continue
        if message is None:
            break
        if isinstance(message, str):
            reply = json.loads(message)
            seen.append(reply["header"]["msg_type"])
            if reply["header"]["msg_type"] == "stream":
                seen.append(reply["content"]["text"])
    connection.close()
    return seen


def test_the_dashboard_host_serves_nothing_but_dashboards(hub: Deployment) -> None:
    """A viewer gets their own kernel's widgets, never code execution, another viewer's kernel,
    or Jupyter itself; the host's own token is not a DAP identity."""
    for person in (ANN, BOB):
        hub.register(person)
    ann, bob = hub.token(ANN.name, VIEWER_SCOPES), hub.token(BOB.name, VIEWER_SCOPES)
    as_ann, as_bob = ({"Authorization": f"token {t}"} for t in (ann, bob))
    page = httpx.get(f"{hub.dashboards}/dap/dashboards/customers", headers=as_ann, timeout=120)
    assert page.status_code == 200, page.text[-2000:]
    gallery = httpx.get(f"{hub.dashboards}/dap/dashboards", headers=as_ann, timeout=60)
    for reply in (page, gallery):  # a viewer's numbers: not cached, framed or referred on
        for name, value in HEADERS.items():  # Voilà's no-cache, no-store, … holds no-store
            assert value in reply.headers.get(name, "").split(", "), (reply.url, name)
    kernel = _kernel_of(page.text)
    api = f"{hub.dashboards}/api/kernels/{kernel}"
    assert httpx.get(api, headers=as_ann, timeout=30).status_code == 200  # her own
    assert httpx.get(api, headers=as_bob, timeout=30).status_code == 403
    channels = api.replace("http://", "ws://") + "/channels"
    code = {"code": "import os; print('LEAK', sorted(os.environ))", "silent": False}
    seen = asyncio.run(
        _talk(channels, ann, [("execute_request", code), ("kernel_info_request", {})])
    )
    assert "kernel_info_reply" in seen, seen  # the websocket works for her
    assert "execute_reply" not in seen and not any("LEAK" in s for s in seen), seen
    with pytest.raises(HTTPClientError) as refused:
        asyncio.run(_talk(channels, bob, [("kernel_info_request", {})]))
    assert refused.value.code == 403
    jupyter = [
        *("GET api/contents", "GET api/kernels", "POST api/kernels", "GET api/sessions"),
        *("GET api/terminals", "GET lab", "GET voila/render/customers.ipynb"),
        *("GET voila/files/x", "GET dap/api/v1/catalog", f"POST voila/api/shutdown/{kernel}"),
    ]
    for method, path in (line.split(" ") for line in jupyter):
        reply = httpx.request(method, f"{hub.dashboards}/{path}", headers=as_bob, timeout=30)
        assert reply.status_code in (403, 404, 405), (method, path, reply.status_code)
    assert httpx.get(api, headers=as_ann, timeout=30).status_code == 200  # bob did not stop it
    no_scope = hub.token(ANN.name, SERVICE_SCOPE)  # may call DAP, not the dashboard host
    page = httpx.get(
        f"{hub.dashboards}/dap/dashboards/customers",
        headers={"Authorization": f"token {no_scope}"},
        timeout=30,
    )
    assert page.status_code == 403


def test_a_group_removed_at_the_provider_stops_counting(hub: Deployment) -> None:
    token = hub.token(ANN.name, SERVICE_SCOPE)
    with HttpSession(hub.service, hub_token=token) as ann:
        assert ann.sql("SELECT DISTINCT region FROM customers")["region"].to_list() == ["EMEA"]
        hub.set_claims(Person(ANN.name, (), "EMEA"))  # the IdP admin removes her from A
        deadline = time.monotonic() + 60
        while True:
            time.sleep(1)
            try:
                ann.sql("SELECT count(*) FROM customers")
            except QueryRefused:
                break  # refreshed: no group, no grant
            assert time.monotonic() < deadline, "the removed group still counts after 60 s"
    reply = httpx.get(
        f"{hub.service}/dap/api/v1/audit",
        params={"action": "refresh"},
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )
    records = reply.json()["records"]
    assert records and "groups changed" in records[0]["statement"], records


def test_the_audit_log_has_the_logins_and_queries(
    hub: Deployment, bob_in_lab: dict[str, Any]
) -> None:
    """Bob's sign-in, his server's start and his kernel's query are each in the audit log."""
    token = hub.token(BOB.name, SERVICE_SCOPE)

    def records(action: str) -> list[dict[str, Any]]:
        reply = httpx.get(
            f"{hub.service}/dap/api/v1/audit",
            params={"action": action},
            headers={"Authorization": f"token {token}"},
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        return list(reply.json()["records"])

    logins = records("login")
    assert logins and logins[0]["user"] == BOB.name and "apac-analysts" in logins[0]["statement"]
    queries = records("query")
    assert any("FROM customers" in r["statement"] for r in queries), queries
    assert records("server-start") and records("token-use")
