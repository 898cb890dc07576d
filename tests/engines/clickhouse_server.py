"""A ClickHouse server of its own (Debian's ``clickhouse-server``) for tests and benchmarks:
config, data and users in a directory given, listening on 127.0.0.1 only."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SERVER = "/usr/sbin/clickhouse-server"
PASSWORD = "pw-Zq81-never-shown"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def clickhouse_server(root: Path) -> Iterator[str]:
    """Start the server in ``root``; yields its URL (user ``dap``, :data:`PASSWORD`)."""
    http, tcp = free_port(), free_port()
    (root / "users.xml").write_text(
        "<yandex><profiles><default/></profiles><quotas><default/></quotas><users><dap>"
        f"<password>{PASSWORD}</password><networks><ip>127.0.0.1</ip></networks>"
        "<profile>default</profile><quota>default</quota></dap></users></yandex>"
    )
    (root / "config.xml").write_text(
        f"<yandex><logger><level>warning</level><log>{root}/log.txt</log>"
        f"<errorlog>{root}/err.txt</errorlog><console>0</console></logger>"
        f"<listen_host>127.0.0.1</listen_host><http_port>{http}</http_port>"
        f"<tcp_port>{tcp}</tcp_port><path>{root}/data/</path><tmp_path>{root}/tmp/</tmp_path>"
        f"<user_files_path>{root}/files/</user_files_path>"
        f"<format_schema_path>{root}/schemas/</format_schema_path>"
        f"<users_config>{root}/users.xml</users_config><default_profile>default</default_profile>"
        "<default_database>default</default_database><mark_cache_size>5368709</mark_cache_size>"
        "</yandex>"
    )
    proc = subprocess.Popen(
        [SERVER, f"--config-file={root}/config.xml"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http}/ping", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("clickhouse-server did not start") from None
                time.sleep(0.2)
        yield f"http://dap:{PASSWORD}@127.0.0.1:{http}/"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
