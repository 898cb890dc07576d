"""The ``dap`` command line: the same governed core as the magics and the REST API.

Every failure is one line on stderr and a non-zero exit status, never a traceback from inside
DAP (``DAP_DEBUG=1`` shows it for developers).

One module per command group registers its commands on ``app`` (from ``._app``) when imported;
this package imports them all and holds the entry point.
"""

from __future__ import annotations

import os
import sys

import typer

from ..errors import DapError
from ._app import app

# Typer lists top-level commands, then groups, each in the order they were registered: this
# import order keeps ``dap --help`` as it was (setup and query commands first), not alphabetical.
# isort: off
from . import home, sql, serve, catalog, connector, audit, apikey, secrets, governance
from . import archive, dashboard, export, ingest, lineage, pipeline, quality, schedule, stream
from . import gdpr, pii, backup

# isort: on


def main() -> None:
    """Entry point: DAP errors become one line on stderr and exit status 1."""
    try:
        app()
    except DapError as e:
        if os.environ.get("DAP_DEBUG"):
            raise
        typer.echo(f"error: {e}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


__all__ = [
    "apikey",
    "app",
    "archive",
    "audit",
    "backup",
    "catalog",
    "connector",
    "dashboard",
    "export",
    "gdpr",
    "governance",
    "home",
    "ingest",
    "lineage",
    "main",
    "pii",
    "pipeline",
    "quality",
    "schedule",
    "secrets",
    "serve",
    "sql",
    "stream",
]
