"""The broker restarts mid-stream (SIGTERM, and SIGKILL): the table still ends with exactly the
events produced, checked by key.

Tansu's ``memory://`` storage forgets everything when it stops, and this build of it has no
SQLite or PostgreSQL engine, but it has ``s3://``: here it stores its topics, watermarks and
consumer groups in an S3 bucket served by moto on 127.0.0.1 (one moto server and one broker per
run). The broker is restarted on the same port with the same bucket, so what it acknowledged
before the restart is there after it, as with a real Kafka cluster's disks.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dap_kernel.session import Workspace
from dap_kernel.streams import StreamRunner, StreamSpec
from tests.conftest import stop_process
from tests.streams.conftest import Broker, _wait_ready, tansu_binary
from tests.streams.helpers import produce, run_in_thread, table_frame

BUCKET = "tansu"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 with the broker's bucket, for the whole run."""
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:  # moto takes any credentials; a bare PUT creates the bucket
                urllib.request.urlopen(
                    urllib.request.Request(f"{endpoint}/{BUCKET}", method="PUT"), timeout=2
                ).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto's S3 server did not start; see {log}") from None
                time.sleep(0.2)
        yield endpoint
    finally:
        stop_process(process, grace_s=5)


@dataclass
class DurableBroker:
    """A Tansu broker on S3 storage that a test may stop and start again on the same port."""

    bootstrap: str
    log: Path
    endpoint: str
    process: subprocess.Popen[bytes] | None = field(default=None, compare=False)

    def create_topic(self, name: str, partitions: int = 1) -> str:
        return Broker(self.bootstrap, self.log).create_topic(name, partitions)

    def start(self) -> None:
        url = f"tcp://{self.bootstrap}"
        env = {
            **os.environ,
            "AWS_ENDPOINT": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    str(tansu_binary()),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    f"s3://{BUCKET}/",
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _wait_ready(self.bootstrap, self.process, self.log)

    def stop(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None


@pytest.fixture(scope="session")
def durable_broker(
    s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DurableBroker]:
    broker = DurableBroker(
        bootstrap=f"127.0.0.1:{_free_port()}",
        log=tmp_path_factory.mktemp("tansu-s3") / "broker.log",
        endpoint=s3_endpoint,
    )
    broker.start()
    try:
        yield broker
    finally:
        if broker.process is not None:
            stop_process(broker.process, grace_s=5)


def test_the_broker_keeps_what_it_acknowledged_across_a_restart(
    durable_broker: DurableBroker,
) -> None:
    """The premise of the test below: S3 storage survives SIGKILL (memory:// would not)."""
    from confluent_kafka import Consumer, TopicPartition

    topic = durable_broker.create_topic(f"r_{uuid.uuid4().hex[:10]}", partitions=3)
    produce(durable_broker.bootstrap, topic, [str(i) for i in range(300)])
    durable_broker.stop(signal.SIGKILL)
    durable_broker.start()
    consumer = Consumer({"bootstrap.servers": durable_broker.bootstrap, "group.id": "probe"})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(3)])
    values: list[int] = []
    deadline = time.monotonic() + 20
    while len(values) < 300 and time.monotonic() < deadline:
        values += [int(m.value()) for m in consumer.consume(500, 0.5) if not m.error()]
    consumer.close()
    assert sorted(values) == list(range(300))


