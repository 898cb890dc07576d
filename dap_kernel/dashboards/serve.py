"""Starting Voilà on a dashboard with the ``dap`` template and the viewer-identity settings.

The template is installed to ``share/jupyter/voila/templates/dap`` by ``pip install``. Its page
draws charts with plotly.js loaded once from the template's own static folder (no CDN, no
jupyterlab-plotly): :func:`voila_env` lays out a copy of the template in a folder on
``JUPYTER_PATH`` with ``static/plotly.min.js`` from the installed ``plotly`` package (the same
version that wrote the figures), so ``dap dashboard serve``, the hub's dashboard host and the
tests all serve it. Copies, not links: Voilà's static handler refuses files whose real path
lies outside the template folder. A source checkout's template wins over an installed copy.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from .identity import VIEWER_HEADER

TEMPLATE = "dap"
REPO_TEMPLATE = Path(__file__).resolve().parents[2] / "voila_templates" / TEMPLATE
PLOTLY_JS = "plotly.min.js"
# The lab extension and SQL plugin do nothing in a dashboard, and the template draws charts
# itself (jupyterlab-plotly would load a second 4.8 MB plotly.js and render a PNG of every
# plot): not loading them saves seconds per page.
DENIED_EXTENSIONS = ("@dap/labextension", "jupysql-plugin", "jupyterlab-plotly")
# Seconds a preheated pool waits before starting the next kernel: the refill (imports, the
# workspace) then does not compete for the CPU with the page it just handed out.
FILL_DELAY = 5.0


def installed_template() -> Path | None:
    from jupyter_core.paths import jupyter_path

    for root in jupyter_path("voila", "templates", TEMPLATE):
        if (Path(root) / "index.html.j2").is_file():
            return Path(root)
    return None


def plotly_js() -> Path:
    """plotly.js as shipped inside the ``plotly`` Python package."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / PLOTLY_JS


def template_source() -> Path | None:
    """The template to serve: the source checkout's, else the installed one."""
    if (REPO_TEMPLATE / "index.html.j2").is_file():
        return REPO_TEMPLATE
    return installed_template()


def lay_out_template(source: Path, root: Path) -> Path:
    """``root/voila/templates/dap``: a copy of ``source``, plus plotly.js in static/."""
    target = root / "voila" / "templates" / TEMPLATE
    shutil.copytree(source, target, dirs_exist_ok=True)
    if not (target / "static" / PLOTLY_JS).exists():
        shutil.copy2(plotly_js(), target / "static" / PLOTLY_JS)
    return target


def _laid_out(source: Path) -> Path:
    """The folder for ``JUPYTER_PATH``, one per template and plotly version (made once)."""
    files = sorted(p for p in source.rglob("*") if p.is_file())
    digest = hashlib.sha256(str(source).encode())
    for item in [*files, plotly_js()]:
        stat = item.stat()
        digest.update(f"{item}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    root = Path(tempfile.gettempdir()) / f"dap-voila-{digest.hexdigest()[:16]}"
    if not (root / "voila" / "templates" / TEMPLATE / "static" / PLOTLY_JS).is_file():
        staging = Path(tempfile.mkdtemp(prefix="dap-voila-new-"))
        lay_out_template(source, staging)
        # mkdtemp makes the folder 0700: readable by all, since the hub's dashboard host runs as
        # its own system user and may find the folder a root-run `dap dashboard serve` made
        staging.chmod(0o755)
        try:
            staging.rename(root)
        except OSError:  # made meanwhile by another process: use theirs
            shutil.rmtree(staging, ignore_errors=True)
    return root


def voila_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for Voilà: ``JUPYTER_PATH`` starts with the laid-out template."""
    env = dict(os.environ if base is None else base)
    source = template_source()
    if source is None:
        return env
    root = _laid_out(source)
    env["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(root), env.get("JUPYTER_PATH")) if p)
    return env


def voila_args(
    notebook: str | Path,
    *,
    port: int = 8866,
    ip: str = "127.0.0.1",
    preheat: bool = False,
    pool_size: int = 1,
    fill_delay: float = FILL_DELAY,
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
        args += [
            "--preheat_kernel=True",
            f"--pool_size={pool_size}",
            f"--VoilaKernelManager.fill_delay={fill_delay}",
        ]
    return [*args, *extra]
