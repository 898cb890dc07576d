"""REST `pipelines` and `runs` through a real Jupyter Server: governed, JSON errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dap_kernel.session import Workspace
from tests.server.conftest import Api

COPY = {
    "name": "customers_copy",
    "description": "A copy of the customers, by region.",
    "extract": {"sql": "SELECT customer_id, region FROM main.customers"},
    "load": {"table": "main.customers_copy", "mode": "overwrite"},
}


async def _register(api: Api, spec: dict[str, Any], as_: str = "jupyter") -> Any:
    return await api("POST", "pipelines", body={"spec": spec}, as_=as_)


async def test_register_run_and_read_history(api: Api, governed: Workspace) -> None:
    created = await _register(api, COPY)
    assert created.status == 201, created.body
    assert created.body["target"] == "main.customers_copy"
    assert created.body["owner"] == "tester" and created.body["last_run"] is None

    run = await api("POST", "pipelines/customers_copy/run")
    assert run.status == 200, run.body
    total = governed.session().sql("SELECT count(*) AS n FROM main.customers")["n"][0]
    assert run.body["status"] == "succeeded" and run.body["rows_written"] == total
    assert run.body["principal"] == "tester" and run.body["table_version"] is not None
    assert "extract" in run.body["steps"]

    detail = await api("GET", "pipelines/customers_copy")
    assert detail.body["loads"] == 1 and detail.body["last_run"]["run_id"] == run.body["run_id"]
    assert detail.body["spec"]["extract"]["sql"].startswith("SELECT customer_id")

    runs = await api("GET", "runs", params={"pipeline": "customers_copy"})
    assert [r["run_id"] for r in runs.body["runs"]] == [run.body["run_id"]]
    one = await api("GET", f"runs/{run.body['run_id']}")
    assert one.status == 200 and one.body["rows_written"] == total


async def test_visibility_follows_the_target_table(api: Api) -> None:
    assert (await _register(api, COPY)).status == 201
    run_id = (await api("POST", "pipelines/customers_copy/run")).body["run_id"]
    # bob may not read the table: the pipeline and its runs do not exist for him.
    assert (await api("GET", "pipelines", as_="bob")).body["pipelines"] == []
    assert (await api("GET", "pipelines/customers_copy", as_="bob")).status == 404
    assert (await api("POST", "pipelines/customers_copy/run", as_="bob")).status == 404
    assert (await api("GET", "runs", as_="bob")).body["runs"] == []
    assert (await api("GET", f"runs/{run_id}", as_="bob")).status == 404
    # ann (an analyst) may read it, not write it.
    names = [p["name"] for p in (await api("GET", "pipelines", as_="ann")).body["pipelines"]]
    assert names == ["customers_copy"]
    refused = await api("POST", "pipelines/customers_copy/run", as_="ann")
    assert refused.status == 403 and refused.body["error"] == "query_refused"


async def test_only_admins_register_python_steps(api: Api, governed: Workspace) -> None:
    admin = governed.admin("tester")
    admin.grant("CREATE", "main", "user", "ann")
    spec = {**COPY, "name": "py", "transform": [{"python": "os:getcwd"}], "load": {"table": "py"}}
    refused = await _register(api, spec, as_="ann")
    assert refused.status == 403
    plain = await _register(api, {**COPY, "name": "anns", "load": {"table": "anns"}}, as_="ann")
    assert plain.status == 201 and plain.body["owner"] == "ann"


async def test_bad_spec_and_failed_run(api: Api, tmp_path: Path) -> None:
    bad = await _register(api, {"name": "x", "extract": {"file": "a.csv"}})
    assert bad.status == 400 and bad.body["message"] == "pipeline: load: Field required"
    broken = {
        "name": "broken",
        "extract": {"file": str(tmp_path / "missing.csv")},
        "load": {"table": "broken"},
        "retries": {"attempts": 1, "backoff_s": 0},
    }
    assert (await _register(api, broken)).status == 201
    run = await api("POST", "pipelines/broken/run")
    assert run.status == 200 and run.body["status"] == "failed"
    assert run.body["error"].startswith("extract failed: file not found")
    failed = await api("GET", "runs", params={"status": "failed"})
    assert [r["pipeline"] for r in failed.body["runs"]] == ["broken"]
    assert (await api("GET", "pipelines/nope")).status == 404
    assert (await api("GET", "runs/nope")).status == 404


async def test_raw_sources_and_secrets_are_for_admins_only(
    api: Api, governed: Workspace, tmp_path: Path
) -> None:
    """Over REST a raw path, URL or API reads with the service's rights: not for engineers."""
    from dap_kernel.connectors import Connectors

    admin = governed.admin("tester")
    admin.add_member("role", "engineer", "user", "ann")  # CREATE and USE_CONNECTOR on *
    for extract in (
        {"file": "/etc/passwd", "format": "csv"},
        {"sql_url": f"sqlite:///{governed.settings.home / 'meta.db'}", "table": "api_keys"},
        {"api": {"url": "http://127.0.0.1:9/"}},
    ):
        spec = {"name": "raw", "extract": extract, "load": {"table": "raw"}}
        refused = await _register(api, spec, as_="ann")
        assert refused.status == 403, (extract, refused.body)
    # Through a named folder connector the path stays inside its folder.
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "a.csv").write_text("x\n1\n")
    Connectors(governed.meta, governed.secrets).create("drop", str(folder), owner="tester")
    inside = {
        "name": "ok",
        "extract": {"connector": "drop", "path": "a.csv"},
        "load": {"table": "ok"},
    }
    assert (await _register(api, inside, as_="ann")).status == 201
    assert (await api("POST", "pipelines/ok/run", as_="ann")).body["status"] == "succeeded"
    for escape in ("/etc/passwd", "../../etc/passwd"):
        spec = {
            "name": "esc",
            "extract": {"connector": "drop", "path": escape},
            "load": {"table": "esc"},
        }
        assert (await _register(api, spec, as_="ann")).status == 201
        run = await api("POST", "pipelines/esc/run", as_="ann")
        assert (
            run.body["status"] == "failed" and "inside the connector's folder" in run.body["error"]
        )
    # In-process too, a ${secret:…} reference could send any stored credential anywhere.
    from dap_kernel.errors import QueryRefused
    from dap_kernel.governance.identity import Principal
    from dap_kernel.pipelines import pipeline

    leak = {
        "name": "leak",
        "extract": {"api": {"url": "http://127.0.0.1:9/", "headers": {"X": "${secret:k}"}}},
        "load": {"table": "leak"},
    }
    with pytest.raises(QueryRefused, match="MANAGE_GRANTS"):
        pipeline(leak).run(governed.session(Principal("ann")))
