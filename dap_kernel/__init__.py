"""DAP: a governed data analytics workbench for Jupyter.

>>> import dap_kernel as dap                      # doctest: +SKIP
>>> dap.sql("SELECT count(*) AS n FROM orders")   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import client as _client  # registers the caller's client for the dap.* shortcuts
from ._version import __version__
from .errors import DapError
from .settings import Settings

if TYPE_CHECKING:
    from pathlib import Path

    import polars as pl
    from IPython.core.interactiveshell import InteractiveShell

    from . import catalog as catalog
    from . import experiments as experiments
    from . import ml as ml
    from . import stats as stats
    from . import streams as streams


__all__ = [
    "DapError",
    "Settings",
    "__version__",
    "catalog",
    "chart",
    "chart_type",
    "experiments",
    "export",
    "ingest",
    "lineage",
    "ml",
    "pipeline",
    "quality",
    "quality_status",
    "sql",
    "stats",
    "streams",
    "whoami",
]

# Loaded on first use, so importing DAP stays cheap (the Jupyter server imports it at start-up):
# name → (module, attribute or None for the module itself).
_LAZY: dict[str, tuple[str, str | None]] = {
    "catalog": (".catalog", None),
    "quality": (".quality", None),
    "quality_status": (".quality.view", "status"),  # dap.quality_status("orders")
    "lineage": (".lineage", None),  # callable: dap.lineage("orders")
    "export": (".export", None),  # callable: dap.export(df, to="xlsx", path=...)
    "ingest": (".ingestion", "ingest"),
    "pipeline": (".pipelines", "pipeline"),
    "chart": (".viz", "chart"),
    "chart_type": (".viz", "chart_type"),
    "stats": (".stats", None),  # dap.stats.describe("orders"), dap.stats.ttest(a, b)
    "streams": (".streams", None),  # dap.streams.start("clicks", topic=…), .status(), .stop()
    "ml": (".ml", None),  # dap.ml.train("customers", "churned"), dap.ml.predict(…)
    "experiments": (".experiments", None),
}


def sql(
    query: str,
    params: Mapping[str, Any] | Sequence[Any] | None = None,
    *,
    limit: int | None = None,
    as_of: int | str | datetime | None = None,
    engine: str | None = None,
) -> pl.DataFrame:
    """Run one governed SQL query on the catalog and return a polars DataFrame.

    Parameters are bound, never pasted: ``dap.sql("… WHERE id = :id", {"id": 7})``.
    ``as_of`` reads the tables as they were at a Delta version or a point in time; in SQL,
    ``FROM orders FOR VERSION AS OF 3`` / ``FOR TIMESTAMP AS OF '2026-11-01'`` does it per table.
    ``engine`` (``"duckdb"``, ``"chdb"``, ``"spark"``, ``"clickhouse"``) runs it on another
    engine than ``DAP_ENGINE`` (or its tables' engine): the same governed statement,
    transpiled to that engine's dialect.
    """
    frame = _client.connect().sql(query, params, limit=limit, as_of=as_of, engine=engine)
    _grid_in_notebook()
    return frame


def _grid_in_notebook() -> None:
    """In a notebook, results display through the DAP grid (once per kernel); elsewhere
    nothing is imported."""
    import sys

    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None:
        from .grid import install

        install(shell, _audited_download)


def _audited_download(frame: pl.DataFrame, path: Path) -> None:
    """The grid's Download CSV is an export of the rows the kernel holds: audited as one."""
    _client.connect(channel="magic").export(frame, "csv", path, overwrite=True)


def whoami() -> dict[str, Any]:
    return _client.connect().whoami()


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module_name, attribute = _LAZY[name]
        module = importlib.import_module(module_name, __name__)
        return module if attribute is None else getattr(module, attribute)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_ipython_extension(shell: InteractiveShell) -> None:
    """``%load_ext dap_kernel`` registers the ``%dap`` / ``%%dap`` magics."""
    from .magics import DapMagics

    # B604: "shell" is the IPython shell, not a system one.
    magics = DapMagics(shell=shell)  # nosec B604
    shell.register_magics(magics)
    shell.configurables.append(magics)  # type: ignore[arg-type]  # %config DapMagics.x
    from .grid import install

    install(shell, _audited_download)  # results display through the DAP grid
