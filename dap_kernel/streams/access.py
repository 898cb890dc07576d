"""Who may start, see and stop which stream, in one place: every door calls these.

* **Start**: the rules of :func:`~.request.resolve` (a connector needs USE_CONNECTOR on it;
  brokers named directly need an administrator), then the table's own: CREATE on the schema
  for a new table, MODIFY on an existing one — checked here, before any process starts, and
  again by the stream at every batch.
* **See**: a stream is shown to those who may read its table (SELECT), or who started it; to
  anyone else it does not exist, with the same message as a stream that does not.
* **Stop**: MODIFY on the table, or having started it.

Nothing a caller gets back holds a credential: a stream's request holds none by construction,
and a state file written by another DAP version is shown with its Kafka settings hidden.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..errors import DapError, UnknownStream
from .request import StreamRequest, resolve, security_key
from .sink import StreamSink
from .spec import stream_name
from .state import StreamState, read_state, read_states
from .supervisor import Supervisor

if TYPE_CHECKING:
    from ..session import Session


class StreamClient(Protocol):
    """Streams as a client offers them, in process (:class:`GovernedStreams`) or over REST
    (:class:`~dap_kernel.remote_streams.HttpStreams`): the magics and ``dap.streams`` call
    these and never ask which one they hold."""

    def start(self, request: StreamRequest) -> StreamState: ...

    def status(self, name: str | None = None) -> list[StreamState]: ...

    def stop(self, name: str) -> StreamState: ...


class GovernedStreams:
    """The streams of one DAP home as one principal may use them."""

    def __init__(self, session: Session, supervisor: Supervisor) -> None:
        self.session = session
        self.supervisor = supervisor

    @property
    def _home(self) -> Path:
        return self.session.workspace.settings.home

    def start(self, request: StreamRequest) -> StreamState:
        """Start ``request`` as the caller, supervised; the state once it runs (or failed)."""
        spec = resolve(self.session, request.to_spec(), supervised=True)
        StreamSink(self.session, spec).check_access()
        state = self.supervisor.start(self.session.principal, request)
        if state.status == "failed":  # at once: a broker that refuses, a topic that is not there
            raise DapError(f"stream {state.name} failed to start: {shown(state).error}")
        return shown(state)

    def status(self, name: str | None = None) -> list[StreamState]:
        """The streams the caller may see (one, by name: an error when it may not)."""
        if name is not None:
            return [shown(self._visible(name))]
        return [shown(s) for s in read_states(self._home) if self._may_see(s)]

    def stop(self, name: str) -> StreamState:
        """Stop a stream (supervised or started with ``dap stream start``)."""
        state = self._visible(name)
        if state.owner != self.session.principal.name:
            self.session.require("MODIFY", state.name)
        return shown(self.supervisor.stop(state.name))

    def _visible(self, name: str) -> StreamState:
        qualified = stream_name(name)
        try:
            state = read_state(self._home, qualified)
        except DapError:
            state = None
        if state is None or not self._may_see(state):
            raise UnknownStream(f"no stream named {qualified} (see dap stream status)")
        return state

    def _may_see(self, state: StreamState) -> bool:
        if state.owner and state.owner == self.session.principal.name:
            return True
        return self.session.check("SELECT", state.name).allowed


def shown(state: StreamState) -> StreamState:
    """The state as a caller sees it: any Kafka setting about credentials hidden (a request
    holds none by construction; this is the second lock)."""
    request = dict(state.request)
    kafka = request.get("kafka")
    if isinstance(kafka, dict):
        request["kafka"] = {k: ("***" if security_key(k) else v) for k, v in kafka.items()}
    spec = {k: v for k, v in state.spec.items() if k != "kafka"}
    return dataclasses.replace(state, request=request, spec=spec)
