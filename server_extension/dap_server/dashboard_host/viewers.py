"""Each kernel of the dashboard host belongs to the viewer whose page started it.

The host runs every viewer's kernel as one system user, so what keeps viewers apart is here:

* a kernel starts only with a viewer the host signed in (the page handler sets who, and their
  hub token, as request headers it controls); anything else that asks for a kernel — the
  Jupyter REST API, a session — is refused;
* its environment is built from an allow-list, so the host's own hub token and anything else
  of the server's never reaches notebook code;
* only its viewer may open its websocket or read it (:class:`ViewerAuthorizer`), and over the
  websocket only widget traffic passes (``allowed_message_types``): a viewer cannot send code.
  Otherwise a viewer could execute code as the host's user and read the other kernels' tokens
  from ``/proc``;
* every other Jupyter API (contents, sessions, terminals, kernel lists) is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from jupyterhub.singleuser.extension import JupyterHubAuthorizer
from tornado import web
from traitlets import List, Unicode, default

from dap_kernel.dashboards.identity import VIEWER_TOKEN_ENV

VIEWER_HEADER = "X-DAP-Viewer"  # who opened the page: set by the host, never by the browser
VIEWER_ENV = "HTTP_X_DAP_VIEWER"
# Widgets need these; execute_request (code) and input replies are dropped by Jupyter Server.
ALLOWED_MESSAGES = (
    "comm_open",
    "comm_msg",
    "comm_close",
    "comm_info_request",
    "kernel_info_request",
)
# What a dashboard kernel may inherit: enough to run Python and reach the DAP service.
KERNEL_ENV = frozenset(
    {
        "PATH",
        "HOME",
        "LANG",
        "TZ",
        "TMPDIR",
        "VIRTUAL_ENV",
        "IPYTHONDIR",
        "DAP_SERVICE_URL",
        "SSL_CERT_FILE",  # a CA bundle that trusts the DAP service's certificate (no secret)
        "SSL_CERT_DIR",
        "SCRIPT_NAME",
        "PATH_INFO",
        "QUERY_STRING",
        "SERVER_SOFTWARE",
        "SERVER_PROTOCOL",
        "SERVER_PORT",
        "SERVER_NAME",
        VIEWER_TOKEN_ENV,
    }
)
KERNEL_ENV_PREFIXES = ("LC_", "VOILA_")


def kernel_env(env: Mapping[str, str]) -> dict[str, str]:
    """The kernel's environment: the allow-listed part of what Voilà composed."""
    return {k: v for k, v in env.items() if k in KERNEL_ENV or k.startswith(KERNEL_ENV_PREFIXES)}


class ViewerKernelManager(AsyncMappingKernelManager):
    """Kernels that exist only for a signed-in viewer, and remember whose they are."""

    allowed_message_types = List(trait=Unicode(), config=True)

    @default("allowed_message_types")
    def _default_allowed(self) -> list[str]:
        return list(ALLOWED_MESSAGES)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]
        self._viewers: dict[str, str] = {}

    async def start_kernel(  # type: ignore[override]  # async in Jupyter Server's manager
        self, *, kernel_name: str | None = None, **kwargs: Any
    ) -> str:
        env = dict(kwargs.pop("env", None) or {})
        viewer, token = env.get(VIEWER_ENV, "").strip(), env.get(VIEWER_TOKEN_ENV, "").strip()
        if kwargs.get("kernel_id") or not viewer or not token:
            raise web.HTTPError(403, "dashboard kernels start only from a dashboard page")
        if not self.allowed_message_types:
            raise web.HTTPError(500, "dashboard kernels need a message allow-list")
        kernel_id = str(
            await super().start_kernel(kernel_name=kernel_name, env=kernel_env(env), **kwargs)
        )
        self._viewers = {k: v for k, v in self._viewers.items() if k in self}
        self._viewers[kernel_id] = viewer
        return kernel_id

    def viewer_of(self, kernel_id: str) -> str | None:
        """Who opened the page that started ``kernel_id`` (``None``: no such kernel)."""
        return self._viewers.get(kernel_id) if kernel_id in self else None


def may(
    user: str, action: str, resource: str, kernel_id: str | None, viewer_of: Callable[[str], Any]
) -> bool:
    """The host's whole permission table: one's own kernel, read or its websocket; nothing
    else of Jupyter's (pages and assets of the host are its own handlers)."""
    if resource != "kernels" or not kernel_id or action not in ("read", "execute"):
        return False
    return bool(user) and viewer_of(kernel_id) == user


class ViewerAuthorizer(JupyterHubAuthorizer):  # type: ignore[misc]
    """JupyterHub's scope check (the viewer may use this service), then :func:`may`."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        if not super().is_authorized(handler, user, action, resource):
            return False
        manager = handler.kernel_manager
        if not isinstance(manager, ViewerKernelManager):
            return False
        kernel_id = (handler.path_kwargs or {}).get("kernel_id")
        return may(user.username, action, resource, kernel_id, manager.viewer_of)
