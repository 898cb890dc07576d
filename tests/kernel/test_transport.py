"""The HTTP transport against a real DAP service process: the same answers, the same errors.

One service per module, over a governed copy of the demo data (ann sees only EMEA customers and
masked emails; bob has no grant). Each test points the kernel at it with ``DAP_SERVICE_URL`` and
an API key, exactly as a user kernel under a hub would be.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import polars as pl
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import dap_kernel as dap
from dap_kernel.client import close_http_sessions, connect
from dap_kernel.errors import (
    DapError,
    MissingParameter,
    QueryCancelled,
    QueryRefused,
    SqlSyntaxError,
    TooManyQueries,
    UnknownTable,
)
from dap_kernel.governance.identity import Principal
from dap_kernel.local import LocalClient
from dap_kernel.magics import DapMagics
from dap_kernel.session import Session, Workspace
from dap_kernel.settings import Settings
from dap_kernel.transport import (
    HttpSession,
    NotAuthenticated,
    NotAvailableOverHttp,
    ServiceUnavailable,
    error_from,
)
from tests.conftest import Service, _free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def service(dap_service: Service) -> Service:
    return dap_service


@pytest.fixture(scope="module")
def local(service: Service) -> Iterator[Workspace]:
    """The same home opened in this process: what the in-process path answers."""
    ws = Workspace(Settings(home=service.home, user="tester"))
    yield ws
    ws.close()


@pytest.fixture(autouse=True)
def _fresh_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    yield
    close_http_sessions()


def use(monkeypatch: pytest.MonkeyPatch, service: Service, user: str) -> None:
    monkeypatch.setenv("DAP_SERVICE_URL", service.url)
    monkeypatch.setenv("DAP_API_KEY", service.keys[user])


def as_user(ws: Workspace, name: str) -> Session:
    return ws.session(Principal(name=name, source="test"))


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    """A real IPython shell with the magics on ``connect()``, as ``%load_ext dap_kernel`` does."""
    ip = InteractiveShell.instance()
    ip.register_magics(DapMagics(shell=ip))
    ip.user_ns.clear()
    yield ip
    InteractiveShell.clear_instance()


def cell(shell: InteractiveShell, line: str, body: str) -> Any:
    return shell.run_cell_magic("dap", line, body)  # type: ignore[no-untyped-call]


def one_line(error: BaseException, *secrets: str) -> str:
    text = str(error)
    assert text and "\n" not in text and "Traceback" not in text
    for secret in secrets:
        assert secret not in text
    return text


CUSTOMERS = "SELECT customer_id, name, region, email FROM customers ORDER BY customer_id"


def test_connect_picks_the_transport_from_the_environment(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(connect(), LocalClient)
    use(monkeypatch, service, "ann")
    client = connect()
    assert isinstance(client, HttpSession)
    assert connect() is client  # one client (and its kept-alive connections) per configuration
    assert service.keys["ann"] not in repr(client)
    me = dap.whoami()
    assert (me["user"], me["source"], me["service"]) == ("ann", "apikey", service.url)


def test_dap_sql_over_http_is_the_in_process_answer(
    service: Service, local: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, service, "ann")
    remote = dap.sql(CUSTOMERS)
    expected = as_user(local, "ann").sql(CUSTOMERS)
    assert remote.equals(expected)
    assert remote.schema == expected.schema
    assert remote.height > 0
    assert set(remote["region"]) == {"EMEA"}
    assert remote["name"].unique().to_list() == ["***"]
    assert all(e.startswith("***@") for e in remote["email"])
    use(monkeypatch, service, "tester")
    assert dap.sql(CUSTOMERS).height > remote.height  # same statement, another principal


def test_parameters_are_bound_by_name_position_and_type(
    service: Service, local: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, service, "ann")
    sql = "SELECT count(*) AS n FROM orders WHERE status = :status AND order_ts >= :since"
    params: dict[str, Any] = {"status": "shipped", "since": datetime(2024, 3, 1), "x": object()}
    remote = dap.sql(sql, params)  # `x` is not used, so it is never sent
    assert remote.equals(as_user(local, "ann").sql(sql, params))
    positional = dap.sql("SELECT CAST(? AS INT) + CAST(? AS INT) AS s", [40, 2])
    assert positional["s"].to_list() == [42]
    hostile = dap.sql("SELECT count(*) AS n FROM customers WHERE region = :r", {"r": "' OR 1=1"})
    assert hostile["n"].to_list() == [0]
    with pytest.raises(MissingParameter) as info:
        dap.sql("SELECT * FROM orders WHERE status = :nope", {})
    assert info.value.names == ["nope"]
    with pytest.raises(DapError, match="parameter :p is a object"):
        dap.sql("SELECT :p AS p", {"p": object()})


def test_cell_magic_over_http_matches_in_process(
    service: Service,
    local: Workspace,
    monkeypatch: pytest.MonkeyPatch,
    shell: InteractiveShell,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use(monkeypatch, service, "ann")
    shell.user_ns.update({"status": "shipped", "frame": pl.DataFrame({"a": [1]}), "fn": print})
    sql = "SELECT channel, count(*) AS n FROM orders WHERE status = :status GROUP BY 1 ORDER BY 1"
    frame = cell(shell, "sql", sql)
    assert isinstance(frame, pl.DataFrame)
    assert frame.equals(as_user(local, "ann").sql(sql, {"status": "shipped"}))
    assert "rows in" in capsys.readouterr().out
    assert cell(shell, "sql --name top --limit 3", CUSTOMERS) is None
    assert shell.user_ns["top"].height == 3
    assert shell.run_line_magic("dap", "whoami")["user"] == "ann"


@pytest.mark.parametrize(
    ("sql", "error", "text"),
    [
        ("SELECT * FRO orders", SqlSyntaxError, "SQL syntax error at line 1, column 14"),
        ("SELECT * FROM custmers", UnknownTable, "did you mean customers"),
        ("SELECT * FROM read_csv('/etc/passwd')", QueryRefused, "not allowed"),
        ("SELECT 1 / 0 AS x, 'a'::INT AS y", DapError, ""),
    ],
)
def test_errors_are_the_in_process_errors(
    service: Service,
    local: Workspace,
    monkeypatch: pytest.MonkeyPatch,
    sql: str,
    error: type[DapError],
    text: str,
) -> None:
    use(monkeypatch, service, "ann")
    with pytest.raises(error) as remote:
        dap.sql(sql)
    with pytest.raises(error) as in_process:
        as_user(local, "ann").sql(sql)
    assert type(remote.value) is type(in_process.value)
    assert one_line(remote.value, service.keys["ann"]) == str(in_process.value)
    assert remote.value.code == in_process.value.code
    assert text in str(remote.value)


def test_a_refused_principal_is_refused_over_http(
    service: Service, monkeypatch: pytest.MonkeyPatch, shell: InteractiveShell
) -> None:
    use(monkeypatch, service, "bob")
    with pytest.raises(QueryRefused, match="bob may not SELECT main.customers"):
        dap.sql("SELECT * FROM customers")
    with pytest.raises(UsageError, match="bob may not SELECT main.customers") as info:
        cell(shell, "sql", "SELECT * FROM customers")
    one_line(info.value, service.keys["bob"])
    assert shell.run_line_magic("dap", "catalog")["table"].to_list() == []


def test_a_wrong_key_is_one_line_without_the_key(
    service: Service, monkeypatch: pytest.MonkeyPatch, shell: InteractiveShell
) -> None:
    wrong = "dap_" + service.keys["ann"].split("_")[1] + "_" + "x" * 32
    monkeypatch.setenv("DAP_SERVICE_URL", service.url)
    monkeypatch.setenv("DAP_API_KEY", wrong)
    with pytest.raises(NotAuthenticated) as info:
        dap.sql("SELECT 1")
    text = one_line(info.value, wrong, "x" * 32)
    assert "invalid API key" in text and service.url in text
    with pytest.raises(UsageError) as magic:
        cell(shell, "sql", "SELECT 1")
    one_line(magic.value, wrong, "x" * 32)
    monkeypatch.delenv("DAP_API_KEY")
    with pytest.raises(NotAuthenticated, match="set DAP_API_KEY"):
        dap.whoami()


def test_a_service_that_is_down_is_one_line(
    monkeypatch: pytest.MonkeyPatch, shell: InteractiveShell
) -> None:
    url = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    monkeypatch.setenv("DAP_SERVICE_URL", url)
    monkeypatch.setenv("DAP_API_KEY", "dap_secretid_secretvalue")
    for call in (lambda: dap.sql("SELECT 1"), dap.whoami, lambda: dap.catalog.search("x")):
        with pytest.raises(ServiceUnavailable) as info:
            call()
        text = one_line(info.value, "secretvalue")
        assert f"the DAP service at {url} does not answer" in text
    with pytest.raises(UsageError, match="does not answer") as magic:
        shell.run_line_magic("dap", "catalog")
    one_line(magic.value, "secretvalue")
    monkeypatch.setenv("DAP_SERVICE_URL", "http://me:pw@127.0.0.1:1/x?token=abc")
    with pytest.raises(ServiceUnavailable) as hidden:
        dap.whoami()
    one_line(hidden.value, "pw", "abc")


def test_cancel_from_another_thread_stops_the_query(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, service, "ann")
    client = connect()
    query_id = uuid.uuid4().hex
    outcome: dict[str, BaseException | None] = {}

    def run() -> None:
        try:
            client.query(
                "SELECT count(*) FROM main.order_lines a, main.order_lines b, main.order_lines c",
                query_id=query_id,
            )
            outcome["error"] = None
        except BaseException as e:
            outcome["error"] = e

    worker = threading.Thread(target=run)
    started = time.monotonic()
    worker.start()
    deadline = started + 60
    while not client.cancel(query_id):  # False until the engine has the query
        assert worker.is_alive(), f"the query ended before it could be cancelled: {outcome}"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    worker.join(30)
    assert not worker.is_alive()
    assert isinstance(outcome["error"], QueryCancelled)
    one_line(outcome["error"])
    assert client.progress(query_id) is None  # no longer running
    assert client.cancel(query_id) is False
    assert client.cancel("no-such-query-id") is False


def test_catalog_and_describe_magics_over_http(
    service: Service,
    local: Workspace,
    monkeypatch: pytest.MonkeyPatch,
    shell: InteractiveShell,
) -> None:
    use(monkeypatch, service, "ann")
    listed = shell.run_line_magic("dap", "catalog")
    assert listed["table"].to_list() == [
        t.qualified_name for t in as_user(local, "ann").visible_tables()
    ]
    assert listed.frame.filter(pl.col("table") == "main.customers")["rows"].to_list() == [None]
    assert shell.run_line_magic("dap", "catalog pii")["table"].to_list() == ["main.customers"]
    described = shell.run_line_magic("dap", "describe main.customers")
    in_process = local.catalog.get("main.customers").columns_frame()
    assert described["column"].to_list() == in_process["column"].to_list()
    assert described["type"].to_list() == in_process["type"].to_list()
    # ann's rows are filtered: statistics over all customers would tell her about the others.
    assert described["distinct"].null_count() == len(described)
    assert "–" in described.text() and "≈" not in described.text()
    with pytest.raises(UsageError, match="not shown through the DAP service") as info:
        shell.run_line_magic("dap", "grants customers")
    one_line(info.value)
    # The service names no other table: a suggestion could reveal one ann may not read.
    with pytest.raises(UsageError, match="no table custmers in the catalog"):
        shell.run_line_magic("dap", "describe custmers")


def test_catalog_facade_over_http(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, service, "tester")
    assert [t.qualified_name for t in dap.catalog.search("pii")] == ["main.customers"]
    assert len(dap.catalog.list("main")) == 6 and dap.catalog.list("other") == []
    info = dap.catalog.get("orders")
    assert info.qualified_name == "main.orders" and info.row_count and info.columns
    assert info.location == ""  # where the data lives is not the kernel's business
    with pytest.raises(NotAvailableOverHttp, match="not available through the DAP service"):
        dap.catalog.create_table("t", pl.DataFrame({"a": [1]}))
    client = connect()
    assert client.check("SELECT", "main.orders").allowed
    use(monkeypatch, service, "bob")
    bob = connect()
    decision = bob.check("SELECT", "main.orders")
    assert not decision.allowed and "bob" in decision.reason
    with pytest.raises(QueryRefused):
        bob.require("SELECT", "main.orders")


def test_error_codes_map_to_the_core_classes() -> None:
    assert type(error_from("query_timeout", "too slow")) is not QueryCancelled
    assert isinstance(error_from("query_timeout", "too slow"), QueryCancelled)
    missing = error_from("missing_parameter", "no value for parameter :a, :b")
    assert isinstance(missing, MissingParameter) and missing.names == ["a", "b"]
    busy = error_from("too_many_queries", "ann already has 8 queries running", 429)
    assert isinstance(busy, TooManyQueries) and busy.http_status == 429
    unknown = error_from("brand_new_code", "something the kernel does not know yet", 418)
    assert type(unknown) is DapError
    assert (unknown.code, unknown.http_status, str(unknown)) == (
        "brand_new_code",
        418,
        "something the kernel does not know yet",
    )


def _running_on(service: Service, query_id: str) -> bool:
    watcher = HttpSession(service.url, api_key=service.keys["ann"])
    try:
        data = watcher._json("GET", f"query/{query_id}", params={"page_size": 1}, missing_ok=True)
        return bool(data and data.get("status") == "running")
    finally:
        watcher.close()


@pytest.mark.timeout(120)
def test_ctrl_c_in_dap_sql_cancels_the_query_on_the_service(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGINT to the kernel's main thread inside ``dap.sql``: QueryCancelled at once, and the
    query does not run on unread on the service (the client sends DELETE query/{id}; the
    service also stops a query whose caller went away, so this asserts the outcome only)."""
    import signal

    use(monkeypatch, service, "ann")
    client = connect()
    query_id = uuid.uuid4().hex
    main = threading.main_thread().ident
    assert main is not None

    def interrupt() -> None:
        while not _running_on(service, query_id):
            time.sleep(0.05)
        signal.pthread_kill(main, signal.SIGINT)

    killer = threading.Thread(target=interrupt, daemon=True)
    killer.start()
    with pytest.raises(QueryCancelled, match="interrupted"):
        client.query(
            "SELECT count(*) FROM main.order_lines a, main.order_lines b, main.order_lines c",
            query_id=query_id,
        )
    killer.join()
    while _running_on(service, query_id):  # stopping takes a moment; it must come
        time.sleep(0.05)
    assert client.sql("SELECT 42 AS x")["x"].to_list() == [42]


