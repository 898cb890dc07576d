"""The experiment card in a real browser: Voilà with the dap template renders a dashboard
whose card analyses the demo's A/B test as each viewer (their API key), with the forest plot
drawn by the page's plotly.js; a viewer without a grant sees the card's refusal."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from dap_kernel import demo
from dap_kernel.dashboards.serve import voila_args, voila_env
from dap_kernel.experiments import Experiment, Metric, analyze
from dap_kernel.governance.identity import Principal
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings
from tests.conftest import _free_port, make_governed, stop_process
from tests.e2e.conftest import ARTIFACTS, Browser
from tests.e2e.test_voila_dashboards import Voila, _open

EXPOSURES = (
    "SELECT e.customer_id, e.variant, e.exposed_at FROM experiment_exposures AS e"
    " JOIN customers AS c ON c.customer_id = e.customer_id"
)
ORDERS = "SELECT customer_id AS unit, 1 AS value FROM orders"
NOTEBOOK = f"""
from dap_kernel import demo
from dap_kernel.dashboards import Dashboard
from dap_kernel.experiments import Experiment, Metric

EXPERIMENT = Experiment(demo.EXPERIMENT_NAME, unit="customer_id", salt=demo.EXPERIMENT_SALT,
                        start=demo.EXPERIMENT_START)
d = Dashboard("New checkout")
d.experiment(EXPERIMENT, [Metric("orders", sql={ORDERS!r})], exposures={EXPOSURES!r},
             title="Orders per customer")
d.show();
"""


def _experiment() -> Experiment:
    return Experiment(
        demo.EXPERIMENT_NAME,
        unit="customer_id",
        salt=demo.EXPERIMENT_SALT,
        start=demo.EXPERIMENT_START,
    )


@pytest.fixture(scope="module")
def served(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Voila]:
    root = tmp_path_factory.mktemp("voila-experiment")
    home = root / "dap"
    shutil.copytree(demo_home, home)
    notebooks = root / "notebooks"
    notebooks.mkdir()
    nb = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    nb.cells = [nbformat.v4.new_code_cell(NOTEBOOK)]  # type: ignore[no-untyped-call]
    nbformat.write(nb, notebooks / "ab.ipynb")  # type: ignore[no-untyped-call]
    ws = Workspace(Settings(home=home, user="tester"))
    try:
        make_governed(ws)
        admin = ws.admin("tester")
        for table in ("main.experiment_exposures", "main.customers", "main.orders"):
            admin.grant("SELECT", table, "user", "ann")
        keys = {u: ws.apikeys.create(u, "dashboards")[1] for u in ("tester", "ann", "bob")}
        units = {
            u: analyze(
                _experiment(),
                Metric("orders", sql=ORDERS),
                exposures=EXPOSURES,
                session=ws.session(Principal(u)),
            ).units
            for u in ("tester", "ann")
        }
    finally:
        ws.close()
    port = _free_port()
    env = {k: v for k, v in voila_env().items() if not k.startswith("DAP_")}
    env.update({"DAP_HOME": str(home), "DAP_USER": "tester"})
    log_path = root / "voila.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            voila_args(notebooks, port=port), env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/voila/api/shutdown", timeout=2)
            except urllib.error.HTTPError:
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"voila did not start; see {log_path}") from None
                time.sleep(0.3)
            else:
                break
        revenue = {u: float(sum(n)) for u, n in units.items()}  # units per viewer, as floats
        yield Voila(url=url, keys=keys, revenue=revenue)
    finally:
        stop_process(process)


def _card(page: Any) -> dict[str, Any]:
    found: dict[str, Any] = page.evaluate(
        """() => {
            const card = document.querySelector('.dap-card.dap-experiment');
            if (!card) { return null; }
            const cells = Array.from(card.querySelectorAll('td')).map(t => t.textContent);
            return {cells: cells, drawn: card.querySelectorAll('.dap-plot .main-svg').length,
                    error: (card.querySelector('.dap-error') || {}).textContent || ''};
        }"""
    )
    assert found is not None, "no experiment card in the page"
    return found


def test_each_viewer_gets_their_own_analysis_and_bob_none(browser: Browser, served: Voila) -> None:
    def steps(page: Any) -> dict[str, dict[str, Any]]:
        seen = {}
        for user in ("tester", "ann", "bob"):
            _open(page, served, "ab.ipynb", user)
            if user != "bob":
                page.wait_for_function(
                    "document.querySelectorAll('.dap-experiment .dap-plot .main-svg').length > 0",
                    timeout=60_000,
                )
            seen[user] = _card(page)
            if user == "ann":
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "voila-experiment-card-1280.png"))
        return seen

    seen = browser.run(steps, timeout=600)
    for user in ("tester", "ann"):
        total = int(served.revenue[user])
        units = [int(c.replace(",", "")) for c in seen[user]["cells"][1:8:4]]
        assert sum(units) == total, (user, seen[user]["cells"][:8])
        assert seen[user]["drawn"] >= 1 and not seen[user]["error"]
    assert served.revenue["ann"] < served.revenue["tester"]
    assert "may not SELECT" in seen["bob"]["error"] and not seen["bob"]["cells"]
