"""One Tornado handler class per path of the route table, all doing the same thing: find out
who calls, validate the input with the endpoint's models, run it off the event loop, and write
JSON — or one JSON error line, never a stack trace."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
import os
import time
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import unquote

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import APIHandler
from jupyter_server.log import log_request
from pydantic import BaseModel, ValidationError
from tornado import web

from dap_kernel.errors import DapError, InternalError, InvalidRequest, Unauthenticated
from dap_kernel.governance.apikeys import ApiKeyError, InsufficientScope
from dap_kernel.governance.audit import AuditEvent
from dap_kernel.governance.identity import Principal
from dap_kernel.governance.secret_refs import loggable
from dap_kernel.ratelimit import caller_key

from .api import METRICS_SOURCE, Call, Endpoint, RawBody, Reply, Router, url_pattern
from .auth import api_key_from, principal_from_jupyter
from .headers import secure

if TYPE_CHECKING:
    from .state import DapState

access_log = logging.getLogger("dap_server.access")
# Which worker of `dap serve --workers N` answered (its slot, 0…N-1): for operators and tests.
WORKER = os.environ.get("DAP_WORKER", "")


def request_log(handler: web.RequestHandler) -> None:
    """Jupyter's request log line, except for DAP's routes when DAP writes its own
    (``json_access_log``, on in ``dap serve``): :meth:`DapHandler.on_finish` has written their
    line and counted them in DAP's metrics already, and Jupyter's second line and histogram on
    top were ~6 % of a cached query's server CPU."""
    if isinstance(handler, DapHandler) and handler.settings.get("dap_access_log"):
        return
    log_request(handler)  # type: ignore[no-untyped-call]


