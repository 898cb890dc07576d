"""The metadata PostgreSQL restarted while DAP waits on it: the running query fails with one
clear line (no traceback, no password), and the next operation succeeds on the same workspace
(the pool drops the dead connections: ``pool_pre_ping``).

Restarting the shared session server would cut off every other test's connections, so this test
starts a small cluster of its own (~2 s)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from dap_kernel.errors import DapError
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings

from ..conftest import _free_port, _pg_bin
from .conftest import DAP, dap_env

INITDB = ("--auth=trust", "-E", "UTF8")
PASSWORD = "s3cret-pw"  # trust auth ignores it; it must still never be shown


class Cluster:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="dap-pg-fault-"))
        self.port = _free_port()
        self.sudo: list[str] = []
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            shutil.chown(self.dir, "postgres", "postgres")
            self.sudo = ["runuser", "-u", "postgres", "--"]

    def ctl(self, *args: str) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off"
        data, log = str(self.dir / "data"), str(self.dir / "server.log")
        subprocess.run(
            [*self.sudo, _pg_bin("pg_ctl"), "-D", data, "-o", options, "-l", log, "-w", *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres:{PASSWORD}@127.0.0.1:{self.port}/{database}"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    subprocess.run(
        [*c.sudo, _pg_bin("initdb"), "-D", str(c.dir / "data"), "-U", "postgres", *INITDB],
        check=True,
        capture_output=True,
    )
    c.ctl("start")
    try:
        yield c
    finally:
        subprocess.run(
            [*c.sudo, _pg_bin("pg_ctl"), "-D", str(c.dir / "data"), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(c.dir, ignore_errors=True)


def _waiting_on_locks(url: str, count: int, timeout_s: float = 30) -> None:
    import psycopg

    deadline = time.monotonic() + timeout_s
    with psycopg.connect(url, autocommit=True) as con:
        while True:
            [(n,)] = con.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            ).fetchall()
            if n >= count:
                return
            assert time.monotonic() < deadline, "DAP never reached the locked table"
            time.sleep(0.05)


@pytest.mark.slow
def test_a_restart_mid_query_is_one_clear_error_and_the_next_query_works(
    cluster: Cluster, tmp_path: Path
) -> None:
    import psycopg

    url = cluster.url()
    home = tmp_path / "home"
    ws = Workspace(Settings(home=home, user="tester", meta_url=url))
    ws.catalog.create_table("main.t", pa.table({"id": [1, 2, 3]}))
    sql = "SELECT count(*) AS n FROM main.t"
    assert ws.session().sql(sql).to_dicts() == [{"n": 3}]  # the pool now holds connections

    # Hold the catalog table locked, so both a query in this process and `dap sql` in another
    # wait on the server mid-operation; then restart it under them.
    locker = psycopg.connect(url)
    locker.execute("LOCK TABLE catalog_tables IN ACCESS EXCLUSIVE MODE")
    caught: list[BaseException] = []

    def query() -> None:
        try:
            ws.catalog.list_tables()
        except BaseException as e:
            caught.append(e)

    thread = threading.Thread(target=query)
    env = dap_env(home, DAP_META_URL=url)
    cli = subprocess.Popen(
        [DAP, "sql", sql], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        thread.start()
        _waiting_on_locks(url, 2)
        cluster.ctl("restart", "-m", "fast")
        thread.join(30)
        _, err = cli.communicate(timeout=30)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait(10)
        locker.close()

    assert not thread.is_alive()
    [error] = caught
    assert isinstance(error, DapError), f"{type(error).__name__}: {error}"
    message = str(error)
    assert "metadata database" in message and PASSWORD not in message
    assert len(message.splitlines()) == 1
    assert cli.returncode == 1
    assert err.startswith("error: ") and "Traceback" not in err and PASSWORD not in err
    assert len(err.strip().splitlines()) == 1, err
    print(f"in-process: {message}\nCLI: {err.strip()}")

    # The next operation, on the same workspace and pool, and in a new process, works.
    assert ws.session().sql(sql).to_dicts() == [{"n": 3}]
    ws.catalog.create_table("main.u", pa.table({"id": [4]}))
    assert "main.u" in ws.catalog.known_names()
    again = subprocess.run([DAP, "sql", sql], env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    ws.close()
