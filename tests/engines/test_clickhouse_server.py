"""The clickhouse engine against a real ClickHouse server on 127.0.0.1 (Debian's 18.16 here).

What is tested against what: chDB runs the full suites (test_differential, test_attacks_chdb,
test_tpch). Against this server: the client path (connect, bind by copy, execute to Arrow,
limit, cancel, errors, close) and subsets of the same suites — and the refusal: 18.16 lacks
``prefer_column_name_to_alias``, so a row filter on a masked column would test the mask
(proved below), and DAP refuses the server with one ConfigError. The suites run here through an
engine built in the test with that requirement relaxed (which no configuration can do).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dap_kernel.engines.base import Binding
from dap_kernel.engines.clickhouse import ClickHouseEngine, connect
from dap_kernel.errors import ConfigError, DapError, QueryCancelled, QueryFailed, QueryRefused
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings
from tests.attacks import ERROR_ATTACKS, NAME_ATTACKS, leaks
from tests.kernel.test_governance import ATTACKS

from .clickhouse_server import PASSWORD, SERVER, clickhouse_server, free_port
from .conftest import as_user, outcome, same_rows
from .test_differential import QUERIES

pytest.importorskip("clickhouse_connect")
if not os.path.exists(SERVER):
    pytest.skip("no clickhouse-server (make system-deps installs it)", allow_module_level=True)

DAP = shutil.which("dap", path=str(Path(sys.executable).parent)) or "dap"

# Differential queries 18.16 answers differently from DuckDB, by number in QUERIES, with why.
# Each is still run: it must be an error or the listed difference, never a leak.
DIFFERENT_ON_18_16 = {
    4: "GROUP BY 1, 2: 18.16 has no positional GROUP BY",
    7: "row_number() OVER: 18.16 has no window functions",
    8: "sum() OVER: 18.16 has no window functions",
    9: "WITH name AS (SELECT …): 18.16 knows only WITH expression AS name",
    12: "GROUP BY 1: 18.16 has no positional GROUP BY",
    13: "date_trunc: 18.16 has no dateTrunc (only toStartOfMonth and kin)",
    14: "EXISTS (subquery): not in 18.16",
    15: "UNION (DISTINCT): 18.16 has UNION ALL only",
    18: "count(DISTINCT) of no rows: NULL on 18.16, 0 in SQL "
    "(aggregate_functions_null_for_empty is unknown there)",
    20: "JOIN … ON … AND false: 18.16 takes only equalities in JOIN ON",
}


@pytest.fixture(scope="session")
def clickhouse_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ClickHouse server of its own for the run (:func:`.clickhouse_server.clickhouse_server`)."""
    with clickhouse_server(tmp_path_factory.mktemp("clickhouse")) as url:
        yield url


@pytest.fixture(scope="module")
def server_ws(governed_home: Path, clickhouse_url: str) -> Iterator[Workspace]:
    """The governed workspace with a clickhouse engine that runs on this old server."""
    ws = Workspace(Settings(home=governed_home, user="tester", clickhouse_url=clickhouse_url))
    engine = ClickHouseEngine(clickhouse_url, required=("readonly",))
    ws._engines["clickhouse"] = engine
    yield ws
    ws.close()


def _lacks_alias_setting(url: str) -> bool:
    client, known = connect(url)
    client.close()
    return "prefer_column_name_to_alias" not in known


def test_a_server_without_the_alias_setting_is_refused(
    governed_home: Path, clickhouse_url: str
) -> None:
    if not _lacks_alias_setting(clickhouse_url):
        pytest.skip("this server knows prefer_column_name_to_alias: nothing to refuse")
    ws = Workspace(Settings(home=governed_home, user="tester", clickhouse_url=clickhouse_url))
    try:
        with pytest.raises(ConfigError) as refused:
            as_user(ws, "ann").query("SELECT count(*) AS n FROM customers", engine="clickhouse")
        assert "prefer_column_name_to_alias" in refused.value.message
        assert PASSWORD not in str(refused.value)
    finally:
        ws.close()


