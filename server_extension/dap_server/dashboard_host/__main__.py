"""``python -m dap_server.dashboard_host``: start the host as a JupyterHub service.

Everything the host needs to be safe is set here rather than left to configuration files: a
private folder (mode 0700) for its notebooks, home, runtime and config; a Jupyter config in that
folder that turns every other server extension off (the Lab, terminals, DAP's own proxy, Voilà's
open render endpoint) and puts the viewer guards in place. The extension checks the result and
refuses to start if anything is different.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from jupyter_core.paths import jupyter_config_path
from jupyter_server.extension.config import ExtensionConfigManager

from dap_kernel.dashboards.serve import voila_env

from . import EXTENSION, HUB_EXTENSION


def private_root() -> Path:
    """``DAP_DASHBOARDS_STATE`` or a new temporary folder, mode 0700 either way."""
    configured = os.environ.get("DAP_DASHBOARDS_STATE", "").strip()
    root = Path(configured) if configured else Path(tempfile.mkdtemp(prefix="dap-dashboards-"))
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o700)
    return root


def server_config(root: Path, enabled: dict[str, bool]) -> dict[str, object]:
    extensions = {name: False for name in enabled} | {EXTENSION: True, HUB_EXTENSION: True}
    return {
        "ServerApp": {
            "jpserver_extensions": extensions,
            "root_dir": str(root / "notebooks"),
            "authorizer_class": "dap_server.dashboard_host.viewers.ViewerAuthorizer",
            "kernel_manager_class": "dap_server.dashboard_host.viewers.ViewerKernelManager",
            "terminals_enabled": False,
            "default_url": "/dap/dashboards",
            "allow_root": True,
        },
        "ViewerKernelManager": {"cull_idle_timeout": 1800, "cull_interval": 120},
        "FileContentsManager": {"allow_hidden": False},
    }


def main() -> None:
    root = private_root()
    for folder in ("notebooks", "home", "runtime", "config", "ipython"):
        (root / folder).mkdir(mode=0o700, exist_ok=True)
    manager = ExtensionConfigManager(read_config_path=jupyter_config_path())
    enabled = manager.get_jpserver_extensions()  # type: ignore[no-untyped-call]
    config = root / "config" / "jupyter_server_config.json"
    config.write_text(json.dumps(server_config(root, enabled), indent=1))
    os.environ.update(voila_env())  # finds the dap template from a source checkout too
    os.environ.update(
        {
            "JUPYTER_CONFIG_DIR": str(root / "config"),  # read last: it wins
            "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
            "HOME": str(root / "home"),
            "IPYTHONDIR": str(root / "ipython"),
        }
    )
    from jupyterhub.singleuser.extension import main as serve

    sys.argv = [sys.argv[0]]
    serve()


if __name__ == "__main__":
    main()
