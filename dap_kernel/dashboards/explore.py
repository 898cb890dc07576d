"""Self-service Explore: a dataset, measures, dimensions, filters and a chart type — no code.

The choices become a :class:`~dap_kernel.querybuild.QuerySpec`; :func:`build_query` checks every
name against the columns the viewer may see and writes SQL with bound values, which the
viewer's own session runs (grants, row filters and masks apply as everywhere).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import polars as pl

from ..errors import DapError
from ..querybuild import AggregateSpec, BuiltQuery, FilterSpec, OrderSpec, QuerySpec, build_query
from .charts import PLOTLY_CONFIG, make_figure
from .exports import _export
from .identity import prewarm, viewer_session
from .markup import _esc, download_link, html_table, plot_div

if TYPE_CHECKING:
    from ..client import DapClient

AGGREGATES = ("count", "sum", "avg", "min", "max", "count_distinct")
KINDS = ("bar", "line", "area", "pie", "table")
OPS = ("=", "!=", ">", ">=", "<", "<=", "in", "contains", "is null", "is not null")
NONE = "(none)"
NUMERIC = ("INT", "BIGINT", "SMALLINT", "TINYINT", "HUGEINT", "DOUBLE", "FLOAT", "REAL", "DECIMAL")


def _is_numeric(sql_type: str) -> bool:
    upper = sql_type.upper()
    return upper.startswith(NUMERIC) or upper.startswith("UINT") or upper.startswith("UBIGINT")


class FilterRow:
    """One condition: column, operator, value (typed as text; read by the column's type)."""

    def __init__(self, explore: Explore) -> None:
        self.explore = explore
        self.column = w.Dropdown(options=explore.column_names(), layout=w.Layout(width="auto"))
        self.op = w.Dropdown(options=OPS, value="=", layout=w.Layout(width="auto"))
        self.value = w.Text(placeholder="value (a, b for in)", layout=w.Layout(width="auto"))
        self.remove = w.Button(
            description="×", tooltip="Remove this filter", _dom_classes=["dap-pick"]
        )
        self.remove.on_click(lambda _b: explore.remove_filter(self))
        self.box = w.HBox(
            [self.column, self.op, self.value, self.remove], _dom_classes=["dap-filter-row"]
        )
        self.box.layout.flex_flow = "row wrap"
        for widget in (self.column, self.op, self.value):
            widget.observe(lambda _c: explore.run(), names="value")

    def spec(self) -> FilterSpec | None:
        op = self.op.value
        text = self.value.value.strip()
        if op in ("is null", "is not null"):
            return FilterSpec(column=self.column.value, op=op)
        if not text:
            return None
        value: Any = [v.strip() for v in text.split(",") if v.strip()] if op == "in" else text
        return FilterSpec(column=self.column.value, op=op, value=value)


class Explore:
    """The Explore page: controls on top, the chart, the SQL it ran, the rows."""

    def __init__(self, *, session: DapClient | None = None, table: str | None = None) -> None:
        self._session = session
        self._initial_table = table
        self.columns: list[tuple[str, str]] = []
        self.frame: pl.DataFrame | None = None
        self.built: BuiltQuery | None = None
        self.figure: Any = None
        self.error = ""
        self._quiet = False
        self.filters: list[FilterRow] = []
        self.dataset = w.Dropdown(description="", layout=w.Layout(width="auto"))
        self.agg = w.Dropdown(options=AGGREGATES, value="count", layout=w.Layout(width="auto"))
        self.measure = w.Dropdown(options=[NONE], layout=w.Layout(width="auto"))
        self.dimension = w.Dropdown(options=[NONE], layout=w.Layout(width="auto"))
        self.split = w.Dropdown(options=[NONE], layout=w.Layout(width="auto"))
        self.kind = w.ToggleButtons(options=KINDS, value="bar", _dom_classes=["dap-kinds"])
        self.kind.style.button_width = "auto"
        self.limit = w.BoundedIntText(value=50, min=1, max=10_000, layout=w.Layout(width="90px"))
        self.add = w.Button(description="Add filter", icon="plus", _dom_classes=["dap-add-filter"])
        self.filter_box = w.VBox(_dom_classes=["dap-filter-rows"])
        self.status = w.HTML(_dom_classes=["dap-status"])
        # The chart is a figure in HTML that the template's plotly.js draws (no plotly widget).
        self.chart = w.HTML(_dom_classes=["dap-chart-body"])
        self.sql = w.HTML(_dom_classes=["dap-sql"])
        self.table = w.HTML()
        self.download = w.HTML(_dom_classes=["dap-download"])
        self.widget = w.VBox(_dom_classes=["dap-dashboard", "dap-explore"])
        prewarm()

    @property
    def session(self) -> DapClient:
        if self._session is None:
            self._session = viewer_session()
        return self._session

    # -- layout --------------------------------------------------------------------------------

    def _labelled(self, label: str, widget: w.Widget) -> w.Widget:
        return w.VBox(
            [w.HTML(f"<span class='dap-filter-label'>{_esc(label)}</span>"), widget],
            _dom_classes=["dap-filter"],
        )

    def build(self) -> w.Widget:
        header = w.Box(
            [
                w.HTML(
                    "<h1 class='dap-title'>Explore</h1><p class='dap-description'>Pick a "
                    "dataset, what to measure and how to break it down.</p>",
                    _dom_classes=["dap-heading"],
                ),
                self.status,
                self.download,
            ],
            _dom_classes=["dap-header"],
        )
        controls = w.Box(
            [
                self._labelled("Dataset", self.dataset),
                self._labelled("Measure", w.HBox([self.agg, self.measure])),
                self._labelled("By", self.dimension),
                self._labelled("Split by", self.split),
                self._labelled("Chart", self.kind),
                self._labelled("Rows", self.limit),
            ],
            _dom_classes=["dap-filters"],
        )
        filters = w.VBox(
            [self.filter_box, self.add], _dom_classes=["dap-filters", "dap-explore-filters"]
        )
        exports = []
        for fmt in ("csv", "xlsx"):
            b = w.Button(description=fmt.upper(), _dom_classes=["dap-export", f"dap-export-{fmt}"])
            b.on_click(lambda _b, fmt=fmt: self.export(fmt))
            exports.append(b)
        head = w.HBox(
            [
                w.HTML("<h3 class='dap-card-title'>Result</h3>"),
                w.HBox(exports, _dom_classes=["dap-card-actions"]),
            ],
            _dom_classes=["dap-card-head"],
        )
        self.card = w.VBox(
            [head, self.chart, self.table, self.sql],
            _dom_classes=["dap-card", "dap-w-12", "dap-chart", "dap-explore-result"],
        )
        self.widget.children = (
            header,
            controls,
            filters,
            w.Box([self.card], _dom_classes=["dap-grid"]),
        )
        self.dataset.observe(lambda _c: self._dataset_changed(), names="value")
        for widget in (self.agg, self.measure, self.dimension, self.split, self.kind, self.limit):
            widget.observe(lambda _c: self.run(), names="value")
        self.add.on_click(lambda _b: self.add_filter())
        return self.widget

    def show(self) -> w.Widget:
        from IPython.display import display

        self.build()
        display(self.widget)  # type: ignore[no-untyped-call]
        self.start()
        return self.widget

    def start(self) -> None:
        """List the datasets the viewer may read and show the first one."""
        try:
            tables = [t.qualified_name for t in self.session.visible_tables()]
        except DapError as e:
            self.status.value = f"<span class='dap-error' role='alert'>{_esc(e.message)}</span>"
            return
        if not tables:
            self.status.value = "<span class='dap-error'>You may not read any dataset.</span>"
            return
        self._quiet = True
        self.dataset.options = tables
        self._quiet = False
        wanted = self._initial_table
        self.dataset.value = wanted if wanted in tables else tables[0]
        if self.dataset.value == tables[0] and wanted in (None, tables[0]):
            self._dataset_changed()

    # -- choices -------------------------------------------------------------------------------

    def column_names(self) -> list[str]:
        return [n for n, _ in self.columns]

    def _dataset_changed(self) -> None:
        if self._quiet or not self.dataset.value:
            return
        info = self.session.describe(self.dataset.value)  # only the columns the viewer may see
        self.columns = [(c.name, c.data_type) for c in info.columns]
        # Keys are numbers too, but nobody sums them: the default measure is a real quantity.
        numeric = [
            n for n, t in self.columns if _is_numeric(t) and not (n == "id" or n.endswith("_id"))
        ]
        dims = [n for n, t in self.columns if not _is_numeric(t)] or self.column_names()
        self._quiet = True
        try:
            self.measure.options = [NONE, *self.column_names()]
            self.measure.value = numeric[0] if numeric else NONE
            self.agg.value = "sum" if numeric else "count"
            self.dimension.options = [NONE, *self.column_names()]
            self.dimension.value = dims[0] if dims else NONE
            self.split.options = [NONE, *self.column_names()]
            self.split.value = NONE
            for row in list(self.filters):
                row.box.close()
            self.filters.clear()
            self.filter_box.children = ()
        finally:
            self._quiet = False
        self.run()

    def add_filter(self) -> FilterRow:
        row = FilterRow(self)
        self.filters.append(row)
        self.filter_box.children = tuple(r.box for r in self.filters)
        return row

    def remove_filter(self, row: FilterRow) -> None:
        self.filters.remove(row)
        self.filter_box.children = tuple(r.box for r in self.filters)
        row.box.close()
        self.run()

    def spec(self) -> QuerySpec:
        """The visual choices as the query builder's spec."""
        group = [c for c in (self.dimension.value, self.split.value) if c != NONE]
        column = None if self.measure.value == NONE else self.measure.value
        agg = self.agg.value
        if column is None and agg != "count":
            agg = "count"
        alias = "value"
        filters = [f for f in (row.spec() for row in self.filters) if f is not None]
        order = (
            [OrderSpec(column=alias, descending=True)] if self.kind.value in ("bar", "pie") else []
        )
        if self.kind.value in ("line", "area") and group:
            order = [OrderSpec(column=group[0])]
        return QuerySpec(
            table=self.dataset.value,
            group_by=list(dict.fromkeys(group)),
            aggregates=[AggregateSpec(func=agg, column=column, alias=alias)],
            filters=filters,
            order_by=order,
            limit=int(self.limit.value),
        )

    # -- running -------------------------------------------------------------------------------

    def run(self) -> None:
        if self._quiet or not self.dataset.value:
            return
        self.card.add_class("dap-loading")
        try:
            spec = self.spec()
            known = {self.dataset.value: self.columns}
            self.built = build_query(spec, lambda name: known.get(name) or self._columns_of(name))
            result = self.session.query(self.built.sql, self.built.params, cache=True)
            frame = pl.from_arrow(result.table)
            assert isinstance(frame, pl.DataFrame)
            self.frame = frame
            self.error = ""
            self._draw(spec)
            self.status.value = (
                f"<span class='dap-refreshed'>{frame.height} rows from "
                f"{_esc(self.dataset.value)}</span>"
            )
        except DapError as e:
            self.frame = None
            self.error = e.message
            self.chart.value = ""
            self.table.value = ""
            self.status.value = f"<span class='dap-error' role='alert'>{_esc(e.message)}</span>"
        finally:
            self.card.remove_class("dap-loading")

    def _columns_of(self, name: str) -> list[tuple[str, str]]:
        info = self.session.describe(name)
        return [(c.name, c.data_type) for c in info.columns]

    def _draw(self, spec: QuerySpec) -> None:
        assert self.frame is not None and self.built is not None
        kind = self.kind.value
        x = spec.group_by[0] if spec.group_by else None
        if kind == "table" or x is None:
            self.chart.value = ""
        else:
            color = spec.group_by[1] if len(spec.group_by) > 1 else None
            fig = make_figure(self.frame, kind, x=x, y="value", color=color, title="")
            fig.update_layout(height=360, autosize=True, margin={"l": 8, "r": 8, "t": 8, "b": 8})
            self.figure = fig
            figure = {**json.loads(fig.to_json()), "config": PLOTLY_CONFIG}
            self.chart.value = plot_div(figure, 360, f"value by {x}")
        self.table.value = html_table(self.frame)
        self.sql.value = (
            "<details><summary>SQL</summary><pre class='dap-sql-text'>"
            f"{_esc(self.built.display_sql)}</pre></details>"
        )

    def export(self, fmt: str) -> Path | None:
        if self.frame is None:
            return None
        path = Path(tempfile.mkdtemp(prefix="dap-export-")) / f"explore.{fmt}"
        try:
            _export(self.frame, fmt, path, title=f"Explore {self.dataset.value}")
        except DapError as e:
            self.download.value = f"<span class='dap-error'>{_esc(e.message)}</span>"
            return None
        self.download.value = download_link(path)
        return path