def test_why_the_old_server_is_refused(clickhouse_url: str) -> None:
    """18.16 resolves a WHERE name to the SELECT alias of that name: a secured source with a
    redacted region and the filter region <> 'APAC' would let the APAC rows through."""
    if not _lacks_alias_setting(clickhouse_url):
        pytest.skip("this server knows prefer_column_name_to_alias")
    client, _ = connect(clickhouse_url)
    try:
        rows = client.query(
            "SELECT '***' AS region FROM (SELECT 'APAC' AS region) WHERE region <> 'APAC'"
        ).result_rows
    finally:
        client.close()
    assert rows == [("***",)]  # the APAC row passed a filter meant to remove it


@pytest.mark.parametrize("user", ["ann", "tester"])
def test_differential_subset_on_the_server(server_ws: Workspace, user: str) -> None:
    """Every differential query runs; those 18.16 cannot answer like DuckDB are listed in
    DIFFERENT_ON_18_16 with the reason (an error or a different answer, never a leak), and
    every other one must agree."""
    session = as_user(server_ws, user)
    token = server_ws.engine_named("clickhouse").names.token
    differ: dict[int, str] = {}
    for i, sql in enumerate(QUERIES):
        duck = outcome(session, sql, "duckdb")
        ch = outcome(session, sql, "clickhouse")
        assert duck[0] == "rows", (sql, duck[1])
        if ch[0] == "rows":
            assert user == "tester" or not leaks(ch[1], no_grant=False), (sql, ch[1][:2])
            if not same_rows(duck[1], ch[1]):
                differ[i] = f"rows {ch[1][:2]} for {duck[1][:2]}"
        else:
            assert PASSWORD not in ch[1].message and token not in ch[1].message, ch[1].message
            differ[i] = str(ch[1])
    assert sorted(differ) == sorted(DIFFERENT_ON_18_16), differ


@pytest.mark.parametrize("user", ["ann", "bob"])
def test_attack_statements_on_the_server(server_ws: Workspace, user: str) -> None:
    """The attack suite: DuckDB's refusals word for word, no raw rows ever; statements the
    old server cannot run are errors, counted (never silently passed)."""
    session = as_user(server_ws, user)
    token = server_ws.engine_named("clickhouse").names.token
    no_grant = user == "bob"
    answered = engine_only = 0
    for sql in [*NAME_ATTACKS, *ATTACKS, *ERROR_ATTACKS]:
        duck = outcome(session, sql, "duckdb", loose=True)
        ch = outcome(session, sql, "clickhouse", loose=True)
        if ch[0] == "rows":
            assert not leaks(ch[1], no_grant=no_grant), (sql, leaks(ch[1]))
        else:
            assert not leaks(ch[1].message, no_grant=no_grant), (sql, ch[1].message)
            assert PASSWORD not in ch[1].message and token not in ch[1].message, ch[1].message
        if duck[0] == "error" and isinstance(duck[1], QueryRefused):
            assert ch[0] == "error" and ch[1].message == duck[1].message, (sql, ch)
        elif duck[0] == "rows" and ch[0] == "rows":
            answered += 1
        elif duck[0] == "rows":
            engine_only += 1
            assert isinstance(ch[1], QueryFailed), (sql, ch[1])
    # Seen on 18.16 (ann, 105 statements): 20 answered, 63 errors where DuckDB answers, as
    # 18.16 lacks much DuckDB SQL (window functions, WITH subqueries, EXISTS…): counted here.
    if not no_grant:
        assert answered >= 15
    assert engine_only <= 70, engine_only


