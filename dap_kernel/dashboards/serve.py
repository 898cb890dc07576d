"""Starting Voilà on a dashboard with the ``dap`` template and the viewer-identity settings.

The template is installed to ``share/jupyter/voila/templates/dap`` by ``pip install``; from a
source checkout without that, :func:`voila_env` points ``JUPYTER_PATH`` at a folder that links
to ``voila_templates/dap``, so ``dap dashboard serve`` works either way.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from .identity import VIEWER_HEADER

TEMPLATE = "dap"
REPO_TEMPLATE = Path(__file__).resolve().parents[2] / "voila_templates" / TEMPLATE
# The lab extension and SQL plugin do nothing in a dashboard: not loading them saves time.
DENIED_EXTENSIONS = ("@dap/labextension", "jupysql-plugin")


def installed_template() -> Path | None:
    from jupyter_core.paths import jupyter_path

    for root in jupyter_path("voila", "templates", TEMPLATE):
        if (Path(root) / "index.html.j2").is_file():
            return Path(root)
    return None


def voila_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for Voilà: ``JUPYTER_PATH`` extended when the template is not installed."""
    env = dict(os.environ if base is None else base)
    if installed_template() is None and (REPO_TEMPLATE / "index.html.j2").is_file():
        root = Path(tempfile.mkdtemp(prefix="dap-voila-"))
        link = root / "voila" / "templates" / TEMPLATE
        link.parent.mkdir(parents=True)
        link.symlink_to(REPO_TEMPLATE, target_is_directory=True)
        env["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(root), env.get("JUPYTER_PATH")) if p)
    return env


def voila_args(
    notebook: str | Path,
    *,
    port: int = 8866,
    ip: str = "127.0.0.1",
    preheat: bool = False,
    pool_size: int = 1,
    extra: Sequence[str] = (),
) -> list[str]:
    """``voila --template=dap NOTEBOOK`` with the viewer header handed to the kernel.

    With ``preheat`` Voilà keeps ``pool_size`` kernels that have already run the notebook up to
    the point where the dashboard waits for its viewer (imports, widgets): a page opens with
    only the viewer's queries left to run.
    """
    voila = Path(sys.executable).parent / "voila"
    args = [
        str(voila),
        str(notebook),
        f"--template={TEMPLATE}",
        f"--port={port}",
        f"--Voila.ip={ip}",
        "--no-browser",
        f"--VoilaConfiguration.http_header_envs={VIEWER_HEADER}",
        *(f"--VoilaConfiguration.extension_denylist={e}" for e in DENIED_EXTENSIONS),
    ]
    if preheat:
        args += ["--preheat_kernel=True", f"--pool_size={pool_size}"]
    return [*args, *extra]
