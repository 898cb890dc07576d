"""One rule, every door: the same sequence of schedule calls through ``LocalClient.schedules``
(in process) and ``HttpSchedules`` (over REST, against the extension in a Jupyter Server)
gives the same answers — the same fields and the same errors, word for word.

The server here runs no scheduler, so nothing a door queues starts while it is compared.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from dap_kernel.errors import DapError
from dap_kernel.governance.identity import Principal
from dap_kernel.local import LocalClient
from dap_kernel.scheduler.model import Run, Schedule, ScheduleClient, ScheduleSpec
from dap_kernel.session import Workspace
from dap_kernel.transport import HttpSession
from tests.server.conftest import Api
from tests.server.schedule_fixtures import report_notebook

NOTEBOOK = report_notebook()  # one notebook for both doors (cell ids are random)


def _spec(name: str) -> ScheduleSpec:
    return ScheduleSpec(
        name=name,
        notebook=NOTEBOOK,
        formats=("ipynb", "html"),
        parameters={"region": "EMEA"},
        retries=0,
    )


Answer = tuple[str, Any]


def _answer(call: Callable[[], Any]) -> Answer:
    """What a door answered, without what differs by nature (ids, names, times)."""
    try:
        value = call()
    except DapError as e:
        return ("error", f"{type(e).__name__} {e.code} {_plain(e.message)}")
    if isinstance(value, Schedule):
        data = value.to_dict()
        for key in ("id", "name", "created_at", "updated_at"):
            data.pop(key)
        return ("schedule", data)
    if isinstance(value, Run):
        data = value.to_dict()
        for key in ("id", "schedule_id", "occurrence", "due_at"):
            data.pop(key)
        data["outputs"] = sorted(data["outputs"])
        return ("run", data)
    if isinstance(value, list):
        return ("list", [_answer(lambda v=v: v)[0] for v in value])
    return ("value", value)


_IDS: dict[str, str] = {}


def _plain(message: str) -> str:
    for real, placeholder in _IDS.items():
        message = message.replace(real, placeholder)
    return message


def _sequence(door: ScheduleClient, other: ScheduleClient, tag: str) -> list[Answer]:
    """The same calls, in the same order, through one door (``other``: bob's)."""
    spec = _spec(f"diff-{tag}")
    answers: list[Answer] = []
    first: Schedule | None = None

    def add() -> Schedule:
        nonlocal first
        first = door.add(replace(spec, cron="0 6 1 1 *", timezone="Europe/Berlin"))
        _IDS[first.id] = "<schedule>"
        _IDS[first.name] = "<name>"
        return first

    answers.append(_answer(add))
    assert first is not None
    sid = first.id
    answers += [
        _answer(lambda: door.add(spec)),  # the same name again
        _answer(lambda: door.add(replace(spec, name="x-" + tag, cron="61 * * * *"))),
        _answer(lambda: door.add(replace(spec, name="y-" + tag, timezone="Mars/Olympus"))),
        _answer(lambda: door.add(replace(spec, name="z-" + tag, formats=("docx",)))),
        _answer(lambda: door.add(replace(spec, name="w-" + tag, after=("s00000",)))),
        _answer(lambda: door.add(replace(spec, name="v-" + tag, parameters={"limit": "x"}))),
        _answer(lambda: door.get(sid)),
        _answer(lambda: door.get(spec.name)),
        _answer(lambda: door.update(sid, cron="30 7 * * 1-5", recipients=())),
        _answer(lambda: door.update(sid, name="renamed")),
        _answer(lambda: door.update(sid, retention=0)),
        _answer(lambda: door.pause(sid)),
        _answer(lambda: door.resume(sid)),
        _answer(lambda: other.get(sid)),
        _answer(lambda: other.update(sid, cron="* * * * *")),
        _answer(lambda: other.run_now(sid)),
        _answer(lambda: other.remove(sid)),
        _answer(lambda: door.run_now(sid, {"nope": 1})),
        _answer(lambda: door.history(sid)),
    ]
    door.pause(sid)
    run = door.run_now(sid, {"limit": "3"})  # typed as the notebook says: 3
    _IDS[run.id] = "<run>"
    answers += [
        ("run", _answer(lambda: run)[1]),
        _answer(lambda: door.run(run.id)),
        _answer(lambda: other.run(run.id)),
        _answer(lambda: door.rerun(run.id, as_recorded=True)),  # it has not succeeded
        _answer(lambda: door.output_bytes(run.id, "ipynb")),
        _answer(lambda: other.log(run.id)),
        _answer(lambda: [s.name for s in door.list()].count(spec.name)),
        _answer(lambda: door.remove(sid)),
        _answer(lambda: door.get(sid)),
        _answer(lambda: door.run(run.id)),
    ]
    return answers


async def test_local_and_http_schedules_answer_alike(
    api: Api, governed: Workspace, keys: dict[str, str], jp_http_port: int, jp_base_url: str
) -> None:
    assert (await api("GET", "health")).status == 200  # the server listens
    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}".rstrip("/")
    in_process = LocalClient(governed.session(Principal("ann", source="test"))).schedules
    bob_local = LocalClient(governed.session(Principal("bob", source="test"))).schedules

    def over_rest() -> list[Answer]:
        with (
            HttpSession(url, api_key=keys["ann"]) as ann,
            HttpSession(url, api_key=keys["bob"]) as bob,
        ):
            return _sequence(ann.schedules, bob.schedules, "http")

    over_http = await asyncio.to_thread(over_rest)  # the server answers on this event loop
    local_answers = _sequence(in_process, bob_local, "local")
    assert len(local_answers) == len(over_http)
    for number, (mine, theirs) in enumerate(zip(local_answers, over_http, strict=True)):
        assert mine == theirs, number
    kinds = [kind for kind, _ in local_answers]
    assert kinds.count("error") >= 12 and "schedule" in kinds and "run" in kinds