def test_bind_copies_once_per_signature_and_close_drops(clickhouse_url: str) -> None:
    import pyarrow as pa

    engine = ClickHouseEngine(clickhouse_url, required=("readonly",))
    loads: list[str] = []
    load = engine._load
    engine._load = lambda b, d: (loads.append(b.signature), load(b, d))[1]  # type: ignore[method-assign]
    data = pa.table({"id": [1, 2, 3], "name": ["a", None, "c"]})
    one = Binding("main", "t", "arrow", "", "v1", arrow=data)
    engine.bind([one])
    engine.bind([one])
    engine.bind([Binding("main", "t", "arrow", "", "v2", arrow=data.slice(0, 2))])
    assert loads == ["v1", "v2"]
    got = engine.execute(f"SELECT id, name FROM {engine.relation('main', 't')} ORDER BY id")
    assert got.to_pylist() == [{"id": 1, "name": "a"}, {"id": 2, "name": None}]
    assert engine.execute(f"SELECT id FROM {engine.relation('main', 't')}", limit=1).num_rows == 1
    empty = engine.execute(f"SELECT id, name FROM {engine.relation('main', 't')} WHERE id > 9")
    assert empty.num_rows == 0 and [str(t) for t in empty.schema.types] == ["int64", "string"]
    with pytest.raises(QueryFailed):  # a table the check did not bind
        engine.execute("SELECT name FROM system.tables")
    with pytest.raises(QueryFailed) as failed:
        engine.execute(f"SELECT nosuch FROM {engine.relation('main', 't')}")
    assert engine.names.token not in failed.value.message and PASSWORD not in str(failed.value)
    engine.close()
    client, _ = connect(clickhouse_url)
    try:
        left = client.query(
            "SELECT name FROM system.databases WHERE position(name, %(t)s) > 0",
            parameters={"t": engine.names.token},
        ).result_rows
    finally:
        client.close()
    assert left == []


def test_copies_are_merge_trees_sorted_by_partition_and_date(clickhouse_url: str) -> None:
    """A copy is on disk (MergeTree), sorted by the partition columns then the first date
    column with no nulls; a table without such columns is unsorted; the rows are all there."""
    import datetime as dt

    import pyarrow as pa

    engine = ClickHouseEngine(clickhouse_url, required=("readonly",))
    day = [dt.date(2026, 1, d) for d in (3, 1, 2)]
    data = pa.table(
        {
            "id": [1, 2, 3],
            "region": ["EMEA", "APAC", "EMEA"],
            "shipped": [None, *day[1:]],  # a null: not a key column
            "ordered": day,
            "amount": pa.array([1.5, None, 2.5]),
        }
    )
    parted = Binding(
        "main", "p", "arrow", "", "v1", arrow=data, options={"partition_columns": ["region"]}
    )
    plain = Binding("main", "q", "arrow", "", "v1", arrow=data.select(["id", "amount"]))
    try:
        engine.bind([parted, plain])
        client, _ = connect(clickhouse_url)
        try:
            shown = {
                name: client.command(f"SHOW CREATE TABLE {engine.relation('main', name)}")
                for name in ("p", "q")
            }
        finally:
            client.close()
        assert "MergeTree" in shown["p"] and "ORDER BY (region, ordered)" in shown["p"], shown
        assert "ORDER BY tuple()" in shown["q"], shown["q"]
        assert "Nullable(String)" not in shown["p"].split("shipped")[0].split("region")[1]
        got = engine.execute(f"SELECT * FROM {engine.relation('main', 'p')} ORDER BY id")
        assert got.to_pylist() == data.to_pylist()
    finally:
        engine.close()


def test_cancel_kills_the_running_query(clickhouse_url: str) -> None:
    engine = ClickHouseEngine(clickhouse_url, required=("readonly",))
    outcome_: list[BaseException | None] = []

    def run() -> None:
        try:
            engine._query("SELECT count() FROM system.numbers", "q-cancel-1", None)
            outcome_.append(None)
        except DapError as e:
            outcome_.append(e)

    try:
        thread = threading.Thread(target=run)
        thread.start()
        cancelled = False
        for _ in range(100):
            time.sleep(0.1)
            if engine.cancel("q-cancel-1"):
                cancelled = True
                break
        thread.join(timeout=30)
        assert cancelled and not thread.is_alive()
        assert outcome_ and isinstance(outcome_[0], QueryCancelled | QueryFailed), outcome_
        assert engine.cancel("no-such-query") is False
    finally:
        engine.close()


def test_a_cancel_before_the_query_reaches_the_server_stops_it(clickhouse_url: str) -> None:
    """A REST DELETE can land while the query is still being governed: the query then fails
    as cancelled when it reaches the engine, instead of running to its end."""
    engine = ClickHouseEngine(clickhouse_url, required=("readonly",))
    try:
        assert engine.cancel("q-early-1") is False  # nothing runs under that id yet
        started = time.monotonic()
        with pytest.raises(QueryCancelled):
            engine._query("SELECT count() FROM system.numbers", "q-early-1", None)
        assert time.monotonic() - started < 5
        # The note is used up: the same id runs the next time.
        assert engine._query("SELECT 1 AS x", "q-early-1", None).to_pylist() == [{"x": 1}]
    finally:
        engine.close()


