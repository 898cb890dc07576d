"""Pipelines over REST, the CLI and Python give the same answer (trusted parts are decided in the
core), and a spec read back by any door shows no credential."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from dap_kernel.cli import app
from dap_kernel.errors import DapError, QueryRefused
from dap_kernel.governance.identity import Principal
from dap_kernel.pipelines import PipelineStore, pipeline
from dap_kernel.session import Workspace, reset_default_workspace
from tests.server.conftest import Api

TOKEN = "bearer-S3cr3t-1"


class _Shop:
    """A local API that answers only with ``Authorization: Bearer TOKEN``."""

    def __init__(self) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                ok = self.headers.get("Authorization") == f"Bearer {TOKEN}"
                self.send_response(200 if ok else 401)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps([{"id": 1, "v": "a"}] if ok else {}).encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/orders"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def shop() -> Iterator[_Shop]:
    server = _Shop()
    yield server
    server.close()


def _cli(monkeypatch: pytest.MonkeyPatch, user: str, *args: str) -> Any:
    """``dap ARGS`` in-process as ``user`` (DAP_USER), on the test's DAP_HOME."""
    monkeypatch.setenv("DAP_USER", user)
    reset_default_workspace()
    try:
        return CliRunner().invoke(app, list(args))
    finally:
        reset_default_workspace()


def _untrusted(tmp_path: Path, home: Path) -> dict[str, dict[str, Any]]:
    (tmp_path / "a.csv").write_text("x\n1\n")
    return {
        "python step": {
            "extract": {"sql": "SELECT 1 AS x"},
            "transform": [{"python": "os:getcwd"}],
        },
        "raw file": {"extract": {"file": str(tmp_path / "a.csv")}},
        "database URL": {"extract": {"sql_url": f"sqlite:///{home / 'meta.db'}", "table": "t"}},
        "API address": {"extract": {"api": {"url": "http://127.0.0.1:9/"}}},
        "secret reference": {
            "extract": {
                "api": {
                    "url": "http://127.0.0.1:9/",
                    "auth": {"type": "bearer", "token": "${secret:k}"},
                }
            }
        },
    }


