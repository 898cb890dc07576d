"""Streams through the DAP service (REST ``streams``, the ``HttpSession`` client): the service
runs them, and every refusal is the one the in-process client gives, word for word."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dap_kernel.connectors import Connectors
from dap_kernel.errors import DapError, UnknownStream
from dap_kernel.governance.identity import Principal
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings
from dap_kernel.streams import StreamRequest
from dap_kernel.streams.access import GovernedStreams
from dap_kernel.streams.supervisor import Supervisor
from dap_kernel.transport import HttpSession
from tests.conftest import Service, served
from tests.streams.conftest import Broker
from tests.streams.helpers import produce, table_frame
from tests.streams.test_stream_supervised import wait_for


@pytest.fixture(scope="module")
def service(
    demo_home: Path, tmp_path_factory: pytest.TempPathFactory, broker: Broker
) -> Iterator[tuple[Service, dict[str, str]]]:
    """A service of its own (streams change what others rely on): ann may use the ``events``
    connector and create tables in ``main``; keys with the admin scope a start needs."""
    with served(demo_home, tmp_path_factory.mktemp("stream-service")) as svc:
        ws = Workspace(Settings(home=svc.home, user="tester"))
        Connectors(ws.meta, ws.secrets).create(
            "events", f"kafka://{broker.bootstrap}", owner="tester"
        )
        admin = ws.admin("tester")
        admin.grant("USE_CONNECTOR", "connector:events", "user", "ann")
        admin.grant("CREATE", "main", "user", "ann")
        scopes = ["query", "read-catalog", "admin"]
        keys = {u: ws.apikeys.create(u, "streams", scopes=scopes)[1] for u in ("ann", "bob")}
        ws.close()
        yield svc, keys


def refusal(call: object) -> str:
    with pytest.raises(DapError) as caught:
        call()  # type: ignore[operator]
    return f"{type(caught.value).__name__}: {caught.value}"


@pytest.mark.slow
def test_the_same_rules_and_answers_through_rest(
    service: tuple[Service, dict[str, str]], broker: Broker, topic: str
) -> None:
    svc, keys = service
    ws = Workspace(Settings(home=svc.home, user="tester"))
    local = Supervisor(ws.settings)  # never starts anything: every call below is refused
    in_process = {
        u: GovernedStreams(ws.session(Principal(name=u, source="test")), local)
        for u in ("ann", "bob")
    }
    through = StreamRequest(topic=topic, table="ann_rest", connector="events")
    direct = StreamRequest(topic=topic, table="ann_rest", bootstrap=broker.bootstrap)
    smuggled = StreamRequest(
        topic=topic, table="ann_rest", connector="events", kafka={"sasl.password": "x"}
    )
    with (
        HttpSession(svc.url, api_key=keys["ann"]) as ann,
        HttpSession(svc.url, api_key=keys["bob"]) as bob,
    ):
        remote = {"ann": ann.streams, "bob": bob.streams}
        cases = [("bob", through), ("ann", direct), ("ann", smuggled)]
        for user, request in cases:
            here = refusal(lambda u=user, r=request: in_process[u].start(r))
            there = refusal(lambda u=user, r=request: remote[u].start(r))
            assert here == there, (user, request)
        for user in ("ann", "bob"):
            assert refusal(lambda u=user: in_process[u].stop("nope")) == refusal(
                lambda u=user: remote[u].stop("nope")
            )

        produce(broker.bootstrap, topic, ({"id": i} for i in range(500)))
        started = ann.streams.start(through)
        try:
            assert started.status == "running" and started.owner == "ann"
            assert started.supervised and started.spec["connector"] == "events"
            wait_for(lambda: _count(ws, "main.ann_rest") == 500, message="500 rows via REST")
            assert [s.name for s in ann.streams.status()] == ["main.ann_rest"]
            assert bob.streams.status() == []
            with pytest.raises(UnknownStream):
                bob.streams.status("ann_rest")
            with pytest.raises(UnknownStream):
                bob.streams.stop("ann_rest")
            # a key that may only query cannot start a stream (standing authority)
            query_only = ws.apikeys.create("ann", "q", scopes=["query"])[1]
            response = httpx.post(
                f"{svc.url}/dap/api/v1/streams",
                json=through.to_dict(),
                headers={"Authorization": f"Bearer {query_only}"},
            )
            assert response.status_code == 403 and "Traceback" not in response.text
            unknown = httpx.post(
                f"{svc.url}/dap/api/v1/streams",
                json={**through.to_dict(), "sasl_password": "x"},
                headers={"Authorization": f"Bearer {keys['ann']}"},
            )
            assert unknown.status_code == 400 and "Traceback" not in unknown.text
            for hostile in (
                {"table": "../../etc/passwd"},
                {"table": 'x"; DROP TABLE t; --'},
                {"topic": "a b"},
                {"batch_rows": 0},
                {"format": "avro"},
                {"start": "yesterday"},
                {"kafka": {"group.id": "someone-elses"}},
            ):
                answer = httpx.post(
                    f"{svc.url}/dap/api/v1/streams",
                    json={**through.to_dict(), "table": "ann_hostile", **hostile},
                    headers={"Authorization": f"Bearer {keys['ann']}"},
                )
                assert answer.status_code in (400, 403), (hostile, answer.text)
                assert "Traceback" not in answer.text and answer.json()["error"]
            assert [s.name for s in ann.streams.status()] == ["main.ann_rest"]  # none started
        finally:
            stopped = ann.streams.stop("ann_rest")
        assert stopped.status == "stopped" and stopped.rows == 500
    ws.close()


def _count(ws: Workspace, table: str) -> int:
    try:
        return table_frame(ws, table).height
    except Exception:  # not created yet
        return 0
