"""The host's pages: the viewer's gallery and one dashboard rendered by Voilà as its viewer.

Neither holds data nor decides who may see what. Both ask the DAP service with the viewer's
own hub token — the gallery for the dashboards the viewer may open, a page for the published
notebook (``dashboards/{name}/notebook``, where DAP checks the grant and audits the view) —
and the kernel that runs the notebook gets the same token, so every query in it is the
viewer's, under the viewer's grants, filters and masks.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
from pathlib import Path
from typing import Any

import httpx
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web
from voila.tornado.handler import TornadoVoilaHandler

from dap_kernel.dashboards.identity import VIEWER_HEADER as KEY_HEADER
from dap_kernel.dashboards.identity import VIEWER_TOKEN_HEADER
from dap_kernel.dashboards.store import NAME

from ..headers import secure
from .viewers import VIEWER_HEADER, ViewerKernelManager

API = "/dap/api/v1"
TIMEOUT_S = 30.0


class ViewerRefused(Exception):
    """The DAP service said no (or could not be asked): shown to the viewer as one line."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class DapService:
    """The DAP service, asked as the viewer (one connection pool for the host)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.AsyncClient(timeout=TIMEOUT_S)

    async def get(self, path: str, token: str) -> dict[str, Any]:
        try:
            reply = await self._client.get(
                f"{self.url}{API}/{path}", headers={"Authorization": f"token {token}"}
            )
        except httpx.HTTPError:
            raise ViewerRefused(503, "the DAP service does not answer; try again later") from None
        try:
            body = reply.json()
        except ValueError:
            body = None
        if reply.status_code >= 400 or not isinstance(body, dict):
            message = body.get("message") if isinstance(body, dict) else None
            if reply.status_code == 401:
                message = "DAP does not know you: sign in to the hub again"
            raise ViewerRefused(reply.status_code, str(message or f"HTTP {reply.status_code}"))
        return body


class ViewerHandler(JupyterHandler):
    """What both pages share: the signed-in viewer's hub token and the service."""

    def set_default_headers(self) -> None:
        super().set_default_headers()
        secure(self)

    @property
    def service(self) -> DapService:
        return self.settings["dap_dashboard_service"]  # type: ignore[no-any-return]

    def viewer_token(self) -> str:
        hub_auth = getattr(self.identity_provider, "hub_auth", None)  # JupyterHub's provider
        token = hub_auth.get_token(self) if hub_auth is not None else None
        if not token:
            raise web.HTTPError(403, "no hub token for this viewer")
        return str(token)

    def refuse(self, error: ViewerRefused) -> None:
        self.set_status(error.status)
        self.finish(page("Not available", f"<p class='dap-refused'>{html.escape(str(error))}</p>"))


class GalleryHandler(ViewerHandler):
    """``/dap/dashboards``: the dashboards this viewer may open."""

    @web.authenticated
    async def get(self) -> None:
        try:
            body = await self.service.get("dashboards", self.viewer_token())
        except ViewerRefused as e:
            return self.refuse(e)
        base = url_path_join(self.base_url, "dap/dashboards")
        items = "".join(
            f"<li><a href='{html.escape(url_path_join(base, d['name']))}'>"
            f"{html.escape(d['title'])}</a> <span>{html.escape(d['description'])}</span></li>"
            for d in body.get("dashboards", [])
        )
        self.finish(page("Dashboards", f"<ul class='dap-gallery'>{items}</ul>" if items else
                         "<p>No dashboard is shared with you yet.</p>"))  # fmt: skip


class DashboardPage(TornadoVoilaHandler, ViewerHandler):  # type: ignore[misc]
    """``/dap/dashboards/NAME``: the published notebook, run by Voilà in a kernel of the
    viewer's own (see :mod:`.viewers`)."""

    @web.authenticated
    async def get(self, name: str) -> None:
        if not NAME.match(name):
            raise web.HTTPError(404)
        token = self.viewer_token()
        try:
            notebook = await self.fetch(name, token)
        except ViewerRefused as e:
            return self.refuse(e)
        # Only the host says who is viewing: whatever the browser sent under these names goes.
        headers = self.request.headers
        for header in (VIEWER_HEADER, VIEWER_TOKEN_HEADER, KEY_HEADER):
            while header in headers:
                del headers[header]
        headers[VIEWER_HEADER] = self.current_user.username
        headers[VIEWER_TOKEN_HEADER] = token
        if not isinstance(self.kernel_manager, ViewerKernelManager):
            raise web.HTTPError(500, "the dashboard host is not configured")
        await super().get(path=notebook)  # type: ignore[misc]

    async def fetch(self, name: str, token: str) -> str:
        """The published notebook, asked for as the viewer, kept under its digest in the
        host's private folder (Voilà opens it from there)."""
        body = await self.service.get(f"dashboards/{name}/notebook", token)
        data = _json_bytes(body.get("notebook"))
        digest = hashlib.sha256(data).hexdigest()[:16]
        relative = f"{name}-{digest}.ipynb"
        target = Path(self.settings["server_root_dir"]) / relative
        if not target.is_file():
            tmp = target.with_name(f".{relative}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            tmp.replace(target)
        return relative


class ShutdownHandler(ViewerHandler):
    """Voilà's ``beforeunload`` shutdown, for one's own kernel only."""

    @web.authenticated
    async def post(self, kernel_id: str) -> None:
        manager = self.kernel_manager
        if not isinstance(manager, ViewerKernelManager):
            raise web.HTTPError(403)
        if manager.viewer_of(kernel_id) != self.current_user.username:
            raise web.HTTPError(403)
        await manager.shutdown_kernel(kernel_id)  # type: ignore[no-untyped-call]
        self.set_status(204)
        self.finish()


def _json_bytes(notebook: Any) -> bytes:
    if not isinstance(notebook, dict) or notebook.get("nbformat") != 4:
        raise ViewerRefused(502, "the DAP service sent something that is not a notebook")
    return json.dumps(notebook, ensure_ascii=False).encode()


def page(title: str, body: str) -> str:
    """A plain page for the gallery and for refusals (Voilà's template is for notebooks)."""
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:48rem}"
        "li{margin:.4rem 0}span{color:#666}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
