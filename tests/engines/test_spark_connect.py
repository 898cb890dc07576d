"""The spark engine over Spark Connect (``DAP_SPARK_REMOTE=sc://…``): the production path.

A real Spark Connect server (the one pyspark ships, ``SparkConnectServer``, ``local[2]`` on
127.0.0.1) and a client process of its own (a process holds one Spark session, and the test
run's is a local one): governed answers as on DuckDB, the engine's check and the server's lock.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dap_kernel.session import Workspace

from .conftest import as_user, normalized

SPARK_HOME = Path(__import__("pyspark").__file__).parent
SQL = "SELECT customer_id, region, email FROM customers"
CLIENT = """
import json, sys
from pathlib import Path
from dap_kernel.errors import DapError
from dap_kernel.governance.identity import Principal
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings

settings = Settings(home=Path(sys.argv[1]), user="tester", engine="spark", spark_remote=sys.argv[2])
ws = Workspace(settings)
ann = ws.session(Principal("ann", source="test"))
out = {"rows": ann.query(sys.argv[3]).table.to_pylist(), "refused": []}
for sql in ("SELECT * FROM parquet.`/etc/passwd`", "SELECT java_method('java.lang.System',"
            " 'getenv', 'HOME') AS h", "SET spark.sql.runSQLOnFiles=true"):
    try:
        ann.query(sql)
        out["refused"].append("DATA")
    except DapError as e:
        out["refused"].append(e.message)
engine = ws.engine
try:
    engine._run("SELECT * FROM parquet.`/etc/passwd`", None)
    out["lock"] = "DATA"
except DapError as e:
    out["lock"] = e.message
out["capabilities"] = sorted(engine.capabilities)
ws.close()
print(json.dumps(out, default=str))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log = tmp_path_factory.mktemp("spark-connect") / "server.log"
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    conf = {
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.ui.enabled": "false",
        "spark.sql.runSQLOnFiles": "false",
        "spark.sql.catalogImplementation": "in-memory",
    }
    args = [str(SPARK_HOME / "bin" / "spark-submit"), "--master", "local[2]"]
    for key, value in conf.items():
        args += ["--conf", f"{key}={value}"]
    args += ["--class", "org.apache.spark.sql.connect.service.SparkConnectServer"]
    with log.open("w") as out:
        server = subprocess.Popen([*args, "spark-internal"], stdout=out, stderr=out, env=env)
    try:
        deadline = time.monotonic() + 120
        while "Spark Connect server started" not in log.read_text():
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


def test_governed_queries_over_spark_connect(
    governed_home: Path, tmp_path: Path, connect_url: str, engines_ws: Workspace
) -> None:
    home = tmp_path / "home"
    shutil.copytree(governed_home, home)
    client = subprocess.run(
        [sys.executable, "-c", CLIENT, str(home), connect_url, SQL],
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if not k.startswith("DAP_")},
    )
    assert client.returncode == 0, client.stderr[-3000:]
    out = json.loads(client.stdout.strip().splitlines()[-1])
    duck = as_user(engines_ws, "ann").query(SQL, engine="duckdb").table.to_pylist()
    assert out["rows"] and normalized(out["rows"]) == normalized(duck)
    assert {r["region"] for r in out["rows"]} == {"EMEA"}
    assert "DATA" not in out["refused"] and all(out["refused"]), out["refused"]
    assert out["lock"] != "DATA"  # the server's own lock: no SQL on files
    assert out["capabilities"] == ["cancel"]  # no progress over Spark Connect
