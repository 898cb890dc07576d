"""Exports of a card or a whole dashboard in its current filter state (CSV, Excel, PDF).

The files come from :func:`dap_kernel.export.export`, so they are the same as ``dap export``
writes; :func:`.markup.download_link` offers one to the browser.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from .sqlgen import DashboardError

if TYPE_CHECKING:
    import plotly.graph_objects as go


def _figures(figures: Sequence[go.Figure | None]) -> list[go.Figure]:
    return [f for f in figures if f is not None]


def _export(
    frame: pl.DataFrame | None,
    fmt: str,
    path: Path,
    *,
    title: str,
    description: str = "",
    sheets: Mapping[str, pl.DataFrame] | None = None,
    charts: Sequence[go.Figure] = (),
) -> Path:
    """Through :func:`dap_kernel.export.export`: the same files as ``dap export`` writes."""
    if fmt not in ("csv", "xlsx", "pdf"):
        raise DashboardError(f"unknown export format {fmt!r}: use csv, xlsx or pdf")
    from ..export import export

    kwargs: dict[str, Any] = {"title": title, "description": description}
    if fmt != "csv":
        kwargs["charts"] = list(charts)
        if sheets:
            kwargs["sheets"] = dict(sheets)
    return Path(export(frame, to=fmt, path=path, **kwargs))


def _slug(text: str) -> str:
    slug = "".join(ch.lower() if ch.isalnum() else "-" for ch in text).strip("-")
    return "-".join(p for p in slug.split("-") if p) or "dashboard"
