"""A dashboard made from a query builder query: the builder's "Save as dashboard".

The builder's spec is built again here (:func:`~dap_kernel.querybuild.build_query`, every
name checked against what the *publisher* may read), and the dashboard notebook is generated
from it and published like any other (:func:`.store.publish`: CREATE on dashboards, audited,
grants). The generated notebook holds the query's SQL, never its rows: each viewer's kernel runs
it as the viewer, under the viewer's own grants, row filters and masks.

The notebook's code is generated, so everything a caller typed (title, description, the SQL
with its filter values) enters it only as a Python string literal written by :func:`repr`, and
:func:`notebook_for` parses the result back to check that it holds no other expression — a
title cannot become code in every viewer's kernel.
"""

from __future__ import annotations

import ast
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DapError
from ..querybuild import BuiltQuery, QuerySpec, build_query
from .store import DashboardInfo, publish

if TYPE_CHECKING:
    from ..session import Session

CHART_KINDS = ("bar", "line", "scatter")
TABLE_ROWS = 100  # rows the generated table card shows, at most the query's own limit


@dataclass(frozen=True)
class ChartChoice:
    """The builder's chart: a kind and two output columns of the query."""

    kind: str
    x: str
    y: str


def publish_query(
    session: Session,
    name: str,
    spec: QuerySpec,
    *,
    title: str = "",
    description: str = "",
    chart: ChartChoice | None = None,
    grants: Sequence[str] = (),
) -> DashboardInfo:
    """Publish the builder query ``spec`` as dashboard ``name``, owned by the caller."""
    built = build_query(spec, lambda table: _readable_columns(session, table))
    nb = notebook_for(built, title=title or name, description=description, chart=chart)
    with tempfile.TemporaryDirectory(prefix="dap-dashboard-") as tmp:
        path = Path(tmp) / f"{name}.ipynb"
        path.write_text(nb, encoding="utf-8")
        return publish(path, name=name, description=description, grants=grants, session=session)


def _readable_columns(session: Session, table: str) -> list[tuple[str, str]]:
    return [(c.name, c.data_type) for c in session.describe(table).columns]


def notebook_for(
    built: BuiltQuery, *, title: str, description: str = "", chart: ChartChoice | None = None
) -> str:
    """The dashboard notebook (nbformat 4 JSON) of one built query: a chart, then its rows."""
    import nbformat

    code = _dashboard_code(built, title=title, description=description, chart=chart)
    _check_literal_only(code)
    nb = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    nb.metadata["dap"] = {"title": title, "generated_from": "query builder"}
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3",
        "language": "python",
        "name": "python3",
    }
    nb.cells = [
        nbformat.v4.new_code_cell(code),  # type: ignore[no-untyped-call]
        nbformat.v4.new_code_cell("d.show();"),  # type: ignore[no-untyped-call]
    ]
    text: str = nbformat.writes(nb)  # type: ignore[no-untyped-call]
    return text


def _dashboard_code(
    built: BuiltQuery, *, title: str, description: str, chart: ChartChoice | None
) -> str:
    lines = [
        "# Made from a query builder query. Every query runs as the viewer.",
        "from dap_kernel.dashboards import Dashboard",
        "",
        f"SOURCE = {built.display_sql!r}",
        "",
        f"d = Dashboard({title!r}, description={description!r}, source=SOURCE)",
    ]
    if chart is not None:
        _check_chart(chart, built.columns)
        agg = "None" if chart.kind == "scatter" else "'sum'"
        lines.append(
            f"d.chart(kind={chart.kind!r}, x={chart.x!r}, y={chart.y!r}, agg={agg}, "
            f"title={f'{chart.y} by {chart.x}'!r}, cross_filter=False, width=12)"
        )
    lines.append(f"d.table(columns={list(built.columns)!r}, limit={TABLE_ROWS}, title='Rows')")
    return "\n".join(lines) + "\n"


def _check_chart(chart: ChartChoice, columns: Sequence[str]) -> None:
    if chart.kind not in CHART_KINDS:
        raise DapError(f"chart kind {chart.kind!r}: use {', '.join(CHART_KINDS)}")
    for axis, column in (("x", chart.x), ("y", chart.y)):
        if column not in columns:
            raise DapError(
                f"chart {axis}={column!r} is not a column of the query ({', '.join(columns)})"
            )


# What the generated code may contain besides string, number, None and list literals.
_NAMES = {"Dashboard", "SOURCE", "d", "None"}
_CALLS = {"Dashboard", "d.chart", "d.table", "d.show"}


def _check_literal_only(code: str) -> None:
    """Fail closed if the generated code is anything but the expected calls on literals."""
    if any(_unexpected(node) for node in ast.walk(ast.parse(code))):
        raise DapError("the dashboard could not be generated")


def _unexpected(node: ast.AST) -> bool:
    if isinstance(node, ast.Call):
        return ast.unparse(node.func) not in _CALLS
    if isinstance(node, ast.Name):
        return node.id not in _NAMES
    return isinstance(node, (ast.JoinedStr, ast.Lambda, ast.Subscript, ast.BinOp))
