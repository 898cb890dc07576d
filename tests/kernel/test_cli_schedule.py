"""`dap schedule` as a user types it: the command forms the issue's checks rely on."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from tests.kernel.test_cli import dap
from tests.reports import notebook

pytestmark = pytest.mark.slow

QUERY = (
    "import dap_kernel as dap\n"
    "print('customers in', region, dap.sql('SELECT count(*) AS n FROM customers "
    "WHERE region = $r', {'r': region})['n'][0])"
)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("schedule-home")
    result = dap("demo", "--scale", "0.01", home=home)
    assert result.returncode == 0, result.stderr
    return home


def write(path: Path, *cells: str) -> Path:
    nbformat.write(nbformat.from_dict(notebook(*cells)), path)
    return path


def test_add_run_history(home: Path, tmp_path: Path) -> None:
    report = write(tmp_path / "sales.ipynb", QUERY)
    added = dap(
        "schedule",
        "add",
        str(report),
        "--cron",
        "0 8 * * MON",
        "--tz",
        "Europe/Berlin",
        "-p",
        "region=APAC",
        "--format",
        "ipynb,html",
        home=home,
    )
    assert added.returncode == 0, added.stderr
    schedule_id = added.stdout.strip()
    assert schedule_id.startswith("s") and len(schedule_id.split()) == 1
    ran = dap("schedule", "run", schedule_id, home=home)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "succeeded" in ran.stdout
    history = dap("schedule", "history", schedule_id, home=home)
    assert history.returncode == 0
    assert "succeeded" in history.stdout
    html = next(line.split(": ", 1)[1] for line in history.stdout.splitlines() if "html:" in line)
    assert "customers in APAC" in Path(html).read_text()
    runs = json.loads(dap("schedule", "history", schedule_id, "--json", home=home).stdout)
    assert [r["status"] for r in runs] == ["succeeded"]
    assert runs[0]["reads"] == {"main.customers": 0}
    again = dap("schedule", "rerun", runs[0]["id"], "--as-recorded", home=home)
    assert again.returncode == 0, again.stderr
    listed = dap("schedule", "list", home=home).stdout
    assert schedule_id in listed and "Europe/Berlin" in listed


def test_a_failing_run_exits_1_with_its_error(home: Path, tmp_path: Path) -> None:
    report = write(tmp_path / "broken.ipynb", "raise RuntimeError('no data today')")
    schedule_id = dap("schedule", "add", str(report), "--retries", "0", home=home).stdout.strip()
    ran = dap("schedule", "run", schedule_id, home=home)
    assert ran.returncode == 1
    assert "RuntimeError: no data today" in ran.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cron", "0 25 * * *"], "error: cron expression '0 25 * * *': bad hour"),
        (["-p", "nope=1"], "error: the notebook has no parameter nope; it has region"),
        (["--format", "docx"], "error: output format docx: choose from ipynb, html, pdf"),
        (["--to", "boss@corp.example", "--tz", "Nowhere/City"], "error: unknown time zone"),
    ],
)
def test_bad_schedules_get_one_line(
    home: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    report = write(tmp_path / "r.ipynb", "print(1)")
    result = dap("schedule", "add", str(report), "--name", "bad", *args, home=home)
    assert result.returncode == 1
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_cli_does_not_load_the_notebook_stack_to_start() -> None:
    """`dap --help` stays quick: nbformat's schema validator and papermill load only when a
    schedule command needs them."""
    import subprocess
    import sys

    code = "import sys, dap_kernel.cli; print(sorted({'nbformat', 'papermill'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