def test_ctrl_c_in_the_magic_cancels_the_query_on_the_service(
    service: Service, monkeypatch: pytest.MonkeyPatch, shell: InteractiveShell
) -> None:
    """Ctrl-C while the progress bar polls the service stops the query there, at once."""
    from concurrent.futures import Future

    use(monkeypatch, service, "ann")
    magics = next(m for m in shell.magics_manager.registry.values() if isinstance(m, DapMagics))
    magics.progress_after = 0.2
    calls = {"n": 0}
    real_result = Future.result

    def result(self: Future[Any], timeout: float | None = None) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:  # the user presses Ctrl-C before the service has started it
            raise KeyboardInterrupt
        return real_result(self, timeout)

    monkeypatch.setattr(Future, "result", result)
    started = time.monotonic()
    with pytest.raises(UsageError, match="query cancelled"):
        cell(
            shell,
            "sql",
            "SELECT count(*) FROM main.order_lines a, main.order_lines b, main.order_lines c",
        )
    monkeypatch.setattr(Future, "result", real_result)
    # The magics' one worker thread is free again: the next cell runs at once.
    assert cell(shell, "sql", "SELECT 42 AS x")["x"].to_list() == [42]
    assert time.monotonic() - started < 20


def test_credentials_user_agent_and_foreign_answers() -> None:
    """Without a service: what the client sends, and what it makes of an answer not from DAP."""
    import httpx

    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/whoami"):
            return httpx.Response(200, json={"user": "ann", "source": "hub"})
        return httpx.Response(502, text="<html>Bad Gateway</html>")

    mock = httpx.MockTransport(answer)
    with HttpSession("http://hub:8000/services/dap/", hub_token="hubtok", transport=mock) as hub:
        assert hub.whoami()["user"] == "ann"
        with pytest.raises(ServiceUnavailable, match="HTTP 502 with something that is not DAP"):
            hub.sql("SELECT 1")
    with HttpSession("http://dap:9000", api_key="dap_k_s", hub_token="hubtok", transport=mock) as k:
        k.whoami()
    assert seen[0].url == "http://hub:8000/services/dap/dap/api/v1/whoami"
    assert seen[0].headers["Authorization"] == "token hubtok"
    assert seen[0].headers["User-Agent"] == f"dap-client/{dap.__version__}"
    assert seen[1].headers["Accept"] == "application/vnd.apache.arrow.stream"
    assert seen[-1].headers["Authorization"] == "Bearer dap_k_s"  # a DAP key wins
    with pytest.raises(DapError, match="not an http"):
        HttpSession("dap.example.com")


