"""The extension class: wiring only (traits, settings, route table)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Unicode

if TYPE_CHECKING:
    from dap_kernel.session import Workspace

from dap_kernel.settings import Settings

from .handlers import ROUTES


class DapExtension(ExtensionApp):
    """Serves ``/dap/api/v1/…`` from the same governed core as the magics."""

    name = "dap_server"
    load_other_extensions = True

    dap_home = Unicode(
        "", config=True, help="DAP home folder (metadata, lake). Default: $DAP_HOME or ~/.dap."
    )
    meta_url = Unicode(
        "", config=True, help="Metadata database URL. Default: $DAP_META_URL or SQLite in DAP home."
    )

    def dap_settings(self) -> Settings:
        overrides: dict[str, Any] = {}
        if self.dap_home:
            overrides["home"] = Path(self.dap_home).expanduser()
        if self.meta_url:
            overrides["meta_url"] = self.meta_url
        elif self.dap_home:
            overrides["meta_url"] = f"sqlite:///{Path(self.dap_home).expanduser() / 'meta.db'}"
        return Settings.from_env(**overrides)

    def initialize_settings(self) -> None:
        self.settings["dap_workspace_factory"] = _LazyWorkspace(self.dap_settings())

    def initialize_handlers(self) -> None:
        self.handlers.extend((f"/dap/api/v1/{path}", handler) for path, handler in ROUTES)


class _LazyWorkspace:
    """Open the workspace on first request, so a broken DAP_META_URL does not stop Jupyter."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._workspace: Workspace | None = None

    def __call__(self) -> Workspace:
        if self._workspace is None:
            from dap_kernel.session import Workspace

            self._workspace = Workspace(self.settings)
        return self._workspace
