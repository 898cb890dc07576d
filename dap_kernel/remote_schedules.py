"""Schedules over REST: the :class:`~dap_kernel.scheduler.model.ScheduleClient` of a kernel
whose DAP is a service (``DAP_SERVICE_URL``).

Every answer comes from the service's :class:`~dap_kernel.scheduler.api.Schedules`, the same
object the in-process client hands out, so the rules (whose schedules, who may run them, what
a spec may hold) and their errors are the same through either door; this class only turns
records into JSON and back (:meth:`Schedule.from_dict`, :meth:`Run.from_dict`).
"""

from __future__ import annotations

import builtins
from dataclasses import asdict
from typing import Any
from urllib.parse import quote

from .rest_calls import RestCalls
from .scheduler.model import Run, Schedule, ScheduleSpec

RUNS = "schedule-runs"  # pipeline runs have `runs/…`


def _q(value: str) -> str:
    return quote(value, safe="")


class HttpSchedules:
    """Schedules and runs of the caller, on the DAP service (REST ``schedules``,
    ``schedule-runs``)."""

    def __init__(self, session: RestCalls) -> None:
        self._session = session

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return self._session._json(method, path, **kwargs) or {}

    # -- schedules ---------------------------------------------------------------------------

    def add(self, spec: ScheduleSpec) -> Schedule:
        body = asdict(spec)
        for key in ("formats", "recipients", "webhooks", "after", "after_pipelines"):
            body[key] = list(body[key])
        return Schedule.from_dict(self._call("POST", "schedules", json=body))

    def list(self, *, everyone: bool = False) -> builtins.list[Schedule]:
        params = {"all": "true"} if everyone else None
        data = self._call("GET", "schedules", params=params)
        return [Schedule.from_dict(s) for s in data.get("schedules", [])]

    def get(self, ref: str) -> Schedule:
        return Schedule.from_dict(self._call("GET", f"schedules/{_q(ref)}"))

    def notebook(self, ref: str) -> dict[str, Any]:
        return self._call("GET", f"schedules/{_q(ref)}/notebook")

    def update(self, ref: str, /, **changes: Any) -> Schedule:
        body = {k: list(v) if isinstance(v, tuple) else v for k, v in changes.items()}
        return Schedule.from_dict(self._call("PATCH", f"schedules/{_q(ref)}", json=body))

    def pause(self, ref: str) -> Schedule:
        return Schedule.from_dict(self._call("POST", f"schedules/{_q(ref)}/pause"))

    def resume(self, ref: str) -> Schedule:
        return Schedule.from_dict(self._call("POST", f"schedules/{_q(ref)}/resume"))

    def remove(self, ref: str) -> None:
        self._session._content(f"schedules/{_q(ref)}", method="DELETE")  # 204: no body

    # -- runs --------------------------------------------------------------------------------

    def history(self, ref: str, *, limit: int = 50) -> builtins.list[Run]:
        data = self._call("GET", f"schedules/{_q(ref)}/runs", params={"limit": limit})
        return [Run.from_dict(r) for r in data.get("runs", [])]

    def run(self, run_id: str) -> Run:
        return Run.from_dict(self._call("GET", f"{RUNS}/{_q(run_id)}"))

    def run_now(self, ref: str, parameters: dict[str, Any] | None = None) -> Run:
        body = {"parameters": dict(parameters or {})}
        return Run.from_dict(self._call("POST", f"schedules/{_q(ref)}/run", json=body))

    def rerun(self, run_id: str, *, as_recorded: bool = False) -> Run:
        body = {"as_recorded": as_recorded}
        return Run.from_dict(self._call("POST", f"{RUNS}/{_q(run_id)}/rerun", json=body))

    def wait(self, run_id: str, *, timeout_s: float | None = None) -> Run:
        """Poll the run until it is final; the service's scheduler executes it.
        :class:`~dap_kernel.scheduler.loop.RunStillGoing` after ``timeout_s``."""
        from .scheduler.loop import wait_final

        return wait_final(lambda: self.run(run_id), timeout_s=timeout_s)

    def output_bytes(self, run_id: str, fmt: str) -> bytes:
        return self._session._content(f"{RUNS}/{_q(run_id)}/outputs/{_q(fmt)}")

    def log(self, run_id: str) -> str:
        return self._session._content(f"{RUNS}/{_q(run_id)}/log").decode(errors="replace")