def test_time_travel_over_http(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, service, "ann")
    now = dap.sql("SELECT count(*) FROM customers").item()
    assert dap.sql("SELECT count(*) FROM customers", as_of=0).item() == now
    with pytest.raises(DapError, match="no version numbered 99"):
        dap.sql("SELECT count(*) FROM customers", as_of=99)


def test_quality_magic_over_http(
    service: Service, shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`%dap quality` in a kernel that reaches data only through the DAP service."""
    use(monkeypatch, service, "tester")
    client = connect()
    assert isinstance(client, HttpSession)
    rules = [
        {"not_null": "order_id"},
        {"accepted_values": {"column": "channel", "values": ["web"]}},
    ]
    client._json("POST", "quality/main.orders/rules", json={"rules": rules})
    frame = shell.run_line_magic("dap", "quality main.orders")  # type: ignore[no-untyped-call]
    by_rule = {r["rule"]: r for r in frame.to_dicts()}
    assert by_rule["not_null_order_id"]["status"] == "pass"
    assert by_rule["accepted_values_channel"]["status"] == "fail"
    assert by_rule["accepted_values_channel"]["failures"] > 0
    latest = shell.run_line_magic("dap", "quality main.orders --latest")  # type: ignore[no-untyped-call]
    assert latest.to_dicts() == frame.to_dicts()  # the check was stored: the service's answer
    assert dap.quality_status("main.orders").failed_rules == 1
    use(monkeypatch, service, "bob")
    # A table bob may not read is answered as a missing one (no existence oracle).
    for line in ("quality main.orders", "quality main.orders --latest"):
        with pytest.raises(UsageError, match="no table main.orders in the catalog"):
            shell.run_line_magic("dap", line)  # type: ignore[no-untyped-call]
