"""Query engines behind the governed path. Only ``session`` talks to them."""

from __future__ import annotations

from pathlib import Path

from ..settings import ENGINES
from .base import Binding, Engine

__all__ = ["ENGINES", "Binding", "Engine", "create_engine"]


def create_engine(
    name: str,
    *,
    lake_dir: Path,
    threads: int = 0,
    memory_limit: str = "",
    spark_master: str = "",
    spark_remote: str = "",
    clickhouse_url: str = "",
) -> Engine:
    """Engines are chosen by name (``DAP_ENGINE``) so deployments swap them by config."""
    if name == "duckdb":
        from .duckdb import DuckDBEngine

        return DuckDBEngine(lake_dir=lake_dir, threads=threads, memory_limit=memory_limit)
    if name == "chdb":
        from .chdb import ChdbEngine

        return ChdbEngine(lake_dir=lake_dir, threads=threads, memory_limit=memory_limit)
    if name == "spark":
        from .spark import SparkEngine

        return SparkEngine(
            lake_dir=lake_dir,
            threads=threads,
            memory_limit=memory_limit,
            master=spark_master,
            remote=spark_remote,
        )
    if name == "clickhouse":
        from .clickhouse import ClickHouseEngine

        return ClickHouseEngine(clickhouse_url, lake_dir=lake_dir, threads=threads)
    from ..errors import ConfigError

    raise ConfigError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
