"""A real JupyterLab with DAP on 127.0.0.1 and one headless Debian Chromium per test run."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dap_kernel.session import Workspace
from dap_kernel.settings import Settings
from tests.conftest import _free_port, make_governed, stop_process

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass(frozen=True)
class Lab:
    url: str
    token: str
    home: Path
    log: Path


@pytest.fixture(scope="session")
def lab(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """`jupyter lab` as `make up` starts it, on the demo data, on a free loopback port."""
    home = tmp_path_factory.mktemp("lab-home") / "dap"
    shutil.copytree(demo_home, home)
    with _running_lab(home, "tester", tmp_path_factory) as started:
        yield started


@contextmanager
def _running_lab(home: Path, user: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Start `dap up` over `home` as DAP user `user`; stop it on exit."""
    ARTIFACTS.mkdir(exist_ok=True)  # tests save notebooks there; a fresh clone has no such folder
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAP_")}
    workspaces = tmp_path_factory.mktemp("lab-workspaces")  # no layout left from other runs
    # Settings of this Lab only (a theme switched by a test stays here), without the news prompt.
    settings = tmp_path_factory.mktemp("lab-settings")
    notification = (
        settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    )
    notification.parent.mkdir(parents=True)
    notification.write_text('{"fetchNews": "false"}')
    env.update(
        {
            "DAP_HOME": str(home),
            "DAP_USER": user,
            "JUPYTER_PLATFORM_DIRS": "1",
            "JUPYTERLAB_WORKSPACES_DIR": str(workspaces),
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
        }
    )
    built = REPO / "server_extension" / "dap_server" / "labextension"
    if (built / "package.json").exists():
        # The lab extension this checkout built (`jlpm build`), ahead of an installed copy:
        # JupyterLab takes the first @dap/labextension on its labextensions path.
        share = tmp_path_factory.mktemp("lab-share")
        (share / "labextensions" / "@dap").mkdir(parents=True)
        (share / "labextensions" / "@dap" / "labextension").symlink_to(built)
        env["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(share), env.get("JUPYTER_PATH")) if p)
    log = (tmp_path_factory.mktemp("lab-log") / "lab.log").open("w")
    # The command `make up` runs, with test-only options passed through to JupyterLab.
    args = [
        str(Path(sys.executable).parent / "dap"),
        "up",
        f"--port={port}",
        "--",
        f"--IdentityProvider.token={token}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    process = subprocess.Popen(args, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter lab did not start; see {log.name}") from None
                time.sleep(0.3)
        yield Lab(url=url, token=token, home=home, log=Path(log.name))
    finally:
        stop_process(process)
        log.close()


@pytest.fixture(scope="session")
def restricted_lab(
    demo_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], Lab]]:
    """`restricted_lab("ann")`: a Lab whose owner is a governed DAP user, started on first use.

    Each user gets `dap up` over their own governed copy of the demo data
    (:func:`tests.conftest.make_governed`: multi-user; ann sees only EMEA customers with
    masked emails, bob has no grant). In a personal server the DAP identity of every
    Jupyter-authenticated request is the server owner, ``DAP_USER`` (the server extension's
    default ``identity = "owner"``), so that user is who the browser is. One Lab per user and
    run (a start costs ~10 s).
    """
    started: dict[str, Lab] = {}
    with ExitStack() as stack:

        def start(user: str) -> Lab:
            if user not in started:
                home = tmp_path_factory.mktemp(f"lab-{user}") / "dap"
                shutil.copytree(demo_home, home)
                ws = Workspace(Settings(home=home, user="tester"))
                try:
                    make_governed(ws)
                finally:
                    ws.close()
                started[user] = stack.enter_context(_running_lab(home, user, tmp_path_factory))
            return started[user]

        yield start


class Browser:
    """Debian's chromium driven by Playwright on a thread of its own.

    Playwright's sync API runs an event loop of its own; pytest-jupyter (loaded for the server
    tests) owns the test thread's loop. A dedicated thread keeps the two apart: every browser
    call goes through :meth:`run`.
    """

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="playwright")
        self._playwright: Any = None
        self._chromium: Any = None
        self._thread.submit(self._start).result(120)

    def _start(self) -> None:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        self._chromium = self._playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )

    def run(self, steps: Callable[[Any], T], timeout: float = 180) -> T:
        """Run ``steps(page)`` on a fresh page in the browser thread and return its result."""

        def in_thread() -> T:
            context = self._chromium.new_context(viewport={"width": 1400, "height": 900})
            try:
                return steps(context.new_page())
            finally:
                context.close()

        return self._thread.submit(in_thread).result(timeout)

    def close(self) -> None:
        def stop() -> None:
            self._chromium.close()
            self._playwright.stop()

        self._thread.submit(stop).result(60)
        self._thread.shutdown()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: run `make setup`")
    chromium = Browser()
    yield chromium
    chromium.close()


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def open_lab(page: Any, lab: Lab, command: str) -> None:
    """JupyterLab in ``page``, restored, once the extension has registered ``command`` (the
    one the test drives first)."""
    page.goto(f"{lab.url}/lab?token={lab.token}")
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=60_000)
    page.wait_for_function("window.jupyterapp !== undefined", timeout=30_000)
    page.evaluate("async () => { await window.jupyterapp.restored; }")
    page.wait_for_function(
        "command => window.jupyterapp.commands.hasCommand(command)", arg=command, timeout=30_000
    )


def close_main_area(page: Any) -> None:
    """Close every main-area tab without dialogs (shutting down notebooks' kernels), so the
    saved layout restores none of them."""
    page.evaluate(
        """async () => {
            const app = window.jupyterapp;
            for (const w of [...app.shell.widgets('main')]) {
                if (w.sessionContext) { await w.sessionContext.shutdown(); }
                w.dispose();
            }
        }"""
    )


def new_notebook(page: Any, first_cell: str = "") -> str:
    """A new python3 notebook in test-artifacts/ (kept as ``window.dapTestNotebook``), with
    ``first_cell`` as the source of its first cell; returns its path."""
    path: str = page.evaluate(
        """async (first) => {
            const app = window.jupyterapp;
            const panel = await app.commands.execute('notebook:create-new',
                {cwd: 'test-artifacts', kernelName: 'python3'});
            await panel.context.ready;
            await panel.sessionContext.ready;
            if (first) { panel.content.model.sharedModel.getCell(0).setSource(first); }
            window.dapTestNotebook = panel;
            return panel.context.path;
        }""",
        first_cell,
    )
    return path