def _dap_sql(home: Path, url: str, sql: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAP_")}
    env.update({"DAP_HOME": str(home), "DAP_USER": "tester", "DAP_CLICKHOUSE_URL": url})
    return subprocess.run(
        [DAP, "sql", "--engine", "clickhouse", "--format", "csv", sql],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_cli_on_the_server(governed_home: Path, clickhouse_url: str) -> None:
    """``dap sql --engine clickhouse``: answers on a server with the safety settings; on 18.16
    one line that says why it is refused. A wrong password: one line, no password."""
    done = _dap_sql(governed_home, clickhouse_url, "SELECT count(*) AS n FROM customers")
    if _lacks_alias_setting(clickhouse_url):
        assert done.returncode != 0
        assert "prefer_column_name_to_alias" in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    else:
        assert done.returncode == 0 and done.stdout.startswith("n"), done.stderr
    assert PASSWORD not in done.stderr + done.stdout
    wrong = clickhouse_url.replace(PASSWORD, "not-the-Pw-42")
    bad = _dap_sql(governed_home, wrong, "SELECT count(*) AS n FROM customers")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "not-the-Pw-42" not in bad.stderr and "cannot connect to ClickHouse" in bad.stderr


def test_no_url_or_no_server_is_one_config_error() -> None:
    with pytest.raises(ConfigError, match="DAP_CLICKHOUSE_URL"):
        ClickHouseEngine("")
    with pytest.raises(ConfigError, match="must be an http"):
        ClickHouseEngine(f"clickhouse://dap:{PASSWORD}@127.0.0.1:9000/")
    with pytest.raises(ConfigError) as down:
        ClickHouseEngine(f"http://dap:{PASSWORD}@127.0.0.1:{free_port()}/")
    text = str(down.value)
    assert text.startswith("cannot connect to ClickHouse at 127.0.0.1:") and PASSWORD not in text
    assert text.endswith(": the server does not answer"), text


# -- tables that live in the server, registered in the catalog --------------------------------

EVENTS = [  # (region, email, amount, day) in analytics.events on the server
    ("EMEA", "ann.smith@example.com", 10.5, "2026-01-01"),
    ("EMEA", None, 20.0, "2026-01-02"),
    ("APAC", "raj.k@example.com", 30.25, "2026-01-03"),
    ("AMER", "zoe@example.com", 40.0, "2026-01-04"),
]


@pytest.fixture
def native_ws(governed_home: Path, clickhouse_url: str, tmp_path: Path) -> Iterator[Workspace]:
    """A copy of the governed home with ``analytics.events`` on the server, registered by the
    steward as ``main.events`` and governed like customers: a row filter and a masked email."""
    home = tmp_path / "home"
    shutil.copytree(governed_home, home)
    client, _ = connect(clickhouse_url)
    client.command("DROP DATABASE IF EXISTS analytics")
    client.command("CREATE DATABASE analytics")
    client.command(
        "CREATE TABLE analytics.events (region String, email Nullable(String), amount Float64, "
        "day Date) ENGINE = MergeTree() ORDER BY (region, day)"
    )
    quoted = [(r, f"'{e}'" if e else "NULL", a, d) for r, e, a, d in EVENTS]
    values = ", ".join(f"('{r}', {e}, {a}, '{d}')" for r, e, a, d in quoted)
    client.command(f"INSERT INTO analytics.events VALUES {values}")
    ws = Workspace(Settings(home=home, user="tester", clickhouse_url=clickhouse_url))
    ws._engines["clickhouse"] = ClickHouseEngine(clickhouse_url, required=("readonly",))
    as_user(ws, "tester").register_clickhouse_table(
        "main.events", "analytics.events", description="web events"
    )
    admin = ws.admin("tester")
    admin.add_row_filter("main.events", "region = current_user_attr('region')")
    admin.set_mask("main.events.email", "mask_email")
    try:
        yield ws
    finally:
        ws.close()
        client.command("DROP DATABASE IF EXISTS analytics")
        client.close()


def test_a_server_table_registered_is_described_where_it_lives(native_ws: Workspace) -> None:
    info = native_ws.catalog.get("main.events")
    assert (info.kind, info.location, info.row_count) == ("clickhouse", "analytics.events", 4)
    columns = {c.name: c for c in info.columns}
    assert {n: c.data_type for n, c in columns.items()} == {
        "region": "VARCHAR",
        "email": "VARCHAR",
        "amount": "DOUBLE",
        "day": "DATE",
    }
    assert (columns["region"].distinct_count, columns["region"].distinct_approx) == (3, False)
    assert columns["email"].null_count == 1 and columns["amount"].max_value == "40"
    assert as_user(native_ws, "tester").engine_setting("main.events") == ("clickhouse", "table")
    # What an analyst is shown of it: no raw minimum or maximum of a masked column.
    shown = {c.name: c for c in as_user(native_ws, "ann").describe("main.events").columns}
    assert "ann.smith@example.com" not in repr(shown["email"])


def test_a_server_table_is_governed_and_live(native_ws: Workspace) -> None:
    """ann's answer over the server's table equals her answer over a lake copy of the same
    rows under the same rules (filter and mask), and follows the live table."""
    import pyarrow as pa

    steward = as_user(native_ws, "tester")
    lake = pa.table(
        {
            "region": [r for r, *_ in EVENTS],
            "email": [e for _, e, *_ in EVENTS],
            "amount": [a for *_, a, _ in EVENTS],
        }
    )
    steward.create_table("main.events_lake", lake)
    admin = native_ws.admin("tester")
    admin.add_row_filter("main.events_lake", "region = current_user_attr('region')")
    admin.set_mask("main.events_lake.email", "mask_email")
    ann = as_user(native_ws, "ann")
    sql = "SELECT region, email, amount FROM main.{} ORDER BY amount"
    on_server = ann.query(sql.format("events"), cache=True)
    rows = on_server.table.to_pylist()
    assert rows == ann.query(sql.format("events_lake"), engine="duckdb").table.to_pylist()
    assert [r["region"] for r in rows] == ["EMEA", "EMEA"]
    assert "ann.smith@example.com" not in repr(rows) and rows[0]["email"] is not None
    assert not leaks(rows, no_grant=False)
    client, _ = connect(native_ws.settings.clickhouse_url)
    try:
        client.command("INSERT INTO analytics.events VALUES ('EMEA', NULL, 5.0, '2026-02-01')")
    finally:
        client.close()
    again = ann.query(sql.format("events"), cache=True)
    assert not again.cached and again.table.column("amount").to_pylist() == [5.0, 10.5, 20.0]
    # Statistics are the server's: refreshed by registering again, the rules kept.
    with pytest.raises(DapError, match="register it again with --replace"):
        native_ws.catalog.refresh("main.events")
    info = steward.register_clickhouse_table("main.events", "analytics.events", replace=True)
    assert info.row_count == 5
    assert ann.query(sql.format("events")).table.num_rows == 3


def test_server_table_attacks(native_ws: Workspace) -> None:
    """The server's own name, another engine, no grant, an analyst registering: refused or an
    error, never rows; and the password in no message."""
    steward = as_user(native_ws, "tester")
    ann, bob = as_user(native_ws, "ann"), as_user(native_ws, "bob")
    errors: list[DapError] = []
    for sql in [
        "SELECT * FROM analytics.events",
        'SELECT * FROM "analytics"."events"',
        "SELECT email FROM main.events WHERE region = 'APAC'",
    ]:
        try:
            rows = ann.query(sql).table.to_pylist()
        except DapError as e:
            errors.append(e)
            continue
        assert rows == [], (sql, rows)  # the filter leaves no APAC row
    assert len(errors) == 2  # the server's own name is not a catalog table
    with pytest.raises(QueryFailed, match="lives in the ClickHouse server"):
        ann.query("SELECT * FROM main.events", engine="duckdb")
    with pytest.raises(QueryFailed, match="lives in the ClickHouse server"):
        ann.query("SELECT * FROM main.events", engine="chdb")
    with pytest.raises(QueryRefused):
        bob.query("SELECT * FROM main.events")
    # Registering is a steward's: an analyst with CREATE would get the rows unfiltered, as
    # the owner of a second name for them.
    native_ws.admin("tester").grant("CREATE", "main", "user", "ann")
    with pytest.raises(QueryRefused):
        ann.register_clickhouse_table("main.mine", "analytics.events")
    with pytest.raises(DapError, match="registered already, as main.events"):
        steward.register_clickhouse_table("main.again", "analytics.events")
    for bad in [
        "system.users",
        "System.settings",
        "analytics",
        "analytics.nosuch",
        "analytics.events; DROP x",
        "a.b.c",
    ]:
        with pytest.raises(DapError) as refused:
            steward.register_clickhouse_table("main.bad", bad)
        assert not isinstance(refused.value, QueryRefused), bad
        errors.append(refused.value)
    assert "main.mine" not in native_ws.catalog.known_names()
    assert all(PASSWORD not in str(e) and "\n" not in str(e) for e in errors)
    denied = native_ws.audit.tail(5, principal="ann", action="register")
    assert denied and denied[0].decision == "refused"


def test_cli_registers_a_server_table(native_ws: Workspace, clickhouse_url: str) -> None:
    as_user(native_ws, "tester").drop_table("main.events")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAP_")}
    env.update(
        {
            "DAP_HOME": str(native_ws.settings.home),
            "DAP_USER": "tester",
            "DAP_CLICKHOUSE_URL": clickhouse_url,
        }
    )
    done = subprocess.run(
        [DAP, "catalog", "register", "main.events", "clickhouse:analytics.events"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    # The CLI's engine is the configured one, which refuses 18.16 (as for queries): one line.
    if _lacks_alias_setting(clickhouse_url):
        assert done.returncode != 0 and "prefer_column_name_to_alias" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and PASSWORD not in done.stderr
    else:
        assert done.returncode == 0 and "registered main.events: 4 rows" in done.stdout


def test_a_server_table_over_rest_fails_closed(
    demo_home: Path, clickhouse_url: str, tmp_path: Path
) -> None:
    """Through `dap serve` (the service's own clickhouse engine, which refuses 18.16): ann's
    statement over the registered table is one error line, never rows or the password; on
    DuckDB it is refused as living in ClickHouse; bob without a grant is refused first."""
    import httpx

    from tests.conftest import served

    client, _ = connect(clickhouse_url)
    try:
        client.command("CREATE DATABASE IF NOT EXISTS analytics")
        client.command(
            "CREATE TABLE IF NOT EXISTS analytics.clicks (region String, email String) "
            "ENGINE = MergeTree() ORDER BY region"
        )
        client.command("INSERT INTO analytics.clicks VALUES ('APAC', 'raj.k@example.com')")
        with served(demo_home, tmp_path, env={"DAP_CLICKHOUSE_URL": clickhouse_url}) as service:
            ws = Workspace(
                Settings(home=service.home, user="tester", clickhouse_url=clickhouse_url)
            )
            ws._engines["clickhouse"] = ClickHouseEngine(clickhouse_url, required=("readonly",))
            try:
                as_user(ws, "tester").register_clickhouse_table("main.clicks", "analytics.clicks")
                ws.admin("tester").add_row_filter(
                    "main.clicks", "region = current_user_attr('region')"
                )
            finally:
                ws.close()

            def ask(user: str, body: dict[str, object]) -> httpx.Response:
                headers = {"Authorization": f"Bearer {service.keys[user]}"}
                return httpx.post(
                    f"{service.url}/dap/api/v1/query", json=body, headers=headers, timeout=60
                )

            sql = {"sql": "SELECT region, email FROM main.clicks"}
            for reply in (ask("ann", sql), ask("ann", {**sql, "engine": "duckdb"})):
                text = reply.text
                assert reply.status_code >= 400 and "rows" not in reply.json(), text
                assert "raj.k@example.com" not in text and PASSWORD not in text
                assert "Traceback" not in text and "\n" not in reply.json()["message"]
            assert "prefer_column_name_to_alias" in ask("ann", sql).json()["message"]
            assert "lives in the ClickHouse server" in ask("ann", {**sql, "engine": "duckdb"}).text
            refused = ask("bob", sql)
            assert refused.status_code == 403 and "raj.k" not in refused.text
    finally:
        client.command("DROP DATABASE IF EXISTS analytics")
        client.close()
