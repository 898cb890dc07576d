"""The route table: one declaration per endpoint, from which both the Tornado handlers and the
OpenAPI document are made, so the two can never drift apart.

An endpoint is a plain function ``(call, **path_params, body=..., query=...) -> model``. It
never sees Tornado: :mod:`dap_server.handlers` authenticates the caller, validates the input
with the declared pydantic models, runs the function off the event loop and writes the result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from dap_kernel.governance.identity import Principal
    from dap_kernel.session import Session, Workspace

    from .runtime import Runtime

PREFIX = "/dap/api/v1"
METRICS_SOURCE = "metrics-token"  # Principal.source of a caller holding DAP_METRICS_TOKEN
Func = Callable[..., Any]


@dataclass
class Call:
    """What an endpoint function gets to know about the request it serves."""

    open_workspace: Callable[[], Workspace]
    runtime: Runtime
    principal: Principal
    accept: str = "application/json"
    base_url: str = ""

    @cached_property
    def workspace(self) -> Workspace:
        return self.open_workspace()

    channel: str = "rest"

    @cached_property
    def session(self) -> Session:
        return self.workspace.session(self.principal, channel=self.channel)

    @property
    def wants_arrow(self) -> bool:
        return ARROW_STREAM in self.accept


@dataclass(frozen=True)
class Reply:
    """A model answered with a status other than the endpoint's usual one."""

    body: BaseModel
    status: int


ARROW_STREAM = "application/vnd.apache.arrow.stream"


@dataclass(frozen=True)
class RawBody:
    """A response that is not JSON (an Arrow stream, Prometheus text)."""

    content: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # relative to PREFIX, e.g. "catalog/{table}"
    func: Func
    summary: str
    response: type[BaseModel]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    status: int = 200
    tag: str = "dap"
    public: bool = False  # answers without an identity (health only)
    metrics_token: bool = False  # also answers the service's metrics token (DAP_METRICS_TOKEN)
    # Also identifies hub *services* (not only hub users): the hub's activity channel. Every
    # other endpoint refuses a hub service's token, as it has no DAP identity of its own.
    hub_services: bool = False
    pool: str = "light"  # "light" (metadata reads) or "query" (engine work); "loop" = inline
    scope: str = "read-catalog"  # the API-key scope it needs
    errors: tuple[int, ...] = ()
    alt_content: tuple[str, ...] = ()  # other response media types offered via Accept

    @property
    def operation_id(self) -> str:
        return self.func.__name__

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)


class Router:
    """Collects endpoints declared with :meth:`route` (the decorators below)."""

    def __init__(self) -> None:
        self.endpoints: list[Endpoint] = []

    def route(self, method: str, path: str, **options: Any) -> Callable[[Func], Func]:
        def register(func: Func) -> Func:
            summary = options.pop("summary", None) or (func.__doc__ or "").strip().split("\n")[0]
            self.endpoints.append(
                Endpoint(method=method, path=path, func=func, summary=summary, **options)
            )
            return func

        return register

    def get(self, path: str, **options: Any) -> Callable[[Func], Func]:
        return self.route("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[Func], Func]:
        return self.route("POST", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[Func], Func]:
        return self.route("DELETE", path, **options)

    def patch(self, path: str, **options: Any) -> Callable[[Func], Func]:
        return self.route("PATCH", path, **options)

    def by_path(self) -> Iterator[tuple[str, list[Endpoint]]]:
        """Endpoints grouped by path, in declaration order (one Tornado handler per path)."""
        paths: dict[str, list[Endpoint]] = {}
        for endpoint in self.endpoints:
            paths.setdefault(endpoint.path, []).append(endpoint)
        yield from paths.items()


def full_path(path: str) -> str:
    """Paths are relative to :data:`PREFIX` unless absolute (``/dap/metrics``)."""
    return path if path.startswith("/") else f"{PREFIX}/{path}"


def url_pattern(path: str) -> str:
    """``catalog/{table}`` → a Tornado pattern with named groups (no slash inside a segment)."""
    return re.sub(r"{(\w+)}", r"(?P<\1>[^/]+)", full_path(path)) + "/?"


router = Router()