class DapHandler(APIHandler):
    """Base of every DAP route."""

    endpoints: ClassVar[dict[str, Endpoint]] = {}
    route = ""

    @property
    def dap(self) -> DapState:
        state: DapState = self.settings["dap_state"]
        return state

    def set_default_headers(self) -> None:
        super().set_default_headers()
        secure(self)
        if WORKER:
            self.set_header("X-DAP-Worker", WORKER)

    # -- identity ---------------------------------------------------------------------------

    async def prepare(self) -> None:  # type: ignore[override]
        self._t0 = time.perf_counter()
        self._api_key = api_key_from(self.request.headers)
        self._principal: Principal | None = None
        self._code = ""
        self._counted = False
        await super().prepare()

    def check_xsrf_cookie(self) -> None:
        """Tornado and Jupyter call this before anyone knows who calls; DAP checks XSRF once the
        caller is identified (:meth:`_check_xsrf_for_cookie_auth`), so no identity is a 401."""
        return None

    def _check_xsrf_for_cookie_auth(self) -> None:
        """Cookies are sent by other sites' pages too; a header (key, token) is not.

        What counts is how the caller *was* identified, not which headers came along: a page
        of another site can add an unrelated ``Authorization`` header (``Basic …``) to a request
        that the browser sends with the user's cookie. Jupyter and the hub mark the requests
        they identified by a token (``_token_authenticated``); every other one here came in by
        cookie and needs the XSRF token.
        """
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return
        if self._api_key or getattr(self, "_token_authenticated", False):
            return
        super().check_xsrf_cookie()  # Jupyter's check (or the hub's, when HubOAuth patched it)

    async def _identify(self, endpoint: Endpoint) -> Principal:
        state = self.dap
        if endpoint.metrics_token and self._holds_metrics_token():
            return Principal(name="metrics", kind="service", source=METRICS_SOURCE)
        if self._api_key:
            key = self._api_key
            try:
                principal: Principal = await self._in_pool(
                    "light", lambda: state.workspace().apikeys.authenticate(key, endpoint.scope)
                )
                return principal
            except InsufficientScope:
                raise
            except ApiKeyError as e:
                raise Unauthenticated(e.message) from e
        if state.hub is not None:
            from_hub = await state.hub.principal(self)
            if from_hub is not None and from_hub.kind == "service" and not endpoint.hub_services:
                raise Unauthenticated(
                    f"the hub service {from_hub.name} has no DAP identity: it may only post "
                    "hub events"
                )
            if from_hub is not None:
                self._check_xsrf_for_cookie_auth()
                self._audit_hub_credential(from_hub)
                return from_hub
        elif self.current_user is not None:
            self._check_xsrf_for_cookie_auth()
            return principal_from_jupyter(self.current_user, state.identity_mode, state.owner)
        raise Unauthenticated(
            "authentication required: send 'Authorization: Bearer <DAP API key>'"
            + (" or a JupyterHub token" if state.hub is not None else " or a Jupyter token")
        )

    def _audit_hub_credential(self, principal: Principal) -> None:
        """A hub token's or cookie's first use (then hourly), in the audit log."""
        state = self.dap
        assert state.hub is not None
        how = state.hub.first_use(self)
        if how and principal.kind == "user":
            state.workspace().audit.record(
                AuditEvent(
                    principal=principal.name,
                    action="token-use",
                    decision="allowed",
                    statement=f"hub {how} used: {self.request.method} {self.request.path}",
                    channel="hub",
                )
            )

    def _holds_metrics_token(self) -> bool:
        expected = self.dap.settings.metrics_token
        scheme, _, given = self.request.headers.get("Authorization", "").strip().partition(" ")
        if not expected or scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode(), expected.encode())

    # -- dispatch ---------------------------------------------------------------------------

    async def _in_pool(self, pool: str, fn: Any) -> Any:
        """Metadata work on the light pool; engine work on the fair query pool, which admits
        each caller by the rules of :mod:`dap_kernel.admission` (or refuses with 429)."""
        runtime = self.dap.runtime
        if pool == "loop":
            return fn()
        if pool == "query":
            assert self._principal is not None  # engine work is never anonymous
            return await asyncio.wrap_future(runtime.query_pool.submit(self._principal.name, fn))
        return await asyncio.get_running_loop().run_in_executor(runtime.light_pool, fn)

    async def _dispatch(self, **path_args: str) -> None:
        endpoint = self.endpoints[self.request.method or "GET"]
        try:
            if endpoint.public:  # health: never limited, never waited for at shutdown
                principal = Principal(name="anonymous", source="none")
            else:
                principal = await self._identify(endpoint)
                self._principal = principal  # a refused request is logged under its caller too
                self._count_in()
                await self._take_rate_token(principal)
            self._principal = principal
            kwargs: dict[str, Any] = {k: unquote(v) for k, v in path_args.items()}
            if endpoint.query is not None:
                kwargs["query"] = self._parse(endpoint.query, self._query_args())
            if endpoint.body is not None:
                kwargs["body"] = self._parse(endpoint.body, self._json_body())
            result = await self._in_pool(endpoint.pool, lambda: self._run(endpoint, kwargs))
        except DapError as e:
            self._error(e)
            return
        except web.HTTPError:
            raise  # XSRF and the like: Tornado calls write_error, which answers in JSON
        except Exception as e:  # logged without values a driver might quote (a URL's password)
            self.log.error(
                "DAP endpoint %s %s failed: %s", endpoint.method, endpoint.path, loggable(e)
            )
            self._error(InternalError("internal server error: the details are in the server log"))
            return
        self._write_result(endpoint, result)

    async def _take_rate_token(self, principal: Principal) -> None:
        """One token of the caller's rate: from this worker's lease on the loop, or, when the
        lease is spent, from the shared bucket on the light pool (a database transaction)."""
        limiter = self.dap.runtime.limiter
        key, rate = caller_key(principal.name, principal.key_id), principal.rate_limit_per_min
        if not limiter.take(key, rate, local_only=True):
            await self._in_pool("light", lambda: limiter.take(key, rate))

    def _count_in(self) -> None:
        """A stopping server waits for the requests it is serving (Runtime.drain)."""
        self._counted = True
        self.dap.runtime.inflight += 1

    def _run(self, endpoint: Endpoint, kwargs: dict[str, Any]) -> Any:
        principal = self._principal
        assert principal is not None
        call = Call(
            open_workspace=self.dap.workspace,
            runtime=self.dap.runtime,
            principal=principal,
            accept=self.request.headers.get("Accept", "application/json"),
            channel=_channel(self.request.headers.get("X-DAP-Channel", "")),
            base_url=self.base_url,
        )
        return endpoint.func(call, **kwargs)

    def _query_args(self) -> dict[str, Any]:
        return {k: self.get_query_argument(k) for k in self.request.query_arguments}

    def _json_body(self) -> Any:
        if not self.request.body:
            return {}
        try:
            return json.loads(self.request.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InvalidRequest(f"the request body is not valid JSON: {e}") from e
        except RecursionError as e:  # thousands of nested [ or {: no request needs that
            raise InvalidRequest("the request body nests too deeply") from e

    @staticmethod
    def _parse(model: type[BaseModel], data: Any) -> BaseModel:
        try:
            return model.model_validate(data)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "body"
            more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
            raise InvalidRequest(f"{where}: {first['msg']}{more}") from e

    # -- output -----------------------------------------------------------------------------

    def _write_result(self, endpoint: Endpoint, result: Any) -> None:
        self.set_status(endpoint.status)
        if isinstance(result, Reply):
            self.set_status(result.status)
            result = result.body
        if result is None:  # 204: nothing to say
            self.finish()
            return
        if isinstance(result, RawBody):
            for name, value in result.headers.items():
                self.set_header(name, value)
            self.finish(result.content, set_content_type=result.content_type)
            return
        self.set_header("Content-Type", "application/json")
        assert isinstance(result, BaseModel)
        self.finish(result.model_dump_json(by_alias=True))

    def _error(self, error: DapError) -> None:
        self._code = error.code
        self.dap.runtime.metrics.errors.labels(error.code).inc()
        self.clear_header("Content-Type")
        self.set_status(error.http_status)
        self.set_header("Content-Type", "application/json")
        if error.http_status == 401:
            self.set_header("WWW-Authenticate", 'Bearer realm="dap"')
        if error.retry_after_s is not None:
            self.set_header("Retry-After", str(max(1, math.ceil(error.retry_after_s))))
        self.finish(json.dumps({"error": error.code, "message": error.message}))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Errors raised outside an endpoint (host check, XSRF, unknown method)."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, DapError):
            self._error(exc)
            return
        message = (exc.log_message if isinstance(exc, web.HTTPError) else None) or self._reason
        if status_code == 405:
            self.set_header("Allow", ", ".join(sorted(self.endpoints)))
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": f"http_{status_code}", "message": message}))

    def _count_out(self) -> None:
        if getattr(self, "_counted", False):
            self._counted = False
            self.dap.runtime.inflight -= 1

    def on_connection_close(self) -> None:
        """The caller left: nobody waits for this answer any more (nor does a shutdown)."""
        self._count_out()
        super().on_connection_close()

    def on_finish(self) -> None:
        self._count_out()
        elapsed = time.perf_counter() - getattr(self, "_t0", time.perf_counter())
        status = self.get_status()
        method = self.request.method or ""
        metrics = self.dap.runtime.metrics
        metrics.requests.labels(self.route, method, str(status)).inc()
        metrics.latency.labels(self.route, method).observe(elapsed)
        principal = getattr(self, "_principal", None)
        access_log.info(
            json.dumps(
                {
                    "event": "request",
                    "method": method,
                    "route": self.route,
                    "status": status,
                    "ms": round(elapsed * 1000, 2),
                    "user": principal.name if principal else None,
                    "auth": principal.source if principal else None,
                    "error": getattr(self, "_code", "") or None,
                }
            )
        )


# Front doors a client may name (X-DAP-Channel); anything else is just "rest".
CHANNELS = frozenset({"python", "magic", "cli", "dashboard", "report", "lab"})


def _channel(named: str) -> str:
    """``rest:magic`` in the audit log: over REST, from the %dap magics."""
    return f"rest:{named}" if named in CHANNELS else "rest"


def make_handlers(router: Router) -> list[tuple[str, type[DapHandler]]]:
    """One handler class per path, answering exactly the methods declared for it."""
    handlers: list[tuple[str, type[DapHandler]]] = []
    # Fixed paths first: `query/build` must not be taken for `query/{query_id}`.
    for path, endpoints in sorted(router.by_path(), key=lambda item: item[0].count("{")):
        methods = {e.method: e for e in endpoints}
        namespace: dict[str, Any] = {"endpoints": methods, "route": path}
        for method in methods:
            namespace[method.lower()] = allow_unauthenticated(_bound_dispatch())
        name = "Dap" + "".join(p.title() for p in path.replace("{", "").replace("}", "").split("/"))
        handler = type(f"{name}Handler", (DapHandler,), namespace)
        handlers.append((url_pattern(path), handler))
    return handlers


def _bound_dispatch() -> Any:
    async def method(self: DapHandler, **path_args: str) -> None:
        await self._dispatch(**path_args)

    return method
