"""A full disk under the lake (a 48 MB tmpfs mounted at DAP_HOME/lake): an ingest, a CTAS and an
INSERT fail with one clear "no space" line, the tables stay at their previous version with no
file left in their folders, and once space is freed the very same writes succeed."""

from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from dap_kernel.errors import StorageFull
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings

from .conftest import DAP, dap_env, run

ROWS = 300_000
WIDE = (
    "SELECT id, md5(CAST(id AS VARCHAR)) || md5(CAST(id + 1 AS VARCHAR)) AS s "
    f"FROM (SELECT unnest(generate_series(1, {ROWS})) AS id)"
)


@pytest.fixture
def small_lake(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    lake = home / "lake"
    lake.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(lake)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield home
    finally:
        if subprocess.run(["umount", str(lake)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(lake)], capture_output=True)


def _files(ws: Workspace, table: str) -> tuple[set[Path], set[Path]]:
    """(Parquet files on disk in the table's folder, files of its current version)."""
    folder = ws.lake.path("main", table)
    files = ws.lake.snapshot("main", table).files
    return (
        {f.resolve() for f in folder.rglob("*.parquet")},
        {Path(u.removeprefix("file://")).resolve() for u in files},
    )


# deltalake's Parquet writer (object_store's BufWriter, arrow-rs-object-store issue 810, open)
# has a background upload task panic "Already shut down" when its write failed and the process
# exits. Rust prints it from its own thread, out of DAP's reach: it is noise around the one
# error line, not a Python traceback, and nothing depends on it.
_UPSTREAM_PANIC = ("thread 'tokio-rt-worker'", "Already shut down", "stack backtrace:", "note: ")


def _one_line_no_space(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    lines = [x for x in stderr.strip().splitlines() if not x.startswith(_UPSTREAM_PANIC)]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: no space left on the disk of the lake"), stderr


@pytest.mark.slow
def test_a_full_lake_disk_fails_cleanly_and_the_same_writes_succeed_after(
    small_lake: Path, tmp_path: Path
) -> None:
    home = small_lake
    ws = Workspace(Settings(home=home, user="tester"))
    ws.catalog.create_table("main.t", pa.table({"id": [1, 2, 3], "s": ["a", "b", "c"]}))
    csv = tmp_path / "rows.csv"  # ~12 MB of hex: Parquet cannot squeeze it into 3 MB
    rng = random.Random(7)
    csv.write_text(
        "id,s\n" + "".join(f"{i},{rng.getrandbits(128):032x}\n" for i in range(ROWS)),
        encoding="utf-8",
    )
    filler = home / "lake" / "filler"
    filler.write_bytes(b"\0" * (45 << 20))  # 3 MB left
    env = dap_env(home)
    ingest_argv = [DAP, "ingest", str(csv), "--table", "main.t"]
    ctas_argv = [DAP, "sql", f"CREATE TABLE main.big AS {WIDE}"]
    insert = f"INSERT INTO main.t {WIDE}"

    ingest = run(ingest_argv, env)
    assert ingest.returncode == 1
    _one_line_no_space(ingest.stderr)
    assert "main.t is still at version 0" in ingest.stderr
    ctas = run(ctas_argv, env)
    assert ctas.returncode == 1
    _one_line_no_space(ctas.stderr)
    assert "main.big did not exist before" in ctas.stderr
    with pytest.raises(StorageFull, match=r"main\.t is still at version 0"):
        ws.session().sql(insert)

    assert ws.lake.version("main", "t") == 0 and ws.catalog.get("main.t").version == 0
    on_disk, committed = _files(ws, "t")
    assert on_disk == committed  # no partial file left in the folder, none registered
    assert "main.big" not in ws.catalog.known_names()
    assert not ws.lake.path("main", "big").exists()
    assert ws.session().sql("SELECT count(*) AS n FROM main.t").to_dicts() == [{"n": 3}]

    filler.unlink()  # space freed: the same three writes succeed
    assert run(ingest_argv, env).returncode == 0
    assert run(ctas_argv, env).returncode == 0
    ws.session().sql(insert)
    assert ws.session().sql("SELECT count(*) AS n FROM main.t").to_dicts() == [{"n": 3 + 2 * ROWS}]
    assert ws.session().sql("SELECT count(*) AS n FROM main.big").to_dicts() == [{"n": ROWS}]
    ws.close()
