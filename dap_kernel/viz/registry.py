"""The chart types ``chart()`` knows, built-in and custom, by name.

A chart type is a function ``fn(frame, *, x, y, color, title, **options) -> go.Figure`` taking a
non-empty polars DataFrame whose named columns exist. ``chart()`` applies the DAP look and the
drill-down metadata afterwards, so a custom type only draws.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

import plotly.graph_objects as go
import polars as pl

from .errors import ChartError


class ChartFn(Protocol):
    def __call__(
        self,
        frame: pl.DataFrame,
        *,
        x: Any,
        y: Any,
        color: Any,
        title: str | None,
        **options: Any,
    ) -> go.Figure: ...


F = TypeVar("F", bound=Callable[..., go.Figure])

CHART_TYPES: dict[str, Callable[..., go.Figure]] = {}


def chart_type(name: str, *, replace: bool = False) -> Callable[[F], F]:
    """Register ``fn`` as chart kind ``name``: ``@dap.chart_type("bullet")``.

    A second registration of the same name is refused unless ``replace=True``, so two
    notebooks' helpers cannot silently swap each other's charts.
    """
    key = name.strip().lower()
    if not key or not key.replace("_", "").replace("-", "").isalnum():
        raise ChartError(f"chart type name {name!r} must be letters, digits, '-' or '_'")

    def register(fn: F) -> F:
        if key in CHART_TYPES and not replace:
            raise ChartError(
                f"chart type {key!r} is already registered; pass replace=True to redefine it"
            )
        CHART_TYPES[key] = fn
        return fn

    return register


def get(kind: str) -> Callable[..., go.Figure]:
    """The chart function for ``kind``, or one line naming the known kinds."""
    key = kind.strip().lower()
    fn = CHART_TYPES.get(key)
    if fn is None:
        close = difflib.get_close_matches(key, list(CHART_TYPES), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ChartError(f"unknown chart kind {kind!r}{hint} known kinds: {known()}")
    return fn


def known() -> str:
    return ", ".join(sorted(CHART_TYPES))


def check_options(kind: str, fn: Callable[..., Any], options: Mapping[str, Any]) -> None:
    """A misspelt option (``nbin=``) is an error, not silently ignored, unless ``fn`` takes
    ``**options``."""
    parameters = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    accepted = [
        n
        for n, p in parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and n not in ("x", "y", "color", "title")
    ]
    unknown = [name for name in options if name not in accepted]
    if unknown:
        names = ", ".join(sorted(accepted)) or "none"
        raise ChartError(
            f"unknown option {', '.join(map(repr, unknown))} for a {kind} chart; "
            f"its options: {names}"
        )
