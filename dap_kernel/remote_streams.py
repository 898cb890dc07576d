"""Streams over REST: the :class:`~dap_kernel.streams.access.StreamClient` of a kernel whose DAP
is a service (``DAP_SERVICE_URL``).

Every answer comes from the service's :class:`~dap_kernel.streams.access.GovernedStreams`, the
object the in-process client hands out, so who may start, see and stop a stream, and the
errors, are the same through either door; the service runs and watches the streams.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from .rest_calls import RestCalls
from .streams.request import StreamRequest
from .streams.state import StreamState


def state_of(data: Mapping[str, Any]) -> StreamState:
    """A state as REST sends it (with ``total_lag``, which the state computes itself)."""
    known = {f.name for f in dataclasses.fields(StreamState)}
    return StreamState(**{k: v for k, v in data.items() if k in known})


class HttpStreams:
    """The caller's view of the service's streams (REST ``streams``)."""

    def __init__(self, session: RestCalls) -> None:
        self._session = session

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return self._session._json(method, path, **kwargs) or {}

    def start(self, request: StreamRequest) -> StreamState:
        return state_of(self._call("POST", "streams", json=request.to_dict()))

    def status(self, name: str | None = None) -> list[StreamState]:
        if name is not None:
            return [state_of(self._call("GET", f"streams/{quote(name, safe='')}"))]
        return [state_of(s) for s in self._call("GET", "streams").get("streams", [])]

    def stop(self, name: str) -> StreamState:
        return state_of(self._call("POST", f"streams/{quote(name, safe='')}/stop"))
