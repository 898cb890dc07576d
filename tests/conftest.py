"""Shared fixtures: a fresh DAP home per test, one demo data set and one PostgreSQL per run."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from dap_kernel import demo
from dap_kernel.session import Workspace, reset_default_workspace
from dap_kernel.settings import Settings

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

# tests.secretscan: no secret in any test's logs, output or HTTP answers.
pytest_plugins = ["pytest_jupyter.jupyter_server", "pytester", "tests.secretscan"]

DEMO_SCALE = 0.02


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test reads the developer's ~/.dap or DAP_* variables."""
    for key in list(os.environ):
        if key.startswith("DAP_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DAP_HOME", str(tmp_path / "dap-home"))
    monkeypatch.setenv("DAP_USER", "tester")
    reset_default_workspace()
    yield
    reset_default_workspace()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "dap-home", user="tester")


@pytest.fixture
def workspace(settings: Settings) -> Iterator[Workspace]:
    ws = Workspace(settings)
    yield ws
    ws.close()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Let the run end when its tests have: every IPython shell a test made registered an exit
    handler that resets it, and each reset runs a full ``gc.collect()``; hundreds of them over
    the run's heap kept the process busy for minutes after the last test. At exit the shells
    only close their history (what must not be lost); the process frees the rest."""
    from IPython.core.interactiveshell import InteractiveShell

    def close_history(shell: InteractiveShell) -> None:
        if getattr(shell, "_atexit_once_called", False):
            return
        shell._atexit_once_called = True
        if shell.history_manager is not None:
            shell.history_manager.end_session()
            shell.history_manager.close()
            shell.history_manager = None

    InteractiveShell._atexit_once = close_history  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def spark_session() -> Iterator[None]:
    """The run's one Spark session (a JVM, ~5-15 s to start): every spark engine of the run
    shares it; stopped when the run ends."""
    from dap_kernel.engines.spark import start_shared_session, stop_shared_session

    start_shared_session()
    yield
    stop_shared_session()


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo data set per run, copied by tests that need it."""
    home = tmp_path_factory.mktemp("demo-home")
    ws = Workspace(Settings(home=home, user="tester"))
    demo.build(ws.catalog, scale=DEMO_SCALE, owner="tester")
    ws.close()
    return home


@pytest.fixture
def demo_workspace(demo_home: Path, tmp_path: Path) -> Iterator[Workspace]:
    home = tmp_path / "dap-home"
    shutil.copytree(demo_home, home)  # a moved DAP_HOME keeps working: nothing absolute inside
    ws = Workspace(Settings(home=home, user="tester"))
    yield ws
    ws.close()


@pytest.fixture
def shell(demo_workspace: Workspace) -> Iterator[InteractiveShell]:
    """An IPython shell with the ``%dap`` magics on the demo workspace; the singleton is
    cleared afterwards, so no test sees another's variables."""
    from IPython.core.interactiveshell import InteractiveShell

    from dap_kernel.magics import DapMagics

    ip = InteractiveShell.instance()
    ip.register_magics(DapMagics(shell=ip, session_factory=demo_workspace.session))
    ip.user_ns.clear()
    yield ip
    InteractiveShell.clear_instance()


def make_governed(ws: Workspace) -> None:
    """Analysts see only their region's customers and masked emails; bob has no grant."""
    admin = ws.admin("tester")
    admin.set_multi_user(True)
    admin.add_user("ann", {"region": "EMEA"})
    admin.add_user("raj", {"region": "APAC"})
    admin.add_user("bob", {"region": "EMEA"})
    admin.add_member("group", "analysts", "user", "ann")
    admin.add_member("group", "analysts", "user", "raj")
    admin.add_member("role", "analyst", "group", "analysts")
    admin.add_row_filter("main.customers", "region = current_user_attr('region')")
    admin.set_mask("tag:pii", "redact")
    admin.set_mask("main.customers.email", "mask_email")


@pytest.fixture
def governed(demo_workspace: Workspace) -> Iterator[Workspace]:
    """The demo workspace made multi-user by :func:`make_governed`."""
    make_governed(demo_workspace)
    yield demo_workspace


@dataclass(frozen=True)
class Service:
    url: str
    home: Path
    keys: dict[str, str]  # user -> API key (tester's has every scope)
    log: Path
    process: subprocess.Popen[bytes] | None = None


