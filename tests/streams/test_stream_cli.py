"""`dap stream start|status|stop` as a user runs them, and the fault test: `kill -9` of the
stream process at random points, restarted each time, ends with exactly the events produced."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from dap_kernel.session import Workspace
from dap_kernel.settings import Settings
from tests.streams.conftest import Broker
from tests.streams.helpers import produce

DAP = shutil.which("dap", path=str(Path(sys.executable).parent)) or "dap"


def _env(home: Path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DAP_")}
    environ.update({"DAP_HOME": str(home), "DAP_USER": "tester"})
    return environ


def dap(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DAP, *args], capture_output=True, text=True, env=_env(home), timeout=120)


def start(
    home: Path, broker: Broker, topic: str, table: str, log: Path, *extra: str
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                DAP,
                "stream",
                "start",
                "--bootstrap",
                broker.bootstrap,
                "--topic",
                topic,
                "--table",
                table,
                *extra,
            ],
            env=_env(home),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def table_ids(home: Path, table: str) -> pl.Series:
    schema, name = table.split(".")
    ws = Workspace(Settings(home=home, user="tester"))
    try:
        if not ws.lake.exists(schema, name):
            return pl.Series("id", [], dtype=pl.Int64)
        frame = pl.from_arrow(ws.lake.read(schema, name))
        assert isinstance(frame, pl.DataFrame)
        return frame["id"]
    finally:
        ws.close()


def rewind(broker: Broker, topic: str, group: str, rng: random.Random) -> None:
    """Commit low offsets for ``group`` as a member of it (the broker refuses commits from
    outside a group that still lists the killed member), then leave."""
    from confluent_kafka import Consumer, TopicPartition

    assigned: list[bool] = []
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 1000,
        }
    )
    try:
        consumer.subscribe([topic], on_assign=lambda c, ps: assigned.append(True))
        deadline = time.monotonic() + 60
        while not assigned and time.monotonic() < deadline:
            consumer.poll(0.2)
        assert assigned, "could not join the stream's group to rewind it"
        offsets = [TopicPartition(topic, p, rng.randrange(0, 200)) for p in range(3)]
        consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()


def wait_for(check: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def test_status_with_no_streams(tmp_path: Path) -> None:
    done = dap("stream", "status", home=tmp_path / "home")
    assert done.returncode == 0
    assert "no streams" in done.stdout


def test_start_status_stop(tmp_path: Path, broker: Broker, topic: str) -> None:
    home = tmp_path / "home"
    produce(broker.bootstrap, topic, [{"id": i, "v": "x"} for i in range(500)])
    process = start(home, broker, topic, "main.live", tmp_path / "stream.log")
    try:
        wait_for(lambda: len(table_ids(home, "main.live")) == 500, 60, "500 rows")

        def status_now() -> list[dict]:
            return json.loads(dap("stream", "status", "--format", "json", home=home).stdout)

        # The state file is written just after each Delta commit (the table is the truth, the
        # file a view of it): it may trail the rows by a moment, never disagree once written.
        wait_for(lambda: (status_now() or [{}])[0].get("rows") == 500, 10, "status of 500")
        status = status_now()
        assert [s["name"] for s in status] == ["main.live"]
        assert status[0]["status"] == "running" and status[0]["pid"] == process.pid
        assert status[0]["rows"] == 500
        assert status[0]["offsets"] == {"0": 166, "1": 166, "2": 165}
        table = dap("stream", "status", home=home)
        assert "main.live" in table.stdout and "running" in table.stdout
        # A second start of the same stream is refused while the first runs
        again = dap(
            "stream",
            "start",
            "--bootstrap",
            broker.bootstrap,
            "--topic",
            topic,
            "--table",
            "live",
            home=home,
        )
        assert again.returncode == 1 and "already running" in again.stderr
        # stop: SIGTERM, the process commits what it holds and exits
        stopped = dap("stream", "stop", "live", home=home)
        assert stopped.returncode == 0, stopped.stderr
        assert "stopped" in stopped.stdout
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    status = json.loads(dap("stream", "status", "live", "--format", "json", home=home).stdout)
    assert status[0]["status"] == "stopped"
    assert dap("stream", "stop", "nosuch", home=home).returncode == 1


def test_a_killed_stream_says_dead(tmp_path: Path, broker: Broker, topic: str) -> None:
    home = tmp_path / "home"
    process = start(home, broker, topic, "main.dead", tmp_path / "stream.log")
    wait_for(lambda: (home / "streams" / "main.dead.json").exists(), 30, "the state file")
    process.send_signal(signal.SIGKILL)
    process.wait()
    status = json.loads(dap("stream", "status", "--format", "json", home=home).stdout)
    assert status[0]["status"] == "dead"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_kill_9_at_random_points_loses_and_duplicates_nothing(
    tmp_path: Path, broker: Broker, topic: str
) -> None:
    # Given 60,000 events produced while the stream runs, in small batches so kills land
    # between, inside and after commits
    total = 60_000
    home = tmp_path / "home"
    log = tmp_path / "stream.log"
    rng = random.Random(int(os.environ.get("DAP_FAULT_SEED", "16")))
    producer = threading.Thread(
        target=lambda: [
            produce(broker.bootstrap, topic, [{"id": i, "n": i % 97} for i in range(s, s + 6000)])
            and time.sleep(0.3)
            for s in range(0, total, 6000)
        ]
    )
    producer.start()
    extra = ("--batch-seconds", "0.2", "--batch-rows", "2000")
    mid_run = 0
    try:
        for _kill in range(5):
            process = start(home, broker, topic, "main.clicks", log, *extra)
            before = len(table_ids(home, "main.clicks"))
            # let it get going (join the group, commit some batches), then kill -9 it
            wait_for(
                lambda b=before, p=process: (
                    len(table_ids(home, "main.clicks")) > b or p.poll() is not None
                ),
                90,
                "the stream to commit after a restart",
            )
            assert process.poll() is None, log.read_text()[-2000:]
            time.sleep(rng.uniform(0.0, 1.5))
            process.send_signal(signal.SIGKILL)
            process.wait()
            at_kill = len(table_ids(home, "main.clicks"))
            mid_run += 0 < at_kill < total
            # and the broker's committed offsets of the group go back (a broker that lost them,
            # or an operator's reset): the restart must not trust them
            rewind(broker, topic, "dap-stream.main.clicks", rng)
        producer.join()
        # When it runs once more, undisturbed, until every event is in
        process = start(home, broker, topic, "main.clicks", log, *extra)
        wait_for(lambda: len(table_ids(home, "main.clicks")) >= total, 180, "all events")
        time.sleep(1.5)  # anything duplicated would arrive with the next batches
        assert dap("stream", "stop", "clicks", home=home).returncode == 0
        process.wait(15)
    finally:
        producer.join()
        for p in [process]:
            if p.poll() is None:
                p.kill()
                p.wait()
    # Then the table holds every event exactly once
    ids = table_ids(home, "main.clicks")
    assert ids.len() == total
    assert ids.n_unique() == total
    assert ids.min() == 0 and ids.max() == total - 1
    assert mid_run >= 3  # most kills landed mid-run, with part of the events in the table


def test_start_through_a_kafka_connector(tmp_path: Path, broker: Broker, topic: str) -> None:
    # Given a Kafka connector defined once, and events on the topic
    home = tmp_path / "home"
    assert (
        dap("connector", "add", "events", f"kafka://{broker.bootstrap}", home=home).returncode == 0
    )
    produce(broker.bootstrap, topic, [{"id": i} for i in range(200)])
    both = dap(
        "stream", "start", "--connector", "events", "--bootstrap", "x:1", "--topic", topic,
        "--table", "t", home=home,
    )  # fmt: skip
    assert both.returncode != 0 and "not both" in both.stderr and "Traceback" not in both.stderr
    # When a stream names the connector instead of brokers
    log = tmp_path / "stream.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [DAP, "stream", "start", "--connector", "events", "--topic", topic, "--table", "via"],
            env=_env(home),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: len(table_ids(home, "main.via")) == 200, 60, "200 rows via the connector")
        status = json.loads(
            dap("stream", "status", "main.via", "--format", "json", home=home).stdout
        )
        assert status[0]["spec"]["connector"] == "events"
        assert status[0]["spec"]["bootstrap"] == broker.bootstrap
        assert dap("stream", "stop", "via", home=home).returncode == 0
        process.wait(15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
