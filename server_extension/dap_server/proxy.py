"""Every door through the service: a user's Jupyter server that holds no data of its own.

Under JupyterHub (or wherever ``DAP_SERVICE_URL`` is set) the lake, the metadata and the
secrets belong to the DAP service; a user's server must not open a workspace of its own — it
could not read one that belongs to another system user, and it must not hold a copy. Its
``/dap/api/v1/…`` routes (what the Lab extension calls) are forwarded to the service with the
server's own credential: the hub token the spawner gave it (``JUPYTERHUB_API_TOKEN``, whose
scopes name the DAP service) or ``DAP_API_KEY``. That credential is its owner's, so only the
owner may use it: anyone else the hub lets in (a shared server) is refused rather than served
as the owner. The service then governs the request as for any other caller.
"""

from __future__ import annotations

import functools
import os
from typing import Any
from urllib.parse import urlsplit

from jupyter_server.base.handlers import APIHandler
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from .headers import secure

FORWARDED_REQUEST_HEADERS = ("Accept", "Content-Type")
FORWARDED_REPLY_HEADERS = ("Content-Type", "Content-Disposition", "Cache-Control", "Retry-After")
MAX_BODY = 2**30  # what one reply may carry (an Arrow download); the service caps rows itself


def service_credential() -> dict[str, str]:
    """The server's own credential for the service (a DAP key wins: set on purpose)."""
    key = os.environ.get("DAP_API_KEY", "").strip()
    if key:
        return {"Authorization": f"Bearer {key}"}
    token = os.environ.get("JUPYTERHUB_API_TOKEN", "").strip()
    return {"Authorization": f"token {token}"} if token else {}


@functools.cache
def _client() -> AsyncHTTPClient:
    """One client per server process, allowed replies up to :data:`MAX_BODY`."""
    return AsyncHTTPClient(force_instance=True, max_body_size=MAX_BODY)


class ServiceProxyHandler(APIHandler):
    """Forwards ``/dap/api/v1/<path>`` to ``service_url`` for the server's owner only."""

    def initialize(self, service_url: str) -> None:
        self.service_url = service_url.rstrip("/")

    def set_default_headers(self) -> None:
        super().set_default_headers()
        secure(self)

    def _owner_only(self) -> None:
        owner = os.environ.get("JUPYTERHUB_USER", "")
        name = getattr(self.current_user, "username", "")
        if owner and name != owner:
            raise web.HTTPError(
                403, f"{name} may not use {owner}'s DAP credential: open your own server"
            )

    async def _forward(self, path: str) -> None:
        self._owner_only()
        credential = service_credential()
        if not credential:
            raise web.HTTPError(503, "this server has no credential for the DAP service")
        query = urlsplit(self.request.uri or "").query
        url = f"{self.service_url}/dap/api/v1/{path}" + (f"?{query}" if query else "")
        given = self.request.headers
        headers = {h: given[h] for h in FORWARDED_REQUEST_HEADERS if h in given}
        method = self.request.method or "GET"
        request = HTTPRequest(
            url,
            method=method,
            headers={**headers, **credential},
            body=self.request.body if method in ("POST", "PATCH", "PUT") else None,
            allow_nonstandard_methods=True,
            follow_redirects=False,
            request_timeout=3600,
        )
        try:
            reply = await _client().fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as e:
            raise web.HTTPError(502, f"the DAP service did not answer: {type(e).__name__}") from e
        self.set_status(reply.code if reply.code >= 100 else 502)
        for header in FORWARDED_REPLY_HEADERS:
            if header in reply.headers:
                self.set_header(header, reply.headers[header])
        if reply.body:
            self.write(reply.body)
        await self.finish()

    @web.authenticated
    async def get(self, path: str) -> None:
        await self._forward(path)

    @web.authenticated
    async def post(self, path: str) -> None:
        await self._forward(path)

    @web.authenticated
    async def patch(self, path: str) -> None:
        await self._forward(path)

    @web.authenticated
    async def delete(self, path: str) -> None:
        await self._forward(path)


def proxy_handlers(service_url: str) -> list[tuple[str, type[APIHandler], dict[str, Any]]]:
    return [(r"/dap/api/v1/(.*)", ServiceProxyHandler, {"service_url": service_url})]