async def test_cli_python_and_rest_refuse_the_same_untrusted_pipeline(
    api: Api, governed: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = governed.admin("tester")
    admin.add_member("role", "engineer", "user", "ann")  # CREATE and USE_CONNECTOR on *
    governed.secrets.put("k", "never-sent")
    for part, extract in _untrusted(tmp_path, governed.settings.home).items():
        spec = {"name": "untrusted", **extract, "load": {"table": "main.untrusted"}}
        rest = await api("POST", "pipelines", body={"spec": spec}, as_="ann")
        with pytest.raises(QueryRefused) as python:
            pipeline(spec).run(governed.session(Principal(name="ann")))
        with pytest.raises(QueryRefused) as saved:
            pipeline(spec).register(governed.session(Principal(name="ann")))
        file = tmp_path / "untrusted.yaml"
        file.write_text(yaml.safe_dump(spec))
        cli = _cli(monkeypatch, "ann", "pipeline", "run", str(file))
        assert isinstance(cli.exception, DapError), (part, cli.output)
        assert rest.status == 403, (part, rest.body)
        codes = {rest.body["error"], python.value.code, saved.value.code, cli.exception.code}
        assert codes == {"query_refused"}, part
        messages = {rest.body["message"], str(python.value), str(cli.exception)}
        assert len(messages) == 1 and "MANAGE_GRANTS" in rest.body["message"], messages
        assert part.split()[-1].lower() in rest.body["message"].lower()
    assert PipelineStore(governed.meta).find("untrusted") is None  # no door saved it


async def test_running_an_admins_python_pipeline_is_refused_alike(
    api: Api, governed: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registered pipeline with a Python step: ann may write its table, not run its code."""
    spec = {
        "name": "py",
        "extract": {"sql": "SELECT 1 AS x"},
        "transform": [{"python": "tests.fixtures.pipelines.transforms:add_flag"}],
        "load": {"table": "main.py_out"},
    }
    assert (await api("POST", "pipelines", body={"spec": spec})).status == 201
    governed.admin("tester").grant("CREATE", "main", "user", "ann")  # an analyst: reads main
    rest = await api("POST", "pipelines/py/run", as_="ann")
    cli = _cli(monkeypatch, "ann", "pipeline", "run", "py")
    assert rest.status == 403 and isinstance(cli.exception, QueryRefused)
    assert rest.body["message"] == str(cli.exception) and "a Python step" in str(cli.exception)


def test_running_a_changed_copy_of_someone_elses_pipeline_is_redefining_it(
    governed: Workspace,
) -> None:
    theirs = {
        "name": "copy_t",
        "extract": {"sql": "SELECT 1 AS x"},
        "load": {"table": "main.copy_t"},
    }
    pipeline(theirs).run(governed.session())  # tester's
    governed.admin("tester").grant("MODIFY", "main.copy_t", "user", "ann")
    mine = {**theirs, "extract": {"sql": "SELECT 2 AS x"}}
    with pytest.raises(QueryRefused, match="belongs to tester"):
        pipeline(mine).run(governed.session(Principal(name="ann")))
    stored = PipelineStore(governed.meta).get("copy_t")
    assert stored.spec["extract"]["sql"] == "SELECT 1 AS x" and stored.owner == "tester"
    assert pipeline(theirs).run(governed.session(Principal(name="ann"))).ok  # the same: fine


INLINE: dict[str, dict[str, Any]] = {
    "bearer": {
        "api": {
            "url": "http://127.0.0.1:9/x?token=param-S3cr3t-2",
            "auth": {"type": "bearer", "token": TOKEN},
            "headers": {"X-API-Key": "header-S3cr3t-3"},
            "max_retries": 0,
        }
    },
    "basic": {
        "api": {
            "url": "http://127.0.0.1:9/x",
            "auth": {"type": "basic", "username": "ann", "password": "basic-S3cr3t-4"},
            "max_retries": 0,
        }
    },
    "apikey": {
        "api": {
            "url": "http://127.0.0.1:9/x",
            "auth": {"type": "api_key", "name": "key", "value": "apikey-S3cr3t-5", "in": "query"},
            "max_retries": 0,
        }
    },
    "oauth": {
        "api": {
            "url": "http://127.0.0.1:9/x",
            "auth": {
                "type": "oauth2",
                "token_url": "http://127.0.0.1:9/token",
                "client_id": "dap",
                "client_secret": "oauth-S3cr3t-6",
            },
            "max_retries": 0,
        }
    },
    "database": {"sql_url": "postgresql://loader:url-S3cr3t-7@127.0.0.1:9/shop", "table": "t"},
}
RAW = [TOKEN, *(f"{w}-S3cr3t-{i}" for i, w in enumerate(("param", "header"), 2))]
RAW += ["basic-S3cr3t-4", "apikey-S3cr3t-5", "oauth-S3cr3t-6", "url-S3cr3t-7"]


async def test_specs_and_runs_read_back_show_no_credential(
    api: Api, governed: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    for name, extract in INLINE.items():
        spec = {
            "name": name,
            "extract": extract,
            "load": {"table": f"main.{name}"},
            "retries": {"attempts": 1, "backoff_s": 0},
        }
        created = await api("POST", "pipelines", body={"spec": spec})
        assert created.status == 201, created.body
        run = await api("POST", f"pipelines/{name}/run")  # nothing listens on port 9: fails
        assert run.status == 200 and run.body["status"] == "failed", run.body
        detail = await api("GET", f"pipelines/{name}")
        assert set(extract) <= set(detail.body["spec"]["extract"])
        seen += [created.raw.decode(), run.raw.decode(), detail.raw.decode()]
        seen += [_cli(monkeypatch, "tester", "pipeline", *cmd, name).output for cmd in _SHOWN]
        seen.append(json.dumps(PipelineStore(governed.meta).get(name).spec))
    seen += [(await api("GET", path)).raw.decode() for path in ("pipelines", "runs")]
    everything = "\n".join(seen)
    for raw in RAW:
        assert raw not in everything, raw
    assert everything.count("***") >= len(RAW)
    assert "http://127.0.0.1:9/token" in everything  # what is not a credential stays readable


_SHOWN = (("show",), ("status",), ("history",))


async def test_the_stored_definition_still_runs_with_its_credential(api: Api, shop: _Shop) -> None:
    spec = {
        "name": "shop",
        "extract": {"api": {"url": shop.url, "auth": {"type": "bearer", "token": TOKEN}}},
        "load": {"table": "main.shop"},
    }
    assert (await api("POST", "pipelines", body={"spec": spec})).status == 201
    detail = await api("GET", "pipelines/shop")
    assert detail.body["spec"]["extract"]["api"]["auth"] == {"type": "bearer", "token": "***"}
    run = await api("POST", "pipelines/shop/run")
    assert run.body["status"] == "succeeded" and run.body["rows_written"] == 1, run.body


async def test_a_misplaced_secret_reference_is_a_400_naming_the_field(api: Api) -> None:
    spec = {
        "name": "leak",
        "extract": {"sql": "SELECT 1 AS x"},
        "transform": [{"sql": "SELECT '${secret:connector:shop}' AS pw FROM input"}],
        "load": {"table": "main.leak"},
    }
    refused = await api("POST", "pipelines", body={"spec": spec})
    assert refused.status == 400 and refused.body["error"] == "secret_placement"
    assert "transform.0.sql" in refused.body["message"]
