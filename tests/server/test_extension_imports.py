"""A hub user's server only forwards to the DAP service, so loading the extension must not
load the governed core's engines (~170 MiB per user server, bench/RESULTS.md)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("duckdb", "polars", "pyarrow", "deltalake", "sqlglot")


def test_loading_the_extension_leaves_the_engines_unloaded() -> None:
    code = (
        "import sys, dap_server, dap_server.extension, dap_server.proxy; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "", f"loaded at extension import: {loaded}"
