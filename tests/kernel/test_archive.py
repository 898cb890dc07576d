"""Retention policies: old rows move to the archive exactly once; history is vacuumed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from typer.testing import CliRunner

from dap_kernel.archive import (
    Retention,
    get_retention,
    policies,
    run_archive,
    set_retention,
    versions,
)
from dap_kernel.cli import app
from dap_kernel.errors import DapError, QueryRefused
from dap_kernel.governance.identity import Principal
from dap_kernel.lake import Lake
from dap_kernel.session import Workspace

NOW = datetime.now(UTC)  # the CLI archives against the real clock


@pytest.fixture
def events(workspace: Workspace) -> Workspace:
    workspace.catalog.create_table(
        "events",
        pl.DataFrame(
            {
                "id": [1, 2, 3, 4],
                "at": [NOW - timedelta(days=d) for d in (800, 400, 10, 0)],
                "day": [(NOW - timedelta(days=d)).date() for d in (700, 500, 27, 0)],
            }
        ),
        owner="tester",
    )
    return workspace


def ids(ws: Workspace, table: str) -> list[int]:
    return sorted(ws.session().sql(f"SELECT id FROM {table}")["id"].to_list())


def test_policy_is_kept_with_the_table_and_validated(events: Workspace) -> None:
    s = events.session()
    set_retention(s, "events", Retention(keep_history_days=7, archive_after_days=365, column="at"))
    assert get_retention(s, "main.events") == Retention(7, 365, "at", None)
    with pytest.raises(DapError, match="has no column nope"):
        set_retention(s, "events", Retention(archive_after_days=1, column="nope"))
    with pytest.raises(DapError, match="needs the date column"):
        Retention(archive_after_days=1)
    with pytest.raises(DapError, match="needs keep_history_days"):
        Retention(delete_after_days=30, column="at")
    with pytest.raises(DapError, match="before archive_after_days"):
        Retention(1, archive_after_days=365, column="at", delete_after_days=30)
    with pytest.raises(DapError, match="0 or more"):
        Retention(keep_history_days=-1)
    set_retention(s, "events", None)
    assert get_retention(s, "events") is None


def test_old_rows_move_to_the_archive_once(events: Workspace) -> None:
    s = events.session()
    set_retention(s, "events", Retention(archive_after_days=365, column="at"))
    [result] = run_archive(s, now=NOW)
    assert (result.rows_archived, result.archive_table) == (2, "archive.events")
    assert ids(events, "events") == [3, 4]
    assert ids(events, "archive.events") == [1, 2]
    assert run_archive(s, now=NOW)[0].rows_archived == 0  # nothing left to move
    assert ids(events, "archive.events") == [1, 2]
    # Dates work too, into a named archive table; time travel still sees the moved rows.
    set_retention(
        s, "events", Retention(archive_after_days=20, column="day", archive_table="old.ev")
    )
    assert run_archive(s, "events", now=NOW)[0].rows_archived == 1
    assert ids(events, "old.ev") == [3]
    assert s.sql("SELECT count(*) FROM events FOR VERSION AS OF 0").item() == 4


def test_a_run_that_died_between_its_two_commits_finishes_without_duplicates(
    events: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = events.session()
    set_retention(s, "events", Retention(archive_after_days=365, column="at"))

    def die(*_args: object) -> int:
        raise KeyboardInterrupt  # the process stops after the archive commit

    monkeypatch.setattr(Lake, "delete_where", die)
    with pytest.raises(KeyboardInterrupt):
        run_archive(s, now=NOW)
    monkeypatch.undo()
    assert ids(events, "events") == [1, 2, 3, 4]  # the source still has them
    run_archive(s, now=NOW)
    assert ids(events, "archive.events") == [1, 2]  # copied once, not twice
    assert ids(events, "events") == [3, 4]


def test_vacuum_ends_time_travel_beyond_the_kept_history(events: Workspace) -> None:
    s = events.session()
    events.catalog.write(
        "events", pl.DataFrame({"id": [9], "at": [NOW], "day": [NOW.date()]}), "overwrite"
    )
    assert s.sql("SELECT count(*) FROM events", as_of=0).item() == 4
    set_retention(s, "events", Retention(keep_history_days=0))
    assert run_archive(s, now=NOW)[0].files_vacuumed >= 1
    with pytest.raises(DapError, match="version 0 of main.events is gone"):
        s.sql("SELECT count(*) FROM events", as_of=0)
    assert ids(events, "events") == [9]


def test_rows_past_retention_are_deleted_from_the_table_its_archive_and_history(
    events: Workspace,
) -> None:
    s = events.session()
    set_retention(s, "events", Retention(archive_after_days=365, column="at"))
    run_archive(s, now=NOW)  # ids 1 (800 days) and 2 (400 days) in the archive
    policy = Retention(
        keep_history_days=0, archive_after_days=5, column="at", delete_after_days=600
    )
    set_retention(s, "events", policy)

    [result] = run_archive(s, now=NOW)

    assert result.rows_archived == 1  # id 3 (10 days) moved
    assert result.rows_deleted == 1  # id 1 (800 days), from the archive
    assert ids(events, "events") == [4] and ids(events, "archive.events") == [2, 3]
    for table in ("events", "archive.events"):  # gone from the history as well
        reachable = []
        for v in range(events.catalog.get(table).version + 1):
            try:
                reachable += s.sql(f"SELECT id FROM {table}", as_of=v)["id"].to_list()
            except DapError as e:
                assert "is gone" in str(e)
        assert 1 not in reachable, table
    assert 2 in s.sql("SELECT id FROM archive.events")["id"].to_list()  # not past the limit
    assert run_archive(s, now=NOW)[0].rows_deleted == 0  # nothing left past the limit


def test_archiving_is_governed(governed: Workspace) -> None:
    bob = governed.session(Principal("bob"))
    with pytest.raises(QueryRefused):
        set_retention(bob, "orders", Retention(keep_history_days=1))
    set_retention(governed.session(), "orders", Retention(keep_history_days=1))
    with pytest.raises(QueryRefused):
        run_archive(bob)


def test_cli(events: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAP_HOME", str(events.settings.home))
    runner = CliRunner()
    out = runner.invoke(
        app, ["archive", "set", "events", "--archive-after", "365", "--column", "at"]
    )
    assert out.exit_code == 0, out.output
    assert "move rows with at older than 365 days" in out.output
    out = runner.invoke(app, ["archive", "run"])
    assert out.exit_code == 0 and "2 rows moved to archive.events" in out.output, out.output
    out = runner.invoke(app, ["archive", "history", "events"])
    assert "DELETE" in out.output and "WRITE" in out.output


def test_retention_policies_are_shown_for_readable_tables_only(governed: Workspace) -> None:
    set_retention(governed.session(), "orders", Retention(keep_history_days=1))
    assert "main.orders" in policies(governed.session(Principal("ann")))
    assert policies(governed.session(Principal("bob"))) == {}


def test_versions_are_shown_to_readers_only(governed: Workspace) -> None:
    assert versions(governed.session(Principal("ann")), "orders")[0]["version"] is not None
    with pytest.raises(DapError):
        versions(governed.session(Principal("bob")), "orders")
