"""The connector registry against real sources: SQLite files, PostgreSQL, folders, HTTP."""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from dap_kernel.connectors import ConnectorExists, Connectors
from dap_kernel.connectors.registry import _scrub, connector_kind, redact
from dap_kernel.errors import ConnectorError, UnknownConnector
from dap_kernel.session import Workspace
from tests.conftest import _free_port, _pg_bin

PASSWORD = "Tr0ub4dor-s3cret"


@pytest.fixture
def connectors(workspace: Workspace) -> Connectors:
    return Connectors(workspace.meta, workspace.secrets)


def _meta_dump(workspace: Workspace) -> str:
    """Every value of every metadata table, read straight from the SQLite file."""
    path = workspace.settings.home / "meta.db"
    con = sqlite3.connect(path)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return " ".join(
            str(v) for t in tables for row in con.execute(f'SELECT * FROM "{t}"') for v in row
        )
    finally:
        con.close()


# -- definitions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("postgresql://u:p@db:5432/x", "postgresql"),
        ("postgresql+psycopg://u@db/x", "postgresql"),
        ("postgres://db/x", "postgresql"),
        ("mysql://u:p@db/x", "mysql"),
        ("mysql+pymysql://u:p@db/x", "mysql"),
        ("sqlite:////data/x.db", "sqlite"),
        ("file:///data/raw", "file"),
        ("/data/raw", "file"),
        ("https://api.example.com/v1", "http"),
        ("http://127.0.0.1:8000", "http"),
    ],
)
def test_url_kinds(url: str, kind: str) -> None:
    assert connector_kind(url) == kind


@pytest.mark.parametrize(
    ("name", "url", "message"),
    [
        ("Crm", "sqlite:////x.db", "invalid connector name"),
        ("1db", "sqlite:////x.db", "invalid connector name"),
        ("crm-db", "sqlite:////x.db", "invalid connector name"),
        ("crm", "ftp://host/x", "unsupported connector URL"),
        ("crm", "s3://bucket/x", "unsupported connector URL"),
        ("crm", "relative/folder", "unsupported connector URL"),
        ("crm", "sqlite:///relative.db", "absolute path"),
        ("crm", "file://relative", "absolute path"),
        ("crm", "postgresql:///nohost", "names no host"),
        ("crm", "https://", "names no host"),
    ],
)
def test_invalid_definitions_are_refused(
    connectors: Connectors, name: str, url: str, message: str
) -> None:
    with pytest.raises(ConnectorError, match=message) as err:
        connectors.create(name, url, owner="tester")
    assert err.value.code == "connector_error" and err.value.http_status == 400
    assert connectors.list() == []


def test_unsupported_url_error_hides_the_password(connectors: Connectors) -> None:
    with pytest.raises(ConnectorError) as err:
        connectors.create("x", f"oracle://scott:{PASSWORD}@db/orcl", owner="tester")
    assert PASSWORD not in str(err.value)


def test_lifecycle_duplicates_replace_and_delete(
    connectors: Connectors, workspace: Workspace, tmp_path: Path
) -> None:
    info = connectors.create(
        "crm", f"postgresql://app:{PASSWORD}@db:5432/crm", owner="ann", description="CRM"
    )
    assert info.url == "postgresql://app:***@db:5432/crm"
    assert info.has_secret and info.kind == "postgresql" and info.owner == "ann"
    assert workspace.secrets.names() == ["connector:crm"]
    with pytest.raises(ConnectorExists, match="already exists") as err:
        connectors.create("crm", "sqlite:////x.db", owner="bob")
    assert err.value.http_status == 409
    assert connectors.url("crm") == f"postgresql://app:{PASSWORD}@db:5432/crm"

    replaced = connectors.create("crm", str(tmp_path), owner="bob", replace=True)
    assert replaced.kind == "file" and not replaced.has_secret and replaced.owner == "bob"
    assert workspace.secrets.names() == []  # the old password does not linger
    assert connectors.url("crm") == str(tmp_path)

    connectors.delete("crm")
    assert connectors.list() == []
    for call in (connectors.get, connectors.url, connectors.delete, connectors.test):
        with pytest.raises(UnknownConnector) as missing:
            call("crm")
        assert missing.value.code == "unknown_connector" and missing.value.http_status == 404


