"""Streams run on someone's behalf (``dap.streams``, REST ``streams``): each a child process the
supervisor restarts after a ``kill -9`` without losing or duplicating an event; and the rules of
who may start, see and stop which stream, and where its credentials may come from."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dap_kernel.connectors import Connectors
from dap_kernel.connectors.kafka import kafka_settings
from dap_kernel.errors import ConnectorError, DapError, QueryRefused, UnknownStream
from dap_kernel.governance.identity import Principal
from dap_kernel.local import LocalClient
from dap_kernel.session import Workspace
from dap_kernel.streams import StreamRequest, read_state
from dap_kernel.streams.state import stream_lock
from dap_kernel.streams.supervisor import Supervisor
from tests.streams.conftest import Broker
from tests.streams.helpers import produce, table_frame

PASSWORD = "pw-Zebra-42-not-for-callers"


def wait_for(what: Callable[[], bool], timeout_s: float = 60, message: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not what():
        if time.monotonic() > deadline:
            raise AssertionError(message or "timed out")
        time.sleep(0.1)


def ids(ws: Workspace, table: str) -> list[int]:
    try:
        return sorted(table_frame(ws, table)["id"].to_list())
    except Exception:  # not created yet
        return []


@pytest.fixture
def supervisor(workspace: Workspace) -> Iterator[Supervisor]:
    """A supervisor of its own per test (not the process-wide one), its streams stopped after."""
    sup = Supervisor(workspace.settings)
    yield sup
    sup.close(stop_streams=True)


def client(ws: Workspace, user: str | None = None) -> LocalClient:
    session = ws.session(Principal(name=user, source="test")) if user else ws.session()
    return LocalClient(session)


def test_a_killed_stream_is_restarted_and_nothing_is_lost_or_doubled(
    workspace: Workspace, broker: Broker, topic: str, supervisor: Supervisor
) -> None:
    from dap_kernel.streams.access import GovernedStreams

    produce(broker.bootstrap, topic, ({"id": i} for i in range(2000)))
    streams = GovernedStreams(workspace.session(), supervisor)
    request = StreamRequest(
        topic=topic, table="clicks", bootstrap=broker.bootstrap, batch_seconds=0.2
    )

    started = streams.start(request)

    assert started.status == "running" and started.supervised and started.owner == "tester"
    assert started.pid != os.getpid()  # a process of its own
    wait_for(lambda: len(ids(workspace, "main.clicks")) == 2000, message="first 2000 rows")
    with pytest.raises(DapError, match="already running"):
        streams.start(request)

    os.kill(started.pid, signal.SIGKILL)
    produce(broker.bootstrap, topic, ({"id": i} for i in range(2000, 3000)))

    def restarted() -> bool:
        state = read_state(workspace.settings.home, "main.clicks")
        return state.restarts == 1 and state.status == "running" and state.pid != started.pid

    wait_for(restarted, message="the supervisor did not restart the killed stream")
    wait_for(lambda: len(ids(workspace, "main.clicks")) >= 3000, message="rows after restart")
    time.sleep(1.0)  # a duplicate would land in the next batch
    assert ids(workspace, "main.clicks") == list(range(3000))  # exactly once, by key

    stopped = streams.stop("clicks")
    assert stopped.status == "stopped" and supervisor.watched() == []
    assert [s.name for s in streams.status()] == ["main.clicks"]


def test_a_restarted_supervisor_adopts_its_running_streams(
    workspace: Workspace, broker: Broker, topic: str, supervisor: Supervisor
) -> None:
    from dap_kernel.streams.access import GovernedStreams

    first = GovernedStreams(workspace.session(), supervisor)
    state = first.start(
        StreamRequest(topic=topic, table="views", bootstrap=broker.bootstrap, batch_seconds=0.2)
    )
    supervisor.close()  # the service stops; the stream does not

    successor = Supervisor(workspace.settings)
    try:
        assert successor.adopt() == ["main.views"]
        assert read_state(workspace.settings.home, "main.views").pid == state.pid
        os.kill(state.pid, signal.SIGKILL)  # and the successor restarts it
        wait_for(
            lambda: read_state(workspace.settings.home, "main.views").restarts == 1,
            message="the adopted stream was not restarted",
        )
    finally:
        successor.close(stop_streams=True)


# -- who may do what -----------------------------------------------------------------------


@pytest.fixture
def governed(workspace: Workspace, broker: Broker) -> Workspace:
    """ann may use the ``events`` connector and create tables in ``main``; bob may do nothing
    but read ``main.bobs`` — a table ann's streams do not touch."""
    admin = workspace.admin("tester")
    admin.set_multi_user(True)
    for user in ("ann", "bob"):
        admin.add_user(user)
    connectors = Connectors(workspace.meta, workspace.secrets)
    connectors.create("events", f"kafka://{broker.bootstrap}", owner="tester")
    connectors.create(
        "secured", f"kafka://svc:{PASSWORD}@{broker.bootstrap}?sasl.mechanism=PLAIN", owner="tester"
    )
    admin.grant("USE_CONNECTOR", "connector:events", "user", "ann")
    admin.grant("USE_CONNECTOR", "connector:secured", "user", "ann")
    admin.grant("CREATE", "main", "user", "ann")
    return workspace


