"""Voilà's pieces the host needs, and no others: its templates, assets and renderer, with the
``dap`` template and the viewer headers fixed here, not left to configuration.

Voilà's own server extension is not loaded: it would serve ``/voila/render`` for any notebook
in the folder, ``/voila/files`` and a shutdown endpoint for anyone's kernel.
"""

from __future__ import annotations

import gettext
import os
from typing import Any

from jinja2 import Environment, FileSystemLoader
from jupyter_server.base.handlers import FileFindHandler
from jupyterlab_server.themes_handler import ThemesHandler
from voila.configuration import VoilaConfiguration
from voila.paths import ROOT, collect_static_paths, collect_template_paths
from voila.static_file_handler import MultiStaticFileHandler, TemplateStaticFileHandler
from voila.utils import get_data_dir, get_voila_labextensions_path

from dap_kernel.dashboards.identity import VIEWER_TOKEN_HEADER
from dap_kernel.dashboards.serve import DENIED_EXTENSIONS, TEMPLATE

from .pages import DapService, DashboardPage, GalleryHandler, ShutdownHandler
from .viewers import VIEWER_HEADER

KERNEL_ID = r"(?P<kernel_id>\w+-\w+-\w+-\w+-\w+)"


def voila_configuration(server_app: Any) -> VoilaConfiguration:
    config = VoilaConfiguration(parent=server_app)
    config.template = TEMPLATE
    config.http_header_envs = [VIEWER_HEADER, VIEWER_TOKEN_HEADER]
    config.extension_denylist = list(DENIED_EXTENSIONS)
    config.file_allowlist = []
    config.show_tracebacks = False
    config.prelaunch_hook = None
    config.progressive_rendering = False
    return config


def voila_handlers(server_app: Any, service_url: str) -> list[tuple[Any, ...]]:
    """The host's routes (relative to the base URL), with Voilà's settings in place."""
    web_app = server_app.web_app
    config = voila_configuration(server_app)
    template_paths = collect_template_paths(["voila", "nbconvert"], config.template)
    jinja = Environment(
        loader=FileSystemLoader(template_paths), extensions=["jinja2.ext.i18n"], autoescape=True
    )
    translations = gettext.translation("nbui", localedir=os.path.join(ROOT, "i18n"), fallback=True)
    jinja.install_gettext_translations(translations, newstyle=False)  # type: ignore[attr-defined]
    web_app.settings["voila_jinja2_env"] = jinja
    web_app.settings["dap_dashboard_service"] = DapService(service_url)
    page = {"config": server_app.config, "template_paths": template_paths,
            "voila_configuration": config}  # fmt: skip
    return [
        ("/dap/dashboards", GalleryHandler),
        ("/dap/dashboards/([a-z0-9][a-z0-9_-]*)", DashboardPage, page),
        (f"/voila/api/shutdown/{KERNEL_ID}", ShutdownHandler),
        ("/voila/templates/(.*)", TemplateStaticFileHandler),
        (
            "/voila/api/themes/(.*)",
            ThemesHandler,
            {
                "themes_url": "/voila/api/themes",
                "path": os.path.join(get_data_dir(), "themes"),
                "labextensions_path": get_voila_labextensions_path(config.extra_labextensions_path),
                "no_cache_paths": ["/"],
            },
        ),
        (
            "/voila/static/(.*)",
            MultiStaticFileHandler,
            {"paths": collect_static_paths(["voila", "nbconvert"], config.template)},
        ),
        (
            "/voila/labextensions/(.*)",
            FileFindHandler,
            {
                "path": get_voila_labextensions_path(config.extra_labextensions_path),
                "no_cache_paths": ["/"],
            },
        ),
    ]