def test_delete_removes_the_secret(connectors: Connectors, workspace: Workspace) -> None:
    connectors.create("api", f"https://bot:{PASSWORD}@api.example.com/", owner="t")
    connectors.create("api2", "https://api.example.com/v1?api_key=abc123&page=2", owner="t")
    assert connectors.get("api2").url == "https://api.example.com/v1?api_key=***&page=2"
    assert connectors.url("api2").endswith("api_key=abc123&page=2")
    assert workspace.secrets.names() == ["connector:api", "connector:api2"]
    connectors.delete("api")
    connectors.delete("api2")
    assert workspace.secrets.names() == []


def test_to_dict_is_json_and_passwordless(connectors: Connectors) -> None:
    connectors.create("crm", f"mysql://app:{PASSWORD}@db/crm", owner="ann")
    data = connectors.get("crm").to_dict()
    text = json.dumps(data)
    assert PASSWORD not in text
    assert data["name"] == "crm" and data["has_secret"] is True
    assert data["created_at"].endswith("+00:00")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:pw@h/db", "postgresql://u:***@h/db"),
        ("postgresql://:pw@h/db", "postgresql://:***@h/db"),
        ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"),
        (
            "postgresql://u@h/db?sslmode=require&password=pw",
            "postgresql://u@h/db?sslmode=require&password=***",
        ),
        ("https://h/v1?token=abc", "https://h/v1?token=***"),
        ("sqlite:////x.db", "sqlite:////x.db"),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_driver_errors_are_scrubbed() -> None:
    url = f"postgresql://app:{PASSWORD}@db/crm"
    message = _scrub(f"could not connect to {url}: bad password {PASSWORD}\nDETAIL: more", url)
    assert message == "could not connect to postgresql://app:***@db/crm: bad password ***"


# -- SQLite ----------------------------------------------------------------------------------


def _sqlite_db(path: Path) -> Path:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE orders (id INTEGER, amount REAL)")
    con.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
    con.commit()
    con.close()
    return path


def test_sqlite_connector_lists_tables_and_changes_nothing(
    connectors: Connectors, tmp_path: Path
) -> None:
    (tmp_path / "src").mkdir()
    db = _sqlite_db(tmp_path / "src" / "shop.db")
    before = db.stat().st_mtime_ns
    connectors.create("shop", f"sqlite:///{db}", owner="tester")
    result = connectors.test("shop")
    assert result.ok, result.message
    assert result.objects == ["customers", "orders"]
    assert "2 tables" in result.message and result.elapsed_ms > 0
    assert db.stat().st_mtime_ns == before
    assert [p.name for p in db.parent.iterdir()] == ["shop.db"]  # no -wal, no -journal


def test_missing_or_broken_sqlite_file_is_not_ok(connectors: Connectors, tmp_path: Path) -> None:
    connectors.create("gone", f"sqlite:///{tmp_path / 'missing.db'}", owner="tester")
    result = connectors.test("gone")
    assert not result.ok and "no such SQLite file" in result.message and result.objects == []
    assert not (tmp_path / "missing.db").exists()  # the test did not create it
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"definitely not a database " * 100)
    connectors.create("junk", f"sqlite:///{junk}", owner="tester")
    broken = connectors.test("junk")
    assert not broken.ok and "not a database" in broken.message
    assert "\n" not in broken.message


def test_mysql_without_a_driver_is_a_clear_answer(connectors: Connectors) -> None:
    import importlib.util

    if importlib.util.find_spec("MySQLdb") is not None:
        pytest.skip("mysqlclient is installed here")
    connectors.create("legacy", f"mysql://app:{PASSWORD}@127.0.0.1:1/x", owner="t")
    result = connectors.test("legacy", timeout_s=2)
    assert not result.ok and "driver" in result.message and PASSWORD not in result.message


