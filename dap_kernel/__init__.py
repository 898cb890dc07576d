"""DAP: a governed data analytics workbench for Jupyter.

>>> import dap_kernel as dap                      # doctest: +SKIP
>>> dap.sql("SELECT count(*) AS n FROM orders")   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import catalog
from .errors import DapError
from .settings import Settings

if TYPE_CHECKING:
    import polars as pl
    from IPython.core.interactiveshell import InteractiveShell


__version__ = "0.1.0"
__all__ = ["DapError", "Settings", "__version__", "catalog", "sql", "whoami"]


def sql(
    query: str,
    params: Mapping[str, Any] | Sequence[Any] | None = None,
    *,
    limit: int | None = None,
) -> pl.DataFrame:
    """Run one governed SQL query on the catalog and return a polars DataFrame.

    Parameters are bound, never pasted: ``dap.sql("… WHERE id = :id", {"id": 7})``.
    """
    from .client import connect

    return connect().sql(query, params, limit=limit)


def whoami() -> dict[str, Any]:
    from .client import connect

    return connect().whoami()


def load_ipython_extension(shell: InteractiveShell) -> None:
    """``%load_ext dap_kernel`` registers the ``%dap`` / ``%%dap`` magics."""
    from .magics import DapMagics

    magics = DapMagics(shell=shell)
    shell.register_magics(magics)
    shell.configurables.append(magics)  # type: ignore[arg-type]  # %config DapMagics.x
