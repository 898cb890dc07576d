"""The hub's dashboard host: published DAP dashboards served by Voilà to each viewer as
themselves.

Run as the JupyterHub service ``dashboards`` (``python -m dap_server.dashboard_host``, see
``hub_config/jupyterhub_config.py``): a Jupyter server behind JupyterHub's OAuth, so every page,
asset and kernel websocket request is authenticated by the hub and must carry the
``access:services!service=dashboards`` scope. Viewers open ``/services/dashboards/`` (their
gallery) or ``/services/dashboards/dap/dashboards/NAME``.

The host owns no data. It runs as a system user of its own that cannot open the lake or the
metadata, and asks the DAP service for everything with the viewer's own hub token — whether
the viewer may open the dashboard, the notebook, and, from the viewer's kernel, every query.
:mod:`.viewers` keeps viewers' kernels apart; :mod:`.pages` serves the pages. The extension
refuses to load (and the server to start) unless it is the only one and those guards are in
place: a host configured another way would serve Jupyter itself to every viewer.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from jupyter_server.utils import url_path_join

from .viewers import ViewerAuthorizer, ViewerKernelManager

EXTENSION = "dap_server.dashboard_host"
HUB_EXTENSION = "jupyterhub.singleuser.extension"


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": EXTENSION}]


def unsafe_setup(server_app: Any) -> list[str]:
    """What is wrong with this server for hosting dashboards (empty: nothing)."""
    problems = []
    if not isinstance(server_app.kernel_manager, ViewerKernelManager):
        problems.append("ServerApp.kernel_manager_class is not ViewerKernelManager")
    if not isinstance(server_app.authorizer, ViewerAuthorizer):
        problems.append("ServerApp.authorizer_class is not ViewerAuthorizer")
    if not os.environ.get("DAP_SERVICE_URL", "").strip():
        problems.append("DAP_SERVICE_URL is not set")
    others = {
        name
        for name, enabled in server_app.jpserver_extensions.items()
        if enabled and name not in (EXTENSION, HUB_EXTENSION)
    }
    if others:
        problems.append(f"other server extensions are enabled: {', '.join(sorted(others))}")
    if getattr(server_app, "terminals_enabled", False):
        problems.append("terminals are enabled")
    return problems


def _load_jupyter_server_extension(server_app: Any) -> None:
    problems = unsafe_setup(server_app)
    if problems:  # fail closed: no host rather than a Jupyter server open to every viewer
        server_app.log.critical("DAP dashboard host refuses to start: %s", "; ".join(problems))
        sys.exit(1)
    from .voila_setup import voila_handlers

    web_app = server_app.web_app
    base = web_app.settings["base_url"]
    handlers = voila_handlers(server_app, os.environ["DAP_SERVICE_URL"].strip())
    web_app.add_handlers(".*$", [(url_path_join(base, path), *rest) for path, *rest in handlers])
    server_app.log.info("DAP dashboard host: dashboards of %s", os.environ["DAP_SERVICE_URL"])
