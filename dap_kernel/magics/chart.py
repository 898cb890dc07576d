"""``%dap chart``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

if TYPE_CHECKING:
    from . import DapMagics

HELP = ""


def run(magics: DapMagics, rest: str, cell: str | None) -> Any:
    raise UsageError("%dap chart is not available yet")