# -- PostgreSQL ------------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_connector_keeps_the_password_secret(
    connectors: Connectors, workspace: Workspace, postgres_url: str
) -> None:
    import psycopg

    role = f"reader_{uuid.uuid4().hex[:8]}"  # roles are server-wide: never collide with others
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
        con.execute("CREATE TABLE accounts (id int, owner text)")
        con.execute("CREATE SCHEMA sales")
        con.execute("CREATE TABLE sales.deals (id int)")
        con.execute(f"GRANT USAGE ON SCHEMA sales TO {role}")
    url = postgres_url.replace("postgresql://postgres@", f"postgresql://{role}:{PASSWORD}@")
    info = connectors.create("warehouse", url, owner="tester", description="the warehouse")
    assert PASSWORD not in info.url and f"{role}:***@" in info.url
    assert all(PASSWORD not in str(c.to_dict()) for c in connectors.list())
    assert PASSWORD not in str(connectors.get("warehouse"))
    assert PASSWORD not in _meta_dump(workspace)
    assert connectors.url("warehouse") == url

    result = connectors.test("warehouse")
    assert result.ok, result.message
    assert result.objects == ["accounts", "sales.deals"]


@pytest.mark.postgres
def test_unreachable_postgres_is_not_ok_and_hides_the_password(connectors: Connectors) -> None:
    port = _free_port()
    connectors.create("dead", f"postgresql://app:{PASSWORD}@127.0.0.1:{port}/x", owner="t")
    result = connectors.test("dead", timeout_s=2)
    assert not result.ok
    assert PASSWORD not in result.message and "\n" not in result.message
    assert result.elapsed_ms < 10_000


