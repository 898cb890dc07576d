"""Query engines behind the governed path. Only ``session`` talks to them."""

from __future__ import annotations

from .base import Binding, Engine

__all__ = ["Binding", "Engine", "create_engine"]


def create_engine(name: str, **options: object) -> Engine:
    """Engines are chosen by name (``DAP_ENGINE``) so deployments swap them by config."""
    if name == "duckdb":
        from .duckdb import DuckDBEngine

        return DuckDBEngine(**options)  # type: ignore[arg-type]
    from ..errors import ConfigError

    raise ConfigError(f"unknown engine {name!r}")
