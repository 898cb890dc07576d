"""The DuckDB engine is locked down on its own, whatever the SQL checker lets through."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from dap_kernel.engines.duckdb import DuckDBEngine
from dap_kernel.errors import QueryCancelled, QueryFailed
from dap_kernel.session import Workspace


@pytest.fixture
def engine(tmp_path: Path) -> DuckDBEngine:
    return DuckDBEngine(lake_dir=tmp_path / "lake")


def test_engine_cannot_read_files_outside_the_lake(engine: DuckDBEngine, tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n")
    for sql in (
        f"SELECT * FROM read_csv('{secret}')",
        "SELECT * FROM read_text('/etc/passwd')",
        f"SELECT * FROM '{secret}'",
    ):
        with pytest.raises(QueryFailed, match="[Pp]ermission|disabled"):
            engine.execute(sql)


def test_engine_configuration_is_locked(engine: DuckDBEngine) -> None:
    for sql in (
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "SET allowed_directories = ['/']",
    ):
        with pytest.raises(QueryFailed, match="locked"):
            engine.execute(sql)


def test_engine_cannot_attach_or_install(engine: DuckDBEngine, tmp_path: Path) -> None:
    with pytest.raises(QueryFailed):
        engine.execute(f"ATTACH '{tmp_path / 'other.db'}' AS other")
    with pytest.raises(QueryFailed):
        engine.execute("INSTALL httpfs")


def test_limit_stops_fetching(engine: DuckDBEngine) -> None:
    table = engine.execute("SELECT * FROM range(1000000) t(i) ORDER BY i", limit=5)
    assert table.column("i").to_pylist() == [0, 1, 2, 3, 4]


def cancelled(engine: DuckDBEngine, sql: str, query_id: str) -> BaseException | None:
    """Run ``sql`` on a thread, cancel it once it runs; what the query raised."""
    outcome: dict[str, BaseException] = {}

    def run() -> None:
        try:
            engine.execute(sql, query_id=query_id)
        except BaseException as e:
            outcome["error"] = e

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 10
    while not engine.cancel(query_id):
        assert time.monotonic() < deadline, "query never started"
        time.sleep(0.01)
    worker.join(30)
    assert not worker.is_alive()
    return outcome.get("error")


def test_cancel_interrupts_a_running_query(engine: DuckDBEngine) -> None:
    sql = "SELECT count(*) FROM range(100000000000) a, range(10) b WHERE a.range % 7 = b.range"
    assert isinstance(cancelled(engine, sql, "q1"), QueryCancelled)


def test_a_running_query_reports_its_progress(engine: DuckDBEngine) -> None:
    """DuckDB keeps a query's progress only on cursors set up for it (before the lockdown):
    what the `%%dap sql` bar and REST `progress` show moves while the query runs."""
    engine.execute(
        "CREATE TABLE big AS SELECT range AS i, md5(range::VARCHAR) AS s FROM range(6000000)"
    )
    seen: list[float] = []
    worker = threading.Thread(
        target=lambda: engine.execute(
            "SELECT count(DISTINCT md5(s || i::VARCHAR)) FROM big", query_id="slow"
        )
    )
    worker.start()
    while worker.is_alive():
        value = engine.progress("slow")
        if value is not None:
            seen.append(value)
        time.sleep(0.02)
    assert any(0 < v < 100 for v in seen), seen
    assert seen == sorted(seen) or max(seen) > 0  # an estimate: it may pause, never stay at 0
    assert engine.progress("slow") is None  # finished: nothing running under that id
    for sql in ("SET enable_progress_bar = false", "SET enable_external_access = true"):
        with pytest.raises(QueryFailed, match="locked"):
            engine.execute(sql, query_id="set")  # a progress cursor is locked down too


def test_a_cancelled_querys_cursor_is_not_handed_on(engine: DuckDBEngine) -> None:
    """A cancel keeps interrupting its cursor for a moment: the next query gets another one."""
    sql = "SELECT count(*) FROM range(100000000000) a WHERE a.range % 7 = 3"
    assert isinstance(cancelled(engine, sql, "doomed"), QueryCancelled)
    for n in range(20):
        assert engine.execute(f"SELECT {n} AS n", query_id=f"next{n}").column("n")[0].as_py() == n


def test_lake_table_stays_readable_under_lockdown(workspace: Workspace) -> None:
    workspace.catalog.create_table("t", pl.DataFrame({"x": [1, 2, 3]}))
    assert workspace.session().sql("SELECT sum(x) AS s FROM t")["s"][0] == 6


def test_main_thread_queries_reuse_one_helper_thread(engine: DuckDBEngine) -> None:
    """The main thread's queries wait on a helper (so Ctrl-C lands): one kept, not one each."""
    assert threading.current_thread() is threading.main_thread()
    engine.execute("SELECT 1")
    before = threading.active_count()
    for i in range(20):
        assert engine.execute(f"SELECT {i} AS x").column("x").to_pylist() == [i]
    assert threading.active_count() == before
    with pytest.raises(QueryFailed):  # an engine error still reaches the caller as before
        engine.execute("SELECT * FROM nowhere")


def test_ctrl_c_before_the_helper_begins_never_runs_the_query(
    engine: DuckDBEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dap_kernel.engines import duckdb as engine_module

    real = engine_module._Helpers.submit

    def submit(self: engine_module._Helpers, future: Any, fn: Any) -> None:
        real(self, future, fn)
        raise KeyboardInterrupt  # lands right after the job was queued

    monkeypatch.setattr(engine_module._Helpers, "submit", submit)
    with pytest.raises(QueryCancelled, match="interrupted"):
        engine.execute("SELECT count(*) FROM range(100000000000) a, range(10) b")
    monkeypatch.undo()
    # A job already queued either ran to a stop or never ran; the engine is free for the next.
    assert engine.execute("SELECT 7 AS x").column("x").to_pylist() == [7]


class _Invalidated:
    """A connection after DuckDB's "database has been invalidated": every statement fails.

    DuckDB invalidates its database after an internal error (seen once while fuzzing the
    readers); no statement triggers one on purpose, so the connection is replaced by this."""

    def cursor(self) -> _Invalidated:
        return self

    def sql(self, *_args: Any, **_kwargs: Any) -> Any:
        raise duckdb.FatalException("FATAL Error: database has been invalidated")

    execute = sql

    def interrupt(self) -> None:
        pass

    def close(self) -> None:
        raise duckdb.FatalException("FATAL Error: database has been invalidated")


def test_an_invalidated_database_is_one_error_then_a_new_locked_connection(
    workspace: Workspace, tmp_path: Path
) -> None:
    workspace.catalog.create_table("t", pl.DataFrame({"x": [1, 2, 3]}))
    session = workspace.session()
    assert session.sql("SELECT sum(x) AS s FROM t")["s"][0] == 6
    engine = workspace.local_engine
    assert isinstance(engine, DuckDBEngine)
    engine._con = _Invalidated()  # type: ignore[assignment]
    engine._progress_cursors = [_Invalidated()]  # type: ignore[list-item]

    with pytest.raises(QueryFailed, match="internal error and was restarted") as failed:
        session.sql("SELECT sum(x) AS s FROM t")
    assert "\n" not in str(failed.value)

    # The next statement runs on a new connection: tables bound again, lockdown in force.
    assert session.sql("SELECT sum(x) AS s FROM t")["s"][0] == 6
    with pytest.raises(QueryFailed, match="[Pp]ermission|disabled"):
        engine.execute("SELECT * FROM read_text('/etc/passwd')")
    with pytest.raises(QueryFailed, match="locked"):
        engine.execute("SET enable_external_access = true")