@pytest.fixture(scope="session")
def dap_service(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One real `dap serve` process per run, over a governed copy of the demo data."""
    with served(demo_home, tmp_path_factory.mktemp("service")) as service:
        yield service


@contextmanager
def served(
    demo_home: Path,
    folder: Path,
    args: tuple[str, ...] = (),
    ca: Path | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[Service]:
    """A `dap serve` process over a governed copy of the demo data in ``folder``, with an API
    key per demo user; stopped on exit. Tests that change what others rely on (a fuzzer that
    revokes keys, say) start their own rather than share :func:`dap_service`. ``args`` go to
    `dap serve`; with ``ca`` it serves HTTPS (``args`` name the certificate) and is waited for
    trusting that CA. ``env`` adds variables (``DAP_SHUTDOWN_GRACE_S``, …) to its environment."""
    home = folder / "dap-home"
    shutil.copytree(demo_home, home)
    ws = Workspace(Settings(home=home, user="tester"))
    make_governed(ws)
    keys = {u: ws.apikeys.create(u, "tests")[1] for u in ("ann", "raj", "bob")}
    keys["tester"] = ws.apikeys.create(
        "tester", "tests", scopes=["query", "read-catalog", "admin"]
    )[1]
    ws.close()
    port = _free_port()
    extra = env or {}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAP_", "JUPYTERHUB_"))}
    env.update(
        {"DAP_HOME": str(home), "DAP_USER": "tester", "JUPYTER_RUNTIME_DIR": str(home.parent)}
    )
    env.update(extra)
    log_path = home.parent / "service.log"
    dap = str(Path(sys.executable).parent / "dap")
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [dap, "serve", f"--port={port}", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"{'https' if ca else 'http'}://127.0.0.1:{port}"
    context = ssl.create_default_context(cafile=str(ca)) if ca else None
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(
                    f"{url}/dap/api/v1/health", timeout=2, context=context
                ).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the DAP service did not start; see {log_path}") from None
                time.sleep(0.2)
        yield Service(url=url, home=home, keys=keys, log=log_path, process=process)
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen[bytes], grace_s: float = 15) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``: servers started by tests never outlive them."""
    process.terminate()
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


# -- PostgreSQL: one real server per test run -------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        pytest.fail(
            "PostgreSQL is not installed: run `make setup` (it installs Debian's postgresql)"
        )
    return found[-1]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A real PostgreSQL on 127.0.0.1, initdb'd into a temp dir; yields a server URL."""
    datadir = Path(tempfile.mkdtemp(prefix="dap-pg-"))
    port = _free_port()
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(datadir, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [
            *as_postgres,
            _pg_bin("initdb"),
            "-D",
            str(datadir / "data"),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *as_postgres,
            _pg_bin("pg_ctl"),
            "-D",
            str(datadir / "data"),
            "-l",
            str(datadir / "server.log"),
            "-o",
            f"-c listen_addresses=127.0.0.1 -p {port} -k {datadir} -c fsync=off",
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [
                *as_postgres,
                _pg_bin("pg_ctl"),
                "-D",
                str(datadir / "data"),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
        )
        shutil.rmtree(datadir, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh, empty database on the shared server for one test."""
    import psycopg

    name = f"dap_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    return f"{postgres_server}/{name}"


@pytest.fixture(params=["sqlite", "postgres"])
def meta_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The metadata tests run against both supported stores."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


# -- The payments workspace (tests/payments.py): governed copies, metadata and quality -------


@pytest.fixture(scope="module")
def payments_built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per module; a module may override this fixture to add to it."""
    from tests import payments

    home = tmp_path_factory.mktemp("payments") / "home"
    payments.build(home)
    return home


@pytest.fixture
def payments_home(payments_built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy at DAP_HOME (where the CLI and ``dap.*`` look)."""
    target = tmp_path / "pay-home"
    shutil.copytree(payments_built, target)
    monkeypatch.setenv("DAP_HOME", str(target))
    reset_default_workspace()
    return target


@pytest.fixture
def payments_ws(payments_home: Path) -> Iterator[Workspace]:
    ws = Workspace(Settings(home=payments_home, user="tester"))
    yield ws
    ws.close()
