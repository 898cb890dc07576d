"""Compaction of a streamed table: fewer files, the same rows, the same offsets — also while
the stream runs — and only for those who may write the table."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import CommitProperties, DeltaTable

from dap_kernel.errors import DapError, QueryRefused
from dap_kernel.governance.identity import Principal
from dap_kernel.session import Workspace
from dap_kernel.streams import StreamRunner, StreamSpec, app_id
from dap_kernel.streams.compact import compact
from tests.streams.conftest import Broker
from tests.streams.helpers import produce, rows_at_least, run_in_thread, run_until, table_frame

PARTITIONS = 3


def _spec(broker: Broker, topic: str, table: str) -> StreamSpec:
    # Tiny batches: every 50 events (or 50 ms) a commit, i.e. a file
    return StreamSpec(
        bootstrap=broker.bootstrap, topic=topic, table=table, batch_rows=50, batch_seconds=0.05
    )


def _delta(ws: Workspace, table: str) -> DeltaTable:
    schema, name = table.split(".")
    return DeltaTable(str(ws.lake.path(schema, name)))


def _offsets(ws: Workspace, table: str, topic: str) -> list[int | None]:
    dt = _delta(ws, table)
    return [dt.transaction_version(app_id(table, topic, p)) for p in range(PARTITIONS)]


def _ids(ws: Workspace, table: str) -> list[int]:
    return sorted(table_frame(ws, table)["id"].to_list())


def test_compaction_keeps_rows_and_offsets_and_a_restart_reads_nothing_twice(
    workspace: Workspace, broker: Broker, topic: str
) -> None:
    # Given a table streamed in many small batches
    table = "main.small_files"
    produce(broker.bootstrap, topic, [{"id": i, "page": f"/p/{i % 5}"} for i in range(1500)])
    summary = run_until(workspace, _spec(broker, topic, table), rows_at_least(1500))
    assert summary.batches >= 20
    files = len(_delta(workspace, table).file_uris())
    offsets = _offsets(workspace, table, topic)
    assert offsets == [499, 499, 499]
    # When it is compacted
    done = compact(workspace.session(), table, target_rows=100_000)
    # Then it has fewer files, exactly the same rows and the same offsets
    assert done.version is not None and done.files_before == files
    dt = _delta(workspace, table)
    assert len(dt.file_uris()) == done.files_after < files // 5
    assert _ids(workspace, table) == list(range(1500))
    assert _offsets(workspace, table, topic) == offsets
    assert dt.history(1)[0]["operation"] == "OPTIMIZE"
    # and the catalog is at the new version, the audit log says who compacted it
    info = workspace.catalog.get(table)
    assert info.version == done.version and info.row_count == 1500
    rows = workspace.session().sql("SELECT count(DISTINCT id) FROM small_files").rows()
    assert rows == [(1500,)]
    # and a second compaction finds nothing worth doing
    assert compact(workspace.session(), table, target_rows=100_000).version is None
    # When the stream restarts and the rest is produced, nothing is consumed twice
    produce(broker.bootstrap, topic, [{"id": i, "page": "/"} for i in range(1500, 1800)])
    run_until(workspace, _spec(broker, topic, table), rows_at_least(300))
    assert _ids(workspace, table) == list(range(1800))
    assert _offsets(workspace, table, topic) == [599, 599, 599]


def test_compaction_racing_a_running_stream_loses_and_duplicates_nothing(
    workspace: Workspace, broker: Broker, topic: str
) -> None:
    table = "main.racing"
    runner = StreamRunner(workspace.session(channel="cli"), _spec(broker, topic, table))
    thread, errors = run_in_thread(runner)
    total = 0
    compactions = 0
    try:
        # While events keep arriving in small batches, compact again and again
        for _ in range(8):
            total += produce(broker.bootstrap, topic, [{"id": total + i} for i in range(300)])
            deadline = time.monotonic() + 20
            while runner.state.rows < total - 150 and time.monotonic() < deadline:
                time.sleep(0.02)
            if workspace.lake.exists("main", "racing"):
                done = compact(workspace.session(), table, target_rows=100_000, min_files=2)
                compactions += done.version is not None
            assert not errors, errors
        deadline = time.monotonic() + 30
        while runner.state.rows < total and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        runner.stop()
        thread.join(30)
    assert not errors, errors
    assert runner.state.status == "stopped"
    assert compactions >= 4
    assert _ids(workspace, table) == list(range(total))
    per_partition = total // PARTITIONS
    assert _offsets(workspace, table, topic) == [per_partition - 1] * PARTITIONS
    ops = [h["operation"] for h in _delta(workspace, table).history()]
    assert ops.count("OPTIMIZE") == compactions


def test_an_analyst_without_the_write_grant_is_refused(
    workspace: Workspace, broker: Broker, topic: str
) -> None:
    table = "main.guarded"
    produce(broker.bootstrap, topic, [{"id": i} for i in range(200)])
    run_until(workspace, _spec(broker, topic, table), rows_at_least(200))
    admin = workspace.admin("tester")
    admin.set_multi_user(True)
    admin.add_user("ann", {})
    admin.grant("SELECT", table, "user", "ann")  # she may read it, not write it
    version = workspace.lake.version("main", "guarded")
    ann = workspace.session(Principal(name="ann", source="test"))
    with pytest.raises(QueryRefused):
        compact(ann, table, min_files=2)
    assert workspace.lake.version("main", "guarded") == version
    refused = workspace.audit.tail(1, principal="ann", action="compact")
    assert refused and refused[0].decision == "refused"  # the refusal is in the audit log
    # With MODIFY she may
    admin.grant("MODIFY", table, "user", "ann")
    assert compact(ann, table, min_files=2).version is not None
    assert _ids(workspace, table) == list(range(200))


def test_two_compactions_at_once_are_refused_by_the_lock(workspace: Workspace) -> None:
    from dap_kernel.streams.compact import _lock

    home: Path = workspace.settings.home
    with (
        _lock(home, "main.t"),
        pytest.raises(DapError, match="already running"),
        _lock(home, "main.t"),
    ):
        pass  # pragma: no cover


def test_an_external_source_is_not_compacted(workspace: Workspace, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"id": [1]}), path)
    workspace.session().register_file("main.ext", path)
    with pytest.raises(DapError, match="external"):
        compact(workspace.session(), "main.ext")


def test_dap_stream_compact_on_the_command_line(tmp_path: Path) -> None:
    from dap_kernel.settings import Settings
    from tests.streams.test_stream_cli import dap

    ws = Workspace(Settings(home=tmp_path, user="tester"))
    try:
        ws.catalog.create_table("main.cli_small", pa.table({"id": [0]}))
        for i in range(1, 10):
            ws.catalog.write("main.cli_small", pa.table({"id": [i]}), mode="append")
    finally:
        ws.close()
    done = dap("stream", "compact", "cli_small", "--min-files", "4", home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "main.cli_small: 10 files into 1 (10 → 1, 10 rows)" in done.stdout
    again = dap("stream", "compact", "main.cli_small", home=tmp_path)
    assert "nothing worth compacting" in again.stdout


def _six_files(ws: Workspace, name: str) -> None:
    ws.catalog.create_table(name, pa.table({"id": [0]}))
    for i in range(1, 6):
        ws.catalog.write(name, pa.table({"id": [i]}), mode="append")


def test_a_compaction_that_bypassed_the_lock_is_reported_not_passed_over(
    workspace: Workspace,
) -> None:
    """delta-rs 1.6 commits two compactions read from the same version (every row then twice):
    the history check names it instead of reporting success."""
    from dap_kernel.streams.compact import CompactionConflict, _own_commit

    _six_files(workspace, "main.twice")
    path = str(workspace.lake.path("main", "twice"))
    stale = DeltaTable(path)
    read = int(stale.version())
    DeltaTable(path).optimize.compact()  # another tool's compaction, outside DAP
    # and this one, from the version before it
    stale.optimize.compact(
        commit_properties=CommitProperties(custom_metadata={"dap.compaction": "r"})
    )
    assert len(_ids(workspace, "main.twice")) == 12  # the delta-rs behaviour guarded against
    with pytest.raises(CompactionConflict, match="another compaction"):
        _own_commit(DeltaTable(path), read, "r")
    # and the same when the other one landed after this one
    _six_files(workspace, "main.twice2")
    path = str(workspace.lake.path("main", "twice2"))
    stale = DeltaTable(path)
    read = int(stale.version())
    DeltaTable(path).optimize.compact(
        commit_properties=CommitProperties(custom_metadata={"dap.compaction": "mine"})
    )
    stale.optimize.compact()
    with pytest.raises(CompactionConflict):
        _own_commit(DeltaTable(path), read, "mine")


def test_compact_refuses_while_another_compaction_holds_the_table(workspace: Workspace) -> None:
    from dap_kernel.streams.compact import _lock

    workspace.catalog.create_table("main.busy", pa.table({"id": [0]}))
    with _lock(workspace.settings.home, "main.busy"), pytest.raises(DapError, match="already"):
        compact(workspace.session(), "busy", min_files=2)
