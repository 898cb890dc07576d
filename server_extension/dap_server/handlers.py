"""Thin REST handlers: parse, call the governed core, write JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from jupyter_server.base.handlers import APIHandler
from tornado import web

from dap_kernel.errors import DapError
from dap_kernel.governance.identity import Principal

if TYPE_CHECKING:
    from dap_kernel.session import Session, Workspace


class DapHandler(APIHandler):
    """Base: the caller's DAP session, and errors as ``{"error", "message"}`` JSON."""

    @property
    def workspace(self) -> Workspace:
        factory = self.settings["dap_workspace_factory"]
        workspace: Workspace = factory()
        return workspace

    def dap_session(self) -> Session:
        user = self.current_user
        name = getattr(user, "username", None) or str(user)
        return self.workspace.session(Principal(name=name, source="jupyter"), channel="rest")

    def write_dap_error(self, error: DapError) -> None:
        self.set_status(error.http_status)
        self.finish(json.dumps({"error": error.code, "message": error.message}))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, DapError):
            self.set_status(exc.http_status)
            self.finish(json.dumps({"error": exc.code, "message": exc.message}))
            return
        message = self._reason if isinstance(exc, web.HTTPError) else "internal server error"
        self.finish(json.dumps({"error": f"http_{status_code}", "message": message}))


class CatalogHandler(DapHandler):
    @web.authenticated
    def get(self) -> None:
        try:
            tables = self.dap_session().visible_tables()
        except DapError as e:
            self.write_dap_error(e)
            return
        payload = []
        for t in tables:
            item = t.to_dict()
            item.pop("columns")
            payload.append(item)
        self.finish(json.dumps({"tables": payload}, default=str))


ROUTES: list[tuple[str, type[APIHandler]]] = [
    ("catalog", CatalogHandler),
]
