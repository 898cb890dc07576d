"""The metadata connection over TLS to a real PostgreSQL that accepts nothing else.

DAP passes libpq's own parameters through ``DAP_META_URL`` unchanged, so
``?sslmode=verify-full&sslrootcert=CA`` is all it takes: the server's certificate is checked
against that CA and the host name. A client trusting another CA, or asking for no TLS, is not
let in. (PostgreSQL has no encryption at rest of its own: docs/security-model.md, "Encryption".)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dap_kernel.errors import MetaStoreError
from dap_kernel.meta import MetaStore
from dap_kernel.meta.store import redact_url
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings
from tests.conftest import _free_port, _pg_bin
from tests.tls_certs import Pair, self_signed

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tls_postgres() -> Iterator[tuple[str, Pair]]:
    """A PostgreSQL on 127.0.0.1 with TLS on and plain connections refused (pg_hba)."""
    root = Path(tempfile.mkdtemp(prefix="dap-pg-tls-"))
    pair = self_signed(root / "tls", "postgres")
    data, port = root / "data", _free_port()
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root; the key must be the server user's, mode 0600
        for path in (root, root / "tls", pair.cert, pair.key):
            shutil.chown(path, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    pg = [*as_postgres]
    subprocess.run(
        [*pg, _pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    (data / "pg_hba.conf").write_text(
        "local all all trust\n"
        "hostssl all all 127.0.0.1/32 trust\n"
        "hostnossl all all 127.0.0.1/32 reject\n"
    )
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c ssl=on "
        f"-c ssl_cert_file={pair.cert} -c ssl_key_file={pair.key}"
    )
    log = root / "server.log"
    started = subprocess.run(
        [*pg, _pg_bin("pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"],
        capture_output=True,
    )
    if started.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL with TLS did not start: {started.stderr!r}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}", pair
    finally:
        subprocess.run(
            [*pg, _pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def _database(server: str, pair: Pair) -> str:
    import psycopg

    name = f"dap_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(
        f"{server}/postgres?sslmode=verify-full&sslrootcert={pair.cert}", autocommit=True
    ) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"


def test_the_metadata_url_keeps_libpq_parameters_as_given(tmp_path: Path) -> None:
    url = "postgresql://dap:s3cret@db.internal:5432/dap?sslmode=verify-full&sslrootcert=/etc/ca.pem"
    settings = Settings.from_env(home=tmp_path, meta_url=url)
    assert settings.meta_url == url
    engine_url = MetaStore(url).engine.url  # no connection yet: only the URL is parsed
    assert engine_url.drivername == "postgresql+psycopg"
    assert dict(engine_url.query) == {"sslmode": "verify-full", "sslrootcert": "/etc/ca.pem"}
    assert redact_url(url).endswith("/dap?sslmode=verify-full&sslrootcert=/etc/ca.pem")
    assert "s3cret" not in redact_url(url)


def test_dap_runs_on_postgresql_over_verified_tls(
    tls_postgres: tuple[str, Pair], tmp_path: Path
) -> None:
    server, pair = tls_postgres
    url = f"{_database(server, pair)}?sslmode=verify-full&sslrootcert={pair.cert}"
    ws = Workspace(Settings(home=tmp_path / "home", meta_url=url, user="tester"))
    try:
        ws.admin("tester").add_user("ann", {"region": "EMEA"})
        with ws.meta.connection() as con:
            on_tls = con.exec_driver_sql(
                "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
            ).one()
    finally:
        ws.close()
    assert on_tls[0] is True and on_tls[1].startswith("TLSv1.")


def test_a_wrong_ca_or_no_tls_is_not_let_in(tls_postgres: tuple[str, Pair], tmp_path: Path) -> None:
    server, pair = tls_postgres
    database = _database(server, pair)
    stranger = self_signed(tmp_path, "stranger")
    for query in (f"sslmode=verify-full&sslrootcert={stranger.cert}", "sslmode=disable"):
        with pytest.raises(MetaStoreError, match="cannot open the metadata database"):
            MetaStore(f"{database}?{query}").migrate()
