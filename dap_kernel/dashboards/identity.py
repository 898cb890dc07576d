"""Whose identity runs a dashboard's queries: the viewer's, never the server's.

Voilà starts one kernel per page view. The viewer's DAP credential reaches that kernel as a
request header that Voilà copies into the kernel's environment (``http_header_envs``): the
``X-DAP-API-Key`` header becomes ``HTTP_X_DAP_API_KEY``. It works with preheated kernels too:
the notebook imports everything, then :func:`viewer_session` calls Voilà's
``wait_for_request()``, which blocks until a viewer opens the page and puts that request's
headers into ``os.environ``; only then do queries run.

Behind JupyterHub the dashboard host (``dap_server.dashboard_host``) authenticates the viewer
through the hub and hands their hub token to the kernel the same way, in ``X-DAP-Viewer-Token``
(a header the host sets itself after dropping any the browser sent).

The kernel then either

* calls the DAP service with the viewer's key (``DAP_SERVICE_URL`` set: the hub deployment,
  where kernels hold no data), or
* checks the key against this workspace's API keys and opens an in-process session for its
  principal (the embedded default).

Without a viewer credential the kernel's own ``DAP_API_KEY`` says who runs it, as for any
session (a scheduled snapshot runs as the schedule's owner); without either, a single-user
workspace runs as ``DAP_USER`` (the local case); a multi-user one refuses, unless
``DAP_DASHBOARD_VIEWER=owner`` says the server owner is the only viewer (a personal Voilà on a
laptop).
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING

from ..errors import Unauthenticated

if TYPE_CHECKING:
    from ..client import DapClient

VIEWER_HEADER = "X-DAP-API-Key"
VIEWER_ENV = "HTTP_X_DAP_API_KEY"
VIEWER_TOKEN_HEADER = "X-DAP-Viewer-Token"  # the viewer's hub token, set by the dashboard host
VIEWER_TOKEN_ENV = "HTTP_X_DAP_VIEWER_TOKEN"
CHANNEL = "dashboard"


def wait_for_viewer() -> None:
    """In a preheated kernel, block until a viewer's request arrives (no-op otherwise)."""
    if os.environ.get("VOILA_PREHEAT", "False") == "False":
        return
    from voila.utils import wait_for_request

    wait_for_request()


@functools.cache
def _warm_up_once() -> None:
    """Plotly's lazy imports, the DAP chart template and sqlglot's parser, once per process
    (every ``Dashboard()`` asks; only the first pays)."""
    import sqlglot

    from .charts import warm_up

    warm_up()
    sqlglot.transpile("SELECT a, sum(b) AS s FROM t WHERE c IN (1, 2) GROUP BY a", read="duckdb")


def prewarm() -> None:
    """Heavy imports, the chart machinery and the workspace, before a preheated kernel waits
    for its viewer (nothing here reads data)."""
    from ..client import service_url

    _warm_up_once()
    if not service_url():
        from ..session import default_workspace

        default_workspace()


def viewer_key() -> str:
    """The viewer's DAP API key from the request headers Voilà handed to this kernel."""
    key = os.environ.get(VIEWER_ENV, "").strip()
    if not key:
        header = os.environ.get("HTTP_AUTHORIZATION", "").strip()
        scheme, _, value = header.partition(" ")
        if scheme.lower() in ("bearer", "token") and value.strip().startswith("dap_"):
            key = value.strip()
    return key


def viewer_session(channel: str = CHANNEL) -> DapClient:
    """The session of whoever opened this dashboard (see the module docstring)."""
    wait_for_viewer()
    key = viewer_key()
    from ..client import _http_session, service_url

    url = service_url()
    hub_token = os.environ.get(VIEWER_TOKEN_ENV, "").strip()
    if url and hub_token and not key:
        return _http_session(url, "", hub_token, channel)
    if url:
        return _http_session(
            url,
            key or os.environ.get("DAP_API_KEY", "").strip(),
            "" if key else os.environ.get("JUPYTERHUB_API_TOKEN", "").strip(),
            channel,
        )
    from ..local import LocalClient
    from ..session import default_workspace

    ws = default_workspace()
    # No viewer's key: the kernel's own DAP_API_KEY, as every other session reads it (a
    # scheduled snapshot of the dashboard runs as the schedule's owner, with its run's key).
    key = key or os.environ.get("DAP_API_KEY", "").strip()
    if key:
        principal = ws.apikeys.authenticate(key, "query")
        return LocalClient(ws.session(principal, channel=channel))
    if ws.policy.enforcing() and os.environ.get("DAP_DASHBOARD_VIEWER", "") != "owner":
        raise Unauthenticated(
            f"this dashboard runs as its viewer: open it with your DAP API key in the "
            f"{VIEWER_HEADER} header"
        )
    return LocalClient(ws.session(channel=channel))
