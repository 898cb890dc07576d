"""Charts over plotly: ``dap.chart(data, kind, x=, y=, color=, title=, **options)``.

Kinds: bar, line, area, scatter, histogram, box, heatmap, pie, funnel, kpi, cohort, waterfall,
plus any registered with ``@dap.chart_type("name")``. Without a kind, :func:`infer_kind` picks
one from the column types. Every figure has the DAP look (:mod:`.theme`), no fixed width, and
``layout.meta["dap"]`` = ``{"kind", "x", "y", "color", "rows", …}`` for drill-down.
"""

from __future__ import annotations

from . import cohort as _cohort  # noqa: F401  (registers the kind)
from . import kinds as _kinds  # noqa: F401  (registers the kinds)
from . import kpi as _kpi  # noqa: F401  (registers the kind)
from .build import auto_title, chart, to_frame
from .errors import ChartError
from .images import to_image, to_images
from .infer import infer_kind
from .registry import CHART_TYPES, chart_type
from .shaping import MAX_POINTS
from .theme import template

__all__ = [
    "CHART_TYPES",
    "MAX_POINTS",
    "ChartError",
    "auto_title",
    "chart",
    "chart_type",
    "infer_kind",
    "template",
    "to_frame",
    "to_image",
    "to_images",
]
