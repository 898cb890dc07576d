"""``%dap quality``: check a table with its stored rules and show the results."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.display import HTML, display

from ..quality import badge_html

if TYPE_CHECKING:
    from . import DapMagics

HELP = """\
%dap quality TABLE [--write-failures]   check a table with its stored quality rules
%dap quality TABLE --latest             the latest stored check, as you may see it"""


def run(magics: DapMagics, rest: str, cell: str | None) -> Any:
    try:
        words = shlex.split(rest)
    except ValueError as e:
        raise UsageError(f"%dap quality: {e}") from None
    write_failures = "--write-failures" in words
    latest = "--latest" in words
    names = [w for w in words if w not in ("--write-failures", "--latest")]
    unknown = [w for w in names if w.startswith("-")]
    if unknown:
        raise UsageError(f"%dap quality: unknown option {unknown[0]} (see %dap help)")
    if len(names) != 1:
        raise UsageError("%dap quality TABLE: name one table")
    if latest:
        if write_failures:
            raise UsageError(
                "%dap quality TABLE --latest shows stored results: no --write-failures"
            )
        seen = magics.session.quality_status(names[0])
        _show(badge_html(seen.table, seen.status, seen.checked_at, seen.failed_rules))
        return seen.to_frame()
    report = magics.session.quality_check(names[0], write_failures=write_failures)
    _show(badge_html(report.table, report.status, report.checked_at, len(report.failed_rules)))
    if report.quarantined:
        print(f"{report.quarantined:,} failing rows copied to {report.table}__quarantine")
    return report.to_frame()


def _show(markup: str) -> None:
    display(HTML(markup))
