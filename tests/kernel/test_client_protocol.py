"""One seam for local and remote: LocalClient (a Session with its features) and HttpSession
implement the same DapClient protocol,
features call it instead of asking which session they hold, and `dap sql` picks the DAP service
from DAP_SERVICE_URL exactly like `dap.sql`."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from dap_kernel.client import DapClient, as_client, close_http_sessions, connect
from dap_kernel.errors import DapError
from dap_kernel.governance.identity import Principal
from dap_kernel.local import LocalClient
from dap_kernel.magics import DapMagics
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings
from dap_kernel.transport import HttpSession, NotAvailableOverHttp
from tests.conftest import Service

KERNEL = Path(__file__).resolve().parents[2] / "dap_kernel"
DAP = str(Path(sys.executable).parent / "dap")


def protocol_members() -> list[str]:
    return sorted(
        name
        for name, value in vars(DapClient).items()
        if not name.startswith("_") and (callable(value) or isinstance(value, property))
    )


def accepts(impl: inspect.Signature, wanted: inspect.Signature) -> list[str]:
    """What a call written against ``wanted`` could pass that ``impl`` would not take."""
    params = [p for p in impl.parameters.values() if p.name != "self"]
    var_pos = any(p.kind is p.VAR_POSITIONAL for p in params)
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params)
    by_name = {p.name: p for p in params}
    problems = []
    for want in wanted.parameters.values():
        have = by_name.get(want.name)
        if want.name == "self":
            continue
        if want.kind is want.VAR_KEYWORD:
            ok = var_kw
        elif want.kind is want.VAR_POSITIONAL:
            ok = var_pos
        elif want.kind is want.POSITIONAL_OR_KEYWORD:
            ok = (have is not None and have.kind is have.POSITIONAL_OR_KEYWORD) or (
                var_pos and var_kw
            )
        else:  # keyword-only
            ok = (have is not None and have.kind is not have.POSITIONAL_ONLY) or var_kw
        if not ok:
            problems.append(want.name)
        elif (
            have is not None
            and want.default is not inspect.Parameter.empty
            and have.default is inspect.Parameter.empty
        ):
            problems.append(f"{want.name} (needs a default)")
    for have in params:
        required = have.default is inspect.Parameter.empty and have.kind not in (
            have.VAR_POSITIONAL,
            have.VAR_KEYWORD,
        )
        if required and have.name not in wanted.parameters:
            problems.append(f"{have.name} (required, not in the protocol)")
    return problems


@pytest.mark.parametrize("cls", [LocalClient, HttpSession])
def test_both_sessions_implement_every_protocol_method(cls: type) -> None:
    members = protocol_members()
    assert {"sql", "query", "describe", "lineage", "quality_check", "ingest", "export"} <= set(
        members
    )
    for name in members:
        wanted = vars(DapClient)[name]
        if isinstance(wanted, property):  # an attribute each session sets up, or a property
            if isinstance(getattr(cls, name, None), property):
                continue
            inits = [inspect.getsource(c) for c in cls.__mro__ if c.__module__.startswith("dap")]
            assert any(f"self.{name} =" in init for init in inits), (cls, name)
            continue
        impl = getattr(cls, name, None)
        assert callable(impl), f"{cls.__name__} has no {name}"
        problems = accepts(inspect.signature(impl), inspect.signature(wanted))
        assert not problems, f"{cls.__name__}.{name} does not take {problems}"


def test_the_signature_check_can_fail() -> None:
    def wanted(self: object, table: str, *, depth: int = 5) -> None: ...

    def narrower(self: object, table: str) -> None: ...

    def stricter(self: object, table: str, *, depth: int) -> None: ...

    def catch_all(self: object, table: str, **_options: object) -> None: ...

    def more(self: object, table: str, extra: int) -> None: ...

    assert accepts(inspect.signature(narrower), inspect.signature(wanted)) == ["depth"]
    assert accepts(inspect.signature(more), inspect.signature(wanted)) == [
        "depth",
        "extra (required, not in the protocol)",
    ]
    assert accepts(inspect.signature(stricter), inspect.signature(wanted)) == [
        "depth (needs a default)"
    ]
    assert accepts(inspect.signature(catch_all), inspect.signature(wanted)) == []


def test_no_feature_asks_which_session_it_holds() -> None:
    """Features call the protocol: no isinstance on the session type, no private HTTP calls."""
    branching = re.compile(r"isinstance\([^)]*\b(Session|_Session|HttpSession)\)")
    private = re.compile(r"\._json\(")
    found = []
    for path in KERNEL.rglob("*.py"):
        relative = path.relative_to(KERNEL).as_posix()
        text = path.read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), start=1):
            if branching.search(line) and relative != "pipelines/runner.py":
                found.append(f"{relative}:{number}: {line.strip()}")
            # The HTTP transport itself (of the session, its schedules, streams, models) may.
            transport = (
                "transport/session.py",
                "remote_schedules.py",
                "remote_streams.py",
                "remote_models.py",
            )
            if private.search(line) and relative not in transport:
                found.append(f"{relative}:{number}: {line.strip()}")
    assert found == []


def test_features_over_an_in_process_session(demo_workspace: Workspace) -> None:
    session = as_client(demo_workspace.session(Principal(name="tester")))
    assert isinstance(session, LocalClient) and as_client(session) is session
    assert session.describe("orders").qualified_name == "main.orders"
    assert session.lineage("main.orders").root == "main.orders"
    assert session.table_rules("orders") == session.table_rules("main.orders")


# -- over a real DAP service --------------------------------------------------------------------


@pytest.fixture
def remote(dap_service: Service, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    monkeypatch.setenv("DAP_SERVICE_URL", dap_service.url)
    monkeypatch.setenv("DAP_API_KEY", dap_service.keys["tester"])
    yield dap_service
    close_http_sessions()


def dap_sql(
    service: Service, user: str, home: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAP_", "JUPYTERHUB_"))}
    env.update(
        {
            "DAP_HOME": str(home),  # a kernel's home: it must stay untouched
            "DAP_SERVICE_URL": service.url,
            "DAP_API_KEY": service.keys[user],
        }
    )
    return subprocess.run(
        [DAP, "sql", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.slow
def test_dap_sql_runs_on_the_service_of_dap_service_url(
    dap_service: Service, tmp_path: Path
) -> None:
    home = tmp_path / "kernel-home"
    sql = "SELECT DISTINCT region FROM customers ORDER BY region"
    done = dap_sql(dap_service, "ann", home, sql, "--format", "csv")
    assert done.returncode == 0, done.stderr
    local = Workspace(Settings(home=dap_service.home, user="tester"))
    try:
        record = next(r for r in local.audit.tail(50) if r.principal == "ann")
        ann = local.session(Principal(name="ann", source="test"))
        expected = ann.sql(sql)["region"].to_list()
    finally:
        local.close()
    assert expected == ["EMEA"]  # ann's row filter, applied by the service
    assert done.stdout.split() == ["region", *expected]
    assert record.channel == "rest:cli" and record.statement == sql
    assert not home.exists()  # nothing was opened in this process
    refused = dap_sql(dap_service, "bob", home, sql)
    assert refused.returncode == 1 and "bob" in refused.stderr
    assert "Traceback" not in refused.stderr and dap_service.keys["bob"] not in refused.stderr


@pytest.mark.slow
def test_features_over_http_go_through_the_protocol(remote: Service) -> None:
    client = connect()
    assert isinstance(client, HttpSession)
    assert client.describe("orders").qualified_name == "main.orders"
    graph = client.lineage("main.orders")
    assert graph.root == "main.orders"
    with pytest.raises(NotAvailableOverHttp):
        client.ingest("sales.csv", "main.sales")
    with pytest.raises(NotAvailableOverHttp):
        client.register_file("ext", "x.csv")
    # Registry changes are the service's; a model file from the kernel is never sent to it.
    from dap_kernel import ml

    with pytest.raises(NotAvailableOverHttp, match="never loads model files"):
        ml.train("customers", "segment", name="churn")  # refused before a row is read
    with pytest.raises(DapError, match="no registered model nothing"):
        ml.alias("nothing", "challenger", 1)  # asked of the service: it knows no such model


@pytest.mark.slow
def test_magics_over_http_call_the_protocol(
    remote: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    shell = InteractiveShell.instance()
    shell.register_magics(DapMagics(shell=shell))
    try:
        with pytest.raises(UsageError, match="loading files is not available"):
            shell.run_line_magic("dap", "ingest sales.csv --table sales")  # type: ignore[no-untyped-call]
        graph = shell.run_line_magic("dap", "lineage main.orders")  # type: ignore[no-untyped-call]
        assert graph.root == "main.orders"
    finally:
        InteractiveShell.clear_instance()
