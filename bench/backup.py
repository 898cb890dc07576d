"""Backup and restore time of the demo home (issue 18 item 2), for the RPO/RTO in
docs/operations.md.

    .venv/bin/python bench/backup.py [--scales 0.1,1] [--reps 3] [--json PATH]

For each scale: a fresh DAP home in a temporary folder with the demo data (``dap demo``), made
multi-user with a row filter and masks (so the secret store holds the mask key); then, ``--reps``
times, ``dap_kernel.backup.backup`` into a new folder and ``dap_kernel.backup.restore`` of it
into a new home (with the key file given apart). Reported per scale: the home's size, the
backup's files and bytes, the median backup, verify-only and restore times. Removes the
temporary folder at the end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dap_kernel import demo  # noqa: E402
from dap_kernel.backup import backup, read_manifest, restore, verify  # noqa: E402
from dap_kernel.session import Workspace  # noqa: E402
from dap_kernel.settings import Settings  # noqa: E402


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_scale(base: Path, scale: float, reps: int) -> dict[str, Any]:
    home = base / f"home-{scale}"
    ws = Workspace(Settings(home=home, user="bench"))
    demo.build(ws.catalog, scale=scale, owner="bench")
    admin = ws.admin("bench")
    admin.set_multi_user(True)
    admin.add_user("ann", {"region": "EMEA"})
    admin.add_row_filter("main.customers", "region = current_user_attr('region')")
    admin.set_mask("main.customers.email", "hash")
    ws.session().sql("SELECT count(*) FROM customers")
    _ = ws.mask_key  # the hash key: a secret in the store
    session = ws.session()
    backups, verifies, restores = [], [], []
    result = None
    for rep in range(reps):
        target = base / f"backup-{scale}-{rep}"
        t0 = time.perf_counter()
        result = backup(session, target)
        backups.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        verify(target, read_manifest(target))
        verifies.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        restore(
            target,
            Settings(home=base / f"restored-{scale}-{rep}", user="bench"),
            key_file=home / "secrets.key",
        )
        restores.append(time.perf_counter() - t0)
        shutil.rmtree(base / f"restored-{scale}-{rep}")
        if rep:
            shutil.rmtree(target)
    ws.close()
    assert result is not None
    m = result.manifest
    rows = sum(t.row_count or 0 for t in Workspace(Settings(home=home)).catalog.list_tables())
    return {
        "scale": scale,
        "rows": rows,
        "home_bytes": _size(home),
        "files": len(m.files),
        "backup_bytes": m.total_bytes,
        "backup_s": statistics.median(backups),
        "verify_s": statistics.median(verifies),
        "restore_s": statistics.median(restores),
        "runs": {"backup": backups, "verify": verifies, "restore": restores},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", default="0.1,1")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="dap-bench-backup-"))
    try:
        results = [run_scale(base, float(s), args.reps) for s in args.scales.split(",")]
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print("| scale | rows | home MB | files | backup MB | backup s | verify s | restore s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['scale']} | {r['rows']:,} | {r['home_bytes'] / 1e6:.1f} | {r['files']} | "
            f"{r['backup_bytes'] / 1e6:.1f} | {r['backup_s']:.2f} | {r['verify_s']:.2f} | "
            f"{r['restore_s']:.2f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
