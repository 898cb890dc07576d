"""kill -9 in the middle of a metadata migration: the database is at the old revision or the new
one, with exactly that revision's tables (the upgrade is one transaction), and rerunning it
upgrades cleanly.

An upgrade takes a few dozen statements and ~50 ms, too short for a kill at a random time to
land inside it; the child process (test code, not DAP's) slows each statement down and reports
each one, and the test kills it after a random statement."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import inspect

from dap_kernel.meta.store import MIGRATIONS_DIR, MetaStore

from .conftest import dap_env

OLD = "0004"
KILLS = 5

CHILD = """
import sys, time
from sqlalchemy import Engine, event
from dap_kernel.meta.store import MetaStore
store = MetaStore(sys.argv[1])
progress = open(sys.argv[2], "a", buffering=1)

@event.listens_for(Engine, "before_cursor_execute")  # every engine, the migration's own too
def _slowly(conn, cursor, statement, *args):
    progress.write(statement.split(None, 1)[0] + "\\n")  # one line per statement
    time.sleep(0.03)

store.migrate()
progress.write("done\\n")
"""


def _config(url: str) -> tuple[object, str]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config, str(ScriptDirectory.from_config(config).get_current_head())


def _at(url: str, revision: str) -> None:
    """A metadata database as an older DAP left it."""
    from alembic import command

    config, _ = _config(url)
    store = MetaStore(url)
    try:
        with store.engine.begin() as connection:
            config.attributes["connection"] = connection  # type: ignore[attr-defined]
            command.upgrade(config, revision)  # type: ignore[arg-type]
    finally:
        store.dispose()


def _state(url: str) -> tuple[str | None, set[str]]:
    from alembic.runtime.migration import MigrationContext

    store = MetaStore(url)
    try:
        with store.engine.connect() as con:
            revision = MigrationContext.configure(con).get_current_revision()
        tables = set(inspect(store.engine).get_table_names()) - {"alembic_version"}
        return revision, {t for t in tables if not t.startswith("_alembic_tmp")} | (
            {"<batch leftovers>"} if any(t.startswith("_alembic_tmp") for t in tables) else set()
        )
    finally:
        store.dispose()


def _kill_after(url: str, statements: int, progress: Path, home: Path) -> bool:
    """Run the upgrade in a child; SIGKILL it once it has sent ``statements`` statements."""
    progress.unlink(missing_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, str(progress)],
        env=dap_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            lines = progress.read_text().splitlines() if progress.exists() else []
            if "done" in lines or process.poll() is not None:
                process.wait(30)
                assert process.returncode == 0, process.communicate()
                return False
            if len(lines) >= statements:
                process.send_signal(signal.SIGKILL)
                process.wait(10)
                return True
            assert time.monotonic() < deadline, "the migration never progressed"
            time.sleep(0.005)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _kill_migrations(url: str, fresh: object, tmp_path: Path, rng: random.Random) -> int:
    _, head = _config(url)
    _at(url, head)
    head_tables = _state(url)[1]
    kills = 0
    for attempt in range(KILLS):
        fresh_url = fresh(attempt)  # type: ignore[operator]
        _at(fresh_url, OLD)
        old_tables = _state(fresh_url)[1]
        killed = _kill_after(fresh_url, rng.randint(2, 30), tmp_path / "progress", tmp_path)
        kills += killed
        revision, tables = _state(fresh_url)
        assert (revision, tables) in ((OLD, old_tables), (head, head_tables)), (
            f"after a kill the database is at {revision} with {sorted(tables ^ old_tables)} "
            "differing from the old revision: a partial migration"
        )
        MetaStore(fresh_url).migrate()  # the rerun: from wherever it was, to the newest
        assert _state(fresh_url) == (head, head_tables)
    return kills


@pytest.mark.slow
def test_killed_sqlite_migration_is_old_or_new_and_reruns(
    tmp_path: Path, rng: random.Random
) -> None:
    kills = _kill_migrations(
        f"sqlite:///{tmp_path / 'head.db'}",
        lambda n: f"sqlite:///{tmp_path / f'meta{n}.db'}",
        tmp_path,
        rng,
    )
    assert kills == KILLS  # 30 statements at most: the upgrade has more
    print(f"migration (SQLite): {kills} kills, each left the old or the new revision")


@pytest.mark.postgres
@pytest.mark.slow
def test_killed_postgres_migration_is_old_or_new_and_reruns(
    postgres_server: str, tmp_path: Path, rng: random.Random
) -> None:
    import uuid

    import psycopg

    def fresh(_n: int) -> str:
        name = f"dap_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return f"{postgres_server}/{name}"

    kills = _kill_migrations(fresh(0), fresh, tmp_path, rng)
    assert kills == KILLS
    print(f"migration (PostgreSQL): {kills} kills, each left the old or the new revision")