def test_who_may_start_see_and_stop_a_stream(
    governed: Workspace, broker: Broker, topic: str, supervisor: Supervisor
) -> None:
    from dap_kernel.streams.access import GovernedStreams

    ann = GovernedStreams(governed.session(Principal(name="ann", source="test")), supervisor)
    bob = GovernedStreams(governed.session(Principal(name="bob", source="test")), supervisor)
    through = StreamRequest(topic=topic, table="ann_clicks", connector="events")

    # bob may not use the connector; ann may not name brokers herself or smuggle credentials
    with pytest.raises(QueryRefused, match="USE_CONNECTOR"):
        bob.start(through)
    direct = StreamRequest(topic=topic, table="ann_clicks", bootstrap=broker.bootstrap)
    with pytest.raises(QueryRefused, match="only an administrator names brokers"):
        ann.start(direct)
    with pytest.raises(DapError, match="not both"):
        StreamRequest(topic=topic, table="t", connector="events", bootstrap="evil:9092")
    with pytest.raises(DapError, match="chosen by DAP"):
        ann.start(
            StreamRequest(topic=topic, table="t", connector="events", kafka={"group.id": "x"})
        )
    for key in ("sasl.password", "security.protocol", "ssl.ca.location", "sasl.jaas.config"):
        with pytest.raises(QueryRefused, match="only tunes the consumer"):
            ann.start(StreamRequest(topic=topic, table="t", connector="events", kafka={key: "x"}))
    with pytest.raises(QueryRefused):  # CREATE on main only: no table in another schema
        ann.start(StreamRequest(topic=topic, table="finance.t", connector="events"))
    assert supervisor.watched() == []  # nothing refused ever started a process

    produce(broker.bootstrap, topic, ({"id": i} for i in range(100)))
    state = ann.start(StreamRequest(topic=topic, table="ann_clicks", connector="events"))
    assert state.status == "running" and state.owner == "ann"
    assert state.spec["bootstrap"] == broker.bootstrap and state.spec["connector"] == "events"
    wait_for(lambda: len(ids(governed, "main.ann_clicks")) == 100)

    # bob cannot see it, read it, or stop it: to him it does not exist
    assert bob.status() == []
    with pytest.raises(UnknownStream):
        bob.status("ann_clicks")
    with pytest.raises(UnknownStream):
        bob.stop("ann_clicks")
    assert [s.name for s in ann.status()] == ["main.ann_clicks"]
    assert ann.stop("ann_clicks").status == "stopped"


def test_a_connectors_password_never_reaches_a_caller(
    governed: Workspace, broker: Broker, topic: str, supervisor: Supervisor
) -> None:
    """The ``secured`` connector asks for SASL, which this broker does not speak: the stream
    fails (or keeps retrying), and nothing it reports holds the password."""
    from dap_kernel.streams.access import GovernedStreams

    ann = GovernedStreams(governed.session(Principal(name="ann", source="test")), supervisor)
    listed = Connectors(governed.meta, governed.secrets).get("secured")
    assert PASSWORD not in listed.url and "***" in listed.url

    try:
        state = ann.start(StreamRequest(topic=topic, table="ann_secure", connector="secured"))
    except DapError as e:  # did not come up: the message is what a caller sees
        assert PASSWORD not in str(e)
        state = read_state(governed.settings.home, "main.ann_secure")
    time.sleep(2)
    shown = [repr(s.to_dict()) for s in ann.status()]
    folder = governed.settings.home / "streams"
    on_disk = [p.read_text(errors="replace") for p in folder.iterdir() if p.is_file()]
    assert state.spec.get("connector") == "secured"
    for text in [*shown, *on_disk, repr(state)]:
        assert PASSWORD not in text and "svc:" not in text