@pytest.fixture(scope="module")
def password_postgres() -> Iterator[str]:
    """A PostgreSQL that checks passwords (the shared server trusts everyone)."""
    import os

    datadir = Path(tempfile.mkdtemp(prefix="dap-pgpw-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(datadir, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    pwfile = datadir / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if as_postgres:
        shutil.chown(pwfile, "postgres", "postgres")
    port = _free_port()
    data = str(datadir / "data")
    subprocess.run(
        [
            *as_postgres,
            _pg_bin("initdb"),
            "-D",
            data,
            "-U",
            "postgres",
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
        ],
        check=True,
        capture_output=True,
    )
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {datadir} -c fsync=off"
    log = str(datadir / "server.log")
    start = [*as_postgres, _pg_bin("pg_ctl"), "-D", data, "-l", log, "-o", options, "-w", "start"]
    subprocess.run(start, check=True, capture_output=True)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stop = [*as_postgres, _pg_bin("pg_ctl"), "-D", data, "-m", "immediate", "stop"]
        subprocess.run(stop, capture_output=True)
        shutil.rmtree(datadir, ignore_errors=True)


@pytest.mark.postgres
def test_wrong_password_is_not_ok_and_not_shown(
    connectors: Connectors, password_postgres: str
) -> None:
    right = f"postgresql://postgres:{PASSWORD}@{password_postgres}/postgres"
    wrong_password = "Wr0ng-" + PASSWORD
    connectors.create("right", right, owner="t")
    connectors.create("wrong", right.replace(PASSWORD, wrong_password), owner="t")
    assert connectors.test("right").ok
    result = connectors.test("wrong")
    assert not result.ok
    assert "password authentication failed" in result.message
    assert wrong_password not in result.message and PASSWORD not in result.message


# -- folders ---------------------------------------------------------------------------------


def test_folder_connector_lists_data_files(connectors: Connectors, tmp_path: Path) -> None:
    root = tmp_path / "landing"
    (root / "2024" / "q1").mkdir(parents=True)
    (root / ".hidden").mkdir()
    for rel in [
        "a.csv",
        "b.parquet",
        "c.json.gz",
        "d.ndjson.zst",
        "2024/q1/e.tsv",
        "2024/f.xlsx",
        "notes.txt",
        "image.png",
        ".hidden/g.csv",
    ]:
        (root / rel).write_text("x")
    connectors.create("landing", f"file://{root}", owner="tester")
    result = connectors.test("landing")
    assert result.ok, result.message
    assert result.objects == [
        "2024/f.xlsx",
        "2024/q1/e.tsv",
        "a.csv",
        "b.parquet",
        "c.json.gz",
        "d.ndjson.zst",
    ]
    assert "6 data files" in result.message

    connectors.create("plain", str(root), owner="tester")
    assert connectors.test("plain").objects == result.objects


def test_folder_with_many_files_lists_at_most_100(connectors: Connectors, tmp_path: Path) -> None:
    for i in range(150):
        (tmp_path / f"part-{i:03}.parquet").write_text("x")
    connectors.create("big", str(tmp_path), owner="tester")
    result = connectors.test("big")
    assert result.ok and len(result.objects) == 100 and "100+" in result.message


def test_missing_folder_is_not_ok(connectors: Connectors, tmp_path: Path) -> None:
    connectors.create("nothing", f"file://{tmp_path / 'nope'}", owner="tester")
    result = connectors.test("nothing")
    assert not result.ok and "no such folder" in result.message


# -- HTTP ------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    status = 200

    def do_HEAD(self) -> None:
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.status = 200  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_http_connector(connectors: Connectors, http_server: ThreadingHTTPServer) -> None:
    port = http_server.server_address[1]
    connectors.create("api", f"http://bot:{PASSWORD}@127.0.0.1:{port}/v1", owner="t")
    result = connectors.test("api", timeout_s=5)
    assert result.ok, result.message
    assert result.message == "HTTP 200 OK" and result.objects == []
    http_server.status = 503  # type: ignore[attr-defined]
    failing = connectors.test("api", timeout_s=5)
    assert not failing.ok and "503" in failing.message


def test_http_without_head_falls_back_to_get(connectors: Connectors) -> None:
    class GetOnly(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(404)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), GetOnly)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        connectors.create("api", f"http://127.0.0.1:{server.server_address[1]}/", owner="t")
        result = connectors.test("api", timeout_s=5)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert result.ok and result.message == "HTTP 404 Not Found"  # reachable; < 500 is fine


def test_http_closed_port_is_not_ok(connectors: Connectors) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    connectors.create("down", f"https://u:{PASSWORD}@127.0.0.1:{port}/", owner="t")
    result = connectors.test("down", timeout_s=2)
    assert not result.ok and result.objects == []
    assert PASSWORD not in result.message and "\n" not in result.message


def test_grants_on_single_connectors(governed: Workspace, tmp_path: Path) -> None:
    from dap_kernel.connectors.registry import usable_connectors
    from dap_kernel.errors import DapError, QueryRefused
    from dap_kernel.governance.identity import Principal

    registry = Connectors(governed.meta, governed.secrets)
    for name in ("shop", "hr"):
        db = tmp_path / f"{name}.db"
        sqlite3.connect(db).close()
        registry.create(name, f"sqlite:///{db}", owner="tester")
    bob = governed.session(Principal("bob"))
    with pytest.raises(QueryRefused):
        usable_connectors(bob, registry)
    admin = governed.admin("tester")
    admin.grant("USE_CONNECTOR", "connector:shop", "user", "bob")
    assert [c.name for c in usable_connectors(bob, registry)] == ["shop"]
    assert bob.check("USE_CONNECTOR", "connector:shop").allowed
    assert not bob.check("USE_CONNECTOR", "connector:hr").allowed
    assert not bob.check("USE_CONNECTOR", "*").allowed  # raw URLs still need the broad grant
    with pytest.raises(DapError, match="connector nope does not exist"):
        admin.grant("USE_CONNECTOR", "connector:nope", "user", "bob")
    admin.grant("USE_CONNECTOR", "*", "user", "bob")
    assert {c.name for c in usable_connectors(bob, registry)} == {"shop", "hr"}
