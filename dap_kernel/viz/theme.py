"""The DAP look: one plotly template, so every chart in a notebook, dashboard or PDF matches.

Charts never get a fixed width (``autosize``): the Voilà grid and the notebook decide it, and a
phone gets a chart as wide as its screen. The template is registered as ``"dap"`` in
``plotly.io.templates`` but not made the global default: importing DAP changes nobody's charts.
"""

from __future__ import annotations

import functools
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

# Distinguishable for the common colour-vision deficiencies, readable on white.
COLORWAY = (
    "#2563eb",  # blue
    "#f59e0b",  # amber
    "#10b981",  # green
    "#ef4444",  # red
    "#8b5cf6",  # violet
    "#06b6d4",  # cyan
    "#ec4899",  # pink
    "#84cc16",  # lime
    "#f97316",  # orange
    "#64748b",  # slate
)
SEQUENTIAL = (
    (0.0, "#eff6ff"),
    (0.25, "#bfdbfe"),
    (0.5, "#60a5fa"),
    (0.75, "#2563eb"),
    (1.0, "#1e3a8a"),
)
POSITIVE = "#10b981"
NEGATIVE = "#ef4444"
TOTAL = "#2563eb"
FONT = "Inter, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
TEXT = "#1f2937"
MUTED = "#6b7280"


@functools.cache
def template() -> go.layout.Template:
    """Built once and registered as ``"dap"`` (``fig.update_layout(template="dap")`` works too)."""
    dap = go.layout.Template(pio.templates["plotly_white"])
    dap.layout.update(
        colorway=list(COLORWAY),
        colorscale={"sequential": [list(stop) for stop in SEQUENTIAL]},
        font={"family": FONT, "size": 13, "color": TEXT},
        title={"x": 0.0, "xref": "paper", "xanchor": "left", "y": 0.97, "font": {"size": 17}},
        margin={"l": 56, "r": 24, "t": 64, "b": 48, "pad": 2},
        legend={
            "orientation": "h",
            "yanchor": "top",
            "y": -0.15,
            "xanchor": "left",
            "x": 0.0,
            "title": {"text": ""},
        },
        hoverlabel={"font": {"family": FONT, "size": 12}},
        separators=".,",
    )
    dap.layout.xaxis.update(automargin=True, title={"standoff": 8})
    dap.layout.yaxis.update(automargin=True, title={"standoff": 8})
    pio.templates["dap"] = dap
    return dap


def style(figure: go.Figure) -> go.Figure:
    """Apply the DAP look and responsive sizing to any figure (also to custom chart types)."""
    figure.update_layout(template=template(), autosize=True, width=None)
    return figure


def empty_figure(message: str = "no data") -> go.Figure:
    """A blank chart with a message in the middle: what a query with no rows draws."""
    figure = go.Figure()
    figure.add_annotation(
        text=message,
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font={"size": 16, "color": MUTED},
    )
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    return figure


def merge_meta(figure: go.Figure, dap: dict[str, Any]) -> None:
    """Put ``dap`` under ``layout.meta["dap"]``; keys a chart type already set there win."""
    meta = figure.layout.meta
    current = dict(meta) if isinstance(meta, dict) else {}
    own_meta = current.get("dap")
    own = own_meta if isinstance(own_meta, dict) else {}
    current["dap"] = {**dap, **own}
    figure.layout.meta = current
