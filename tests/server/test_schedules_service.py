"""Reports that really run: papermill in the scheduler of `dap serve` and of the extension in
a Jupyter Server of its own, the report's kernel calling back with its run's key; and the
same sequence through ``LocalClient.schedules`` and ``HttpSchedules`` (one rule, every door).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dap_server.endpoints.schedules import HTML_CSP

from dap_kernel.errors import DapError
from dap_kernel.remote_schedules import HttpSchedules
from dap_kernel.scheduler.model import Run, ScheduleClient, ScheduleSpec
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings
from dap_kernel.transport import HttpSession
from tests.conftest import Service, _free_port, stop_process
from tests.server.schedule_fixtures import SCRIPT, report_notebook

pytestmark = pytest.mark.slow

EVERY_SCOPE = ["query", "read-catalog", "admin"]
RUN_TIMEOUT_S = 600  # papermill and a kernel on a loaded machine; the run ends long before


@pytest.fixture(scope="module")
def local(dap_service: Service) -> Iterator[Workspace]:
    """The service's own DAP home, opened in this process as well."""
    ws = Workspace(Settings(home=dap_service.home, user="tester"))
    yield ws
    ws.close()


def _spec(name: str, *, script: bool = False) -> ScheduleSpec:
    return ScheduleSpec(
        name=name,
        notebook=report_notebook(script=script),
        formats=("ipynb", "html"),
        parameters={"region": "EMEA"},
        retries=0,
        timeout_s=RUN_TIMEOUT_S,
    )


def _check_report(schedules: ScheduleClient, run: Run, key_names: list[str]) -> None:
    """The run read the table through DAP as its owner, and its key is gone."""
    assert run.status == "succeeded", (run.error, schedules.log(run.id))
    assert set(run.reads) == {"main.customers"} and run.reads["main.customers"] >= 0
    executed = json.loads(schedules.output_bytes(run.id, "ipynb"))
    printed = "".join(
        "".join(o.get("text", "")) for cell in executed["cells"] for o in cell.get("outputs", [])
    )
    assert "ROWS [('EMEA'," in printed and "APAC" not in printed  # ann's row filter held
    assert f"scheduled run {run.id}" in key_names


