"""``%dap quality``: check a table with its stored rules and show the results."""

from __future__ import annotations

import shlex
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import polars as pl
from IPython.core.error import UsageError
from IPython.display import HTML, display

from ..quality import RESULT_SCHEMA, badge_html, check

if TYPE_CHECKING:
    from . import DapMagics

HELP = """\
%dap quality TABLE [--write-failures]   check a table with its stored quality rules"""


def run(magics: DapMagics, rest: str, cell: str | None) -> Any:
    from ..session import Session

    try:
        words = shlex.split(rest)
    except ValueError as e:
        raise UsageError(f"%dap quality: {e}") from None
    write_failures = "--write-failures" in words
    names = [w for w in words if w != "--write-failures"]
    unknown = [w for w in names if w.startswith("-")]
    if unknown:
        raise UsageError(f"%dap quality: unknown option {unknown[0]} (see %dap help)")
    if len(names) != 1:
        raise UsageError("%dap quality TABLE: name one table")
    table = names[0]
    session = magics.session
    if isinstance(session, Session):
        report = check(table, session=session, write_failures=write_failures)
        frame = report.to_frame()
        _show(badge_html(report.table, report.status, report.checked_at, len(report.failed_rules)))
        if report.quarantined:
            print(f"{report.quarantined:,} failing rows copied to {report.table}__quarantine")
        return frame
    # Through the DAP service: the same check, run where the data lives.
    data = session._json(  # type: ignore[attr-defined]
        "POST", f"quality/{quote(table, safe='')}/check", json={"write_failures": write_failures}
    )
    results = (data or {}).get("results", [])
    frame = pl.DataFrame(
        [{k: r.get(k) for k in RESULT_SCHEMA} for r in results], schema=RESULT_SCHEMA
    )
    checked = (data or {}).get("checked_at")
    when = datetime.fromisoformat(checked) if isinstance(checked, str) else None
    failed = sum(r.get("status") != "pass" for r in results)
    table_name = str((data or {}).get("table", table))
    _show(badge_html(table_name, str((data or {}).get("status", "unknown")), when, failed))
    return frame


def _show(markup: str) -> None:
    display(HTML(markup))