def test_a_stream_stops_within_moments_when_its_broker_is_gone(
    durable_broker: DurableBroker,
) -> None:
    """librdkafka's close waits ~45 s for a dead broker to hear the member leave (longer with
    requests queued: a CI run once hung at exit on it); a stream's consumer waits a bounded
    time, and its thread does not keep the process alive."""
    from dap_kernel.streams.consumer import StreamConsumer

    topic = durable_broker.create_topic(f"c_{uuid.uuid4().hex[:10]}", partitions=3)
    produce(durable_broker.bootstrap, topic, [{"id": i} for i in range(30)])
    spec = StreamSpec(bootstrap=durable_broker.bootstrap, topic=topic, table="main.closing")
    consumer = StreamConsumer(spec, lambda partitions: dict.fromkeys(partitions))
    try:
        events: list[object] = []
        deadline = time.monotonic() + 30
        while not events and time.monotonic() < deadline:
            events = list(consumer.poll_batch(30, 0.5, lambda: False))
        assert events, "the consumer never joined its group"
        durable_broker.stop(signal.SIGKILL)
        consumer.commit_hint({0: 1, 1: 1, 2: 1})  # a request left queued for the dead broker
        started = time.monotonic()
        consumer.close(wait_s=2)
        assert time.monotonic() - started < 5
    finally:
        if durable_broker.process is None:
            durable_broker.start()


def _produce_small_batches(bootstrap: str, topic: str, ids: range) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "batch.num.messages": 20})
    for i in ids:
        producer.produce(topic, json.dumps({"id": i}).encode(), partition=i % 3)
        if i % 20 == 19:
            producer.poll(0)
    assert producer.flush(30) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_broker_restart_mid_stream_loses_and_duplicates_nothing(
    workspace: Workspace, durable_broker: DurableBroker, sig: signal.Signals, tmp_path: Path
) -> None:
    first, total = 6000, 9000
    topic = durable_broker.create_topic(f"r_{uuid.uuid4().hex[:10]}", partitions=3)
    table = f"main.restart_{sig.name.lower()}"
    spec = StreamSpec(
        bootstrap=durable_broker.bootstrap,
        topic=topic,
        table=table,
        batch_rows=200,
        batch_seconds=0.05,
        kafka={
            "reconnect.backoff.max.ms": 500,  # reconnect quickly once the broker is back
            # a small prefetch, so events are left on the broker when it stops (with the
            # default 64 MB queue the consumer would hold them all already). The kbytes bound
            # counts payload bytes only (~12 per event here: 64 KB held every event once on a
            # slow CI run), so the number of messages is bounded too
            "queued.max.messages.kbytes": 64,
            "queued.min.messages": 50,
            "max.partition.fetch.bytes": 8192,
            "fetch.max.bytes": 32768,
            "message.max.bytes": 16384,
        },
    )
    # Given a stream reading the first events (in small record batches: a broker hands out
    # whole batches whatever the fetch limits, so big ones would all be prefetched at once)
    _produce_small_batches(durable_broker.bootstrap, topic, range(first))
    runner = StreamRunner(workspace.session(channel="cli"), spec, home=tmp_path)
    thread, errors = run_in_thread(runner)
    try:
        deadline = time.monotonic() + 60
        while runner.state.rows < 600 and time.monotonic() < deadline:
            time.sleep(0.005)
        # When the broker stops mid-stream, stays away a while and comes back on the same
        # port and storage
        at_signal = runner.state.rows
        durable_broker.stop(sig)  # SIGTERM: Tansu serves on for ~5 s, then exits
        assert 0 < at_signal < first  # the broker was told to stop mid-stream
        time.sleep(3)
        assert not errors, errors
        assert runner.state.status == "running", runner.state  # it waits, it does not fail
        if sig == signal.SIGKILL:  # it died at once: events were left unread on it
            assert runner.state.rows < first, runner.state
        durable_broker.start()
        # and the rest is produced after the restart
        produce(durable_broker.bootstrap, topic, [{"id": i} for i in range(first, total)])
        deadline = time.monotonic() + 90
        while runner.state.rows < total and time.monotonic() < deadline and not errors:
            time.sleep(0.05)
    finally:
        runner.stop()
        thread.join(30)
    # Then the table holds exactly the events produced, each once
    assert not errors, errors
    assert not thread.is_alive(), f"the stream did not stop: {runner.state}"
    ids = table_frame(workspace, table)["id"].to_list()
    assert len(ids) == total, f"{len(ids)} rows of {total}; the stream's state: {runner.state}"
    assert sorted(ids) == list(range(total))