def _queried_through(url: str, key: str) -> set[str]:
    """The channels of the owner's audited report queries (``rest…``: through the
    service's REST API, not a workspace opened by the kernel itself)."""
    reply = httpx.get(
        f"{url}/dap/api/v1/audit",
        params={"limit": 100},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    records = reply.json()["records"]
    return {r["channel"] for r in records if "WHERE region = :region" in r["statement"]}


def _key_states(url: str, key: str) -> dict[str, str]:
    reply = httpx.get(
        f"{url}/dap/api/v1/apikeys", headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    return {k["name"]: k["state"] for k in reply.json()["keys"]}


def test_a_report_runs_in_dap_serve_and_talks_back_with_its_key(
    dap_service: Service, local: Workspace
) -> None:
    key = local.apikeys.create("ann", "schedules", scopes=EVERY_SCOPE)[1]
    with HttpSession(dap_service.url, api_key=key) as ann:
        schedules = ann.schedules
        assert isinstance(schedules, HttpSchedules)
        schedule = schedules.add(_spec("served", script=True))
        queued = schedules.run_now(schedule.id, {"region": "EMEA"})
        assert queued.status == "queued" and queued.parameters == {"region": "EMEA"}
        run = schedules.wait(queued.id, timeout_s=RUN_TIMEOUT_S)
        states = _key_states(dap_service.url, key)
        _check_report(schedules, run, list(states))
        assert states[f"scheduled run {run.id}"] == "revoked"  # revoked as the run ended
        assert _queried_through(dap_service.url, key) == {"rest:python"}
        assert "--- attempt 1 at" in schedules.log(run.id)
        assert [r.id for r in schedules.history(schedule.id)] == [run.id]
        # The author's script is in the report (the executed notebook shows it) …
        executed = json.loads(schedules.output_bytes(run.id, "ipynb"))
        shown = [
            "".join(o["data"]["text/html"])
            for cell in executed["cells"]
            for o in cell.get("outputs", [])
            if "text/html" in o.get("data", {})
        ]
        assert shown == [SCRIPT]
        # … and its HTML is answered so that no browser runs it on the DAP origin.
        html = httpx.get(
            f"{dap_service.url}/dap/api/v1/schedule-runs/{run.id}/outputs/html",
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert html.status_code == 200
        assert html.headers["Content-Security-Policy"] == HTML_CSP
        assert html.headers["X-Content-Type-Options"] == "nosniff"
        # raj (another analyst) finds none of it.
        with HttpSession(dap_service.url, api_key=dap_service.keys["raj"]) as raj:
            for attempt in (
                lambda: raj.schedules.get(schedule.id),
                lambda: raj.schedules.run(run.id),
                lambda: raj.schedules.output_bytes(run.id, "ipynb"),
                lambda: raj.schedules.log(run.id),
                lambda: raj.schedules.remove(schedule.id),
            ):
                with pytest.raises(DapError) as refused:
                    attempt()
                assert refused.value.code in ("unknown_schedule", "unknown_run")
        schedules.remove(schedule.id)


# -- the extension in a Jupyter Server of its own ---------------------------------------------


@pytest.fixture
def jupyter_server(governed: Workspace, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`jupyter server` with DAP loaded, a Jupyter token and a base URL, as a lab server is;
    yields (its URL with the base URL, its token)."""
    port, token = _free_port(), "jupyter-token-for-tests"
    config = {
        "ServerApp": {
            "jpserver_extensions": {"dap_server": True},
            "port": port,
            "port_retries": 0,
            "ip": "127.0.0.1",
            "base_url": "/user/tester/",
            "open_browser": False,
            "allow_root": True,
            "root_dir": str(tmp_path),
            "token": token,
        },
        "DapExtension": {"dap_home": str(governed.settings.home), "identity": "owner"},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAP_", "JUPYTERHUB_"))}
    env.update(
        {
            "DAP_USER": "tester",
            "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
            "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
        }
    )
    log_path = tmp_path / "jupyter.log"
    command = [sys.executable, "-m", "jupyter_server", f"--config={tmp_path / 'config.json'}"]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/user/tester"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/dap/api/v1/health", timeout=2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter server did not start: {log_path}") from None
                time.sleep(0.2)
        yield url, token
    finally:
        stop_process(process)


def test_a_report_runs_in_the_extension_of_a_jupyter_server(
    jupyter_server: tuple[str, str], governed: Workspace
) -> None:
    """The lab server's scheduler runs the report; its kernel comes back with a DAP key (not
    the Jupyter token) through the base URL, and the extension takes it as ann."""
    url, token = jupyter_server
    owner = httpx.get(
        f"{url}/dap/api/v1/whoami", headers={"Authorization": f"token {token}"}, timeout=30
    )
    assert owner.status_code == 200 and owner.json()["user"] == "tester"
    key = governed.apikeys.create("ann", "schedules", scopes=EVERY_SCOPE)[1]
    with HttpSession(url, api_key=key) as ann:
        assert ann.whoami()["user"] == "ann" and ann.whoami()["source"] == "apikey"
        schedules = ann.schedules
        schedule = schedules.add(_spec("in-lab"))
        run = schedules.wait(schedules.run_now(schedule.id).id, timeout_s=RUN_TIMEOUT_S)
        _check_report(schedules, run, list(_key_states(url, key)))
        assert _queried_through(url, key) == {"rest:python"}  # via this server's base URL
        # The Jupyter token's holder (the server's owner, DAP's admin here) sees it with all.
        everyone = httpx.get(
            f"{url}/dap/api/v1/schedules",
            params={"all": "1"},
            headers={"Authorization": f"token {token}"},
            timeout=30,
        ).json()["schedules"]
        assert schedule.id in [s["id"] for s in everyone]


PEEK = """
import pathlib, dap_kernel as dap
home = pathlib.Path({home!r})
lake = [pathlib.Path({lake_file!r})]  # found by the test: the kernel may not even list the lake
for target in [home / "meta.db", home / "secrets.key", *lake, home / "reports"]:
    if not target.exists():
        continue
    try:
        target.read_bytes() if target.is_file() else list(target.iterdir())
        print("READ", target)
    except PermissionError:
        print("DENIED", "lake file" if target in lake else target.name)
run_log = pathlib.Path.cwd().parent / "run.log"  # the scheduler's, beside the kernel's folder
for name, target in [("planted", home / "planted.py"), ("run log", run_log)]:
    try:
        target.write_text("x")
        print("WROTE", name)
    except PermissionError:
        print("DENIED", name)
print("GOVERNED", dap.sql("SELECT count(*) AS n FROM customers")["n"][0] > 0)
"""


def test_a_report_kernel_cannot_open_the_services_files(
    dap_service: Service, local: Workspace
) -> None:
    """An analyst's report runs as the service's system user: confined, its kernel gets
    PermissionError for the metadata database, the secret key and the lake files (which
    would hold every row of every table), and still reads through the governed path."""
    from tests.reports import notebook

    lake_file = str(next(dap_service.home.glob("lake/**/*.parquet")))
    key = local.apikeys.create("ann", "peek", scopes=EVERY_SCOPE)[1]
    with HttpSession(dap_service.url, api_key=key) as ann:
        spec = ScheduleSpec(
            name="peek",
            notebook=notebook(PEEK.format(home=str(dap_service.home), lake_file=lake_file)),
            formats=("ipynb",),
            retries=0,
            timeout_s=RUN_TIMEOUT_S,
        )
        schedule = ann.schedules.add(spec)
        run = ann.schedules.wait(ann.schedules.run_now(schedule.id).id, timeout_s=RUN_TIMEOUT_S)
        assert run.status == "succeeded", (run.error, ann.schedules.log(run.id))
        executed = json.loads(ann.schedules.output_bytes(run.id, "ipynb"))
        printed = "".join(
            "".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", [])
        )
        ann.schedules.remove(schedule.id)
    assert "READ" not in printed and "WROTE" not in printed
    for denied in ("meta.db", "lake file", "reports", "planted", "run log"):
        assert f"DENIED {denied}" in printed, printed
    if (dap_service.home / "secrets.key").exists():
        assert "DENIED secrets.key" in printed
    assert "GOVERNED True" in printed