def test_kafka_connector_urls() -> None:
    settings = kafka_settings(
        "kafka://svc:p%40ss@b1:9092,b2:9093?security.protocol=SASL_SSL&sasl.mechanism=SCRAM-SHA-512"
    )
    assert settings == {
        "bootstrap.servers": "b1:9092,b2:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "svc",
        "sasl.password": "p@ss",
    }
    assert kafka_settings("kafka://b1:9092")["bootstrap.servers"] == "b1:9092"
    assert kafka_settings("kafka://u:p@b1:9092")["security.protocol"] == "SASL_SSL"
    for bad in (
        "kafka://b1",  # no port
        "kafka://b1:9092/path",
        "kafka://b1:9092?ssl.key.password=x",  # not a setting a URL may carry
        "kafka://b1:9092?security.protocol=NONE",
    ):
        with pytest.raises(ConnectorError):
            kafka_settings(bad)


def test_a_kafka_connector_is_tested_like_any_other(workspace: Workspace, broker: Broker) -> None:
    connectors = Connectors(workspace.meta, workspace.secrets)
    connectors.create("events", f"kafka://{broker.bootstrap}", owner="tester")
    topic = broker.create_topic("t_connector_probe")
    result = connectors.test("events")
    assert result.ok and topic in result.objects
    connectors.create("nowhere", "kafka://127.0.0.1:9", owner="tester")
    dead = connectors.test("nowhere", timeout_s=2)
    assert not dead.ok and dead.message


def test_a_stream_runs_in_one_process_at_most(tmp_path: Path) -> None:
    """The stream's lock: re-entrant in its process, refused to any other while held."""
    probe = (
        "import sys; from pathlib import Path\n"
        "from dap_kernel.errors import StreamRunning\n"
        "from dap_kernel.streams.state import stream_lock\n"
        "try:\n"
        "    with stream_lock(Path(sys.argv[1]), sys.argv[2]): print('ran')\n"
        "except StreamRunning as e: print(e)\n"
    )

    def other(name: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", probe, str(tmp_path), name], capture_output=True, text=True
        )
        return done.stdout.strip()

    with stream_lock(tmp_path, "main.clicks"):
        with stream_lock(tmp_path, "main.clicks"):
            assert (
                other("main.clicks") == "stream main.clicks is already running in another process"
            )
        assert other("main.clicks").endswith("already running in another process")
        assert other("main.views") == "ran"
    assert other("main.clicks") == "ran"


def test_two_workers_restarting_one_dead_stream_run_it_once(
    workspace: Workspace, broker: Broker, topic: str, supervisor: Supervisor
) -> None:
    """Two service workers find the same stream dead and both restart it: one child runs, the
    other exits at once without touching the state, and no event is written twice."""
    from dap_kernel.streams.access import GovernedStreams

    produce(broker.bootstrap, topic, ({"id": i} for i in range(500)))
    request = StreamRequest(
        topic=topic, table="taps", bootstrap=broker.bootstrap, batch_seconds=0.2
    )
    state = GovernedStreams(workspace.session(), supervisor).start(request)
    wait_for(lambda: len(ids(workspace, "main.taps")) == 500, message="first rows")
    supervisor.close()
    os.kill(state.pid, signal.SIGKILL)  # dies while no worker watches
    workers = [Supervisor(workspace.settings), Supervisor(workspace.settings)]
    try:
        assert [w.adopt() for w in workers] == [["main.taps"], ["main.taps"]]
        children = lambda: [w._watched["main.taps"].process for w in workers]  # noqa: E731
        wait_for(lambda: all(p is not None for p in children()), message="both restarted it")
        wait_for(
            lambda: sum(p is not None and p.poll() is None for p in children()) == 1,
            message="two children kept running",
        )
        exited = [p for p in children() if p is not None and p.poll() is not None]
        assert [p.returncode for p in exited] == [0]
        running = read_state(workspace.settings.home, "main.taps")
        assert running.status == "running" and running.pid not in {state.pid, exited[0].pid}
        produce(broker.bootstrap, topic, ({"id": i} for i in range(500, 800)))
        wait_for(lambda: len(ids(workspace, "main.taps")) >= 800, message="rows after restart")
        time.sleep(1.0)
        assert ids(workspace, "main.taps") == list(range(800))
    finally:
        for w in workers:
            w.close(stop_streams=True)
