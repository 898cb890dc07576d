"""The experiment card of a dashboard: a spec of definitions, analysed as the viewer at every
refresh, drawn in the page (table, SRM banner, forest plot) and exported like other cards."""

from __future__ import annotations

import html
import json
from pathlib import Path

import openpyxl
import pytest

from dap_kernel.dashboards import Dashboard
from dap_kernel.dashboards.charts import PLOTLY_MIME
from dap_kernel.dashboards.experiment import ExperimentCard
from dap_kernel.experiments import Metric, analyze
from tests.experiments.conftest import EXPERIMENT, Lab

POST = Metric("post", sql="SELECT customer_id AS unit, post AS value FROM activity")
CUPED = Metric(
    "post_cuped",
    sql="SELECT customer_id AS unit, post AS value FROM activity",
    pre_sql="SELECT customer_id AS unit, pre AS value FROM activity",
)
CONVERTED = Metric(
    "converted",
    sql="SELECT customer_id AS unit, CAST(converted AS INT) AS value FROM activity",
    kind="proportion",
)
METRICS = [POST, CUPED, CONVERTED]


def board(lab: Lab, user: str, exposures: str = "exposures") -> tuple[Dashboard, ExperimentCard]:
    d = Dashboard("Checkout test", session=lab.session(user))
    card = d.experiment(EXPERIMENT, METRICS, exposures=exposures, title="New checkout")
    return d, card


def test_the_card_shows_the_analysts_own_analysis(governed_lab: Lab) -> None:
    d, card = board(governed_lab, "ann")
    d.refresh()
    ref = analyze(EXPERIMENT, METRICS, exposures="exposures", session=governed_lab.session("ann"))
    assert card.result is not None and card.error == ""
    assert card.result.units == ref.units and card.result.metrics == ref.metrics
    assert card.frame is not None  # what the exports write: the result's table, with units
    assert card.frame.drop("control_units", "treatment_units").equals(ref.to_polars())
    assert card.frame["control_units"].to_list() == [m.control_n for m in ref.metrics]
    page = card.html()
    for n in ref.units:
        assert f"<td class='num'>{n:,}</td>" in page
    for m in ref.metrics:
        assert f"{m.lift * 100:+.2f}%" in page and f"{m.chance_to_beat_control:.1%}" in page
        assert f"{m.control_mean:.4g}" in page
    assert "class='dap-plot'" in page and "Sample ratio mismatch" not in page
    figure = json.loads(html.unescape(page.split("data-dap-figure='")[1].split("'")[0]))
    assert figure["data"][0]["y"] == [m.metric for m in ref.metrics]
    assert figure["data"][0]["x"] == pytest.approx([m.lift * 100 for m in ref.metrics])


def test_a_row_filtered_viewer_sees_other_numbers(governed_lab: Lab) -> None:
    ann_d, ann = board(governed_lab, "ann")
    raj_d, raj = board(governed_lab, "raj")
    ann_d.refresh()
    raj_d.refresh()
    assert ann.result is not None and raj.result is not None
    assert sum(ann.result.units) + sum(raj.result.units) == governed_lab.activity.height
    assert ann.result.units != raj.result.units
    ref = analyze(EXPERIMENT, METRICS, exposures="exposures", session=governed_lab.session("raj"))
    assert raj.result.metrics == ref.metrics
    assert f"{ann.result.units[0]:,}" not in raj.html()


def test_a_viewer_without_a_grant_gets_the_refusal_and_no_numbers(governed_lab: Lab) -> None:
    d, card = board(governed_lab, "bob")
    d.refresh()
    assert card.result is None and card.frame is None
    assert "may not SELECT" in card.error
    page = card.html()
    assert "dap-error" in page and "dap-plot" not in page and "<td" not in page
    assert card.export("csv") is None
    admin = analyze(EXPERIMENT, METRICS, exposures="exposures", session=governed_lab.session())
    assert f"{admin.units[0]:,}" not in page


def test_the_spec_holds_definitions_only(governed_lab: Lab) -> None:
    d, card = board(governed_lab, "ann")
    d.refresh()
    assert card.result is not None
    spec = card.spec()
    text = json.dumps(spec)  # plain JSON
    assert set(spec) == {"kind", "title", "width", "exposures", "experiment", "metrics", "options"}
    for m in card.result.metrics:
        for value in (m.pvalue, m.control_mean, m.treatment_mean, m.lift):
            assert repr(value) not in text and f"{value:.6f}" not in text
    assert all(str(n) not in text for n in card.result.units)
    experiment, metrics = ExperimentCard.definitions(json.loads(text))
    assert experiment == EXPERIMENT and metrics == METRICS


def test_the_srm_banner_shows_when_the_split_is_off(lab: Lab) -> None:
    s = lab.session()
    s.query(
        "CREATE TABLE main.broken AS SELECT * FROM exposures "
        "WHERE variant = 'control' OR customer_id % 7 <> 0"
    )
    d, card = board(lab, "tester", exposures="broken")
    d.refresh()
    assert card.result is not None and card.result.srm
    assert "Sample ratio mismatch" in card.html() and "dap-srm" in card.html()


def test_the_page_the_preview_and_the_exports(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import IPython.display

    shown: list[tuple[dict, dict]] = []
    monkeypatch.setattr(IPython.display, "display", lambda o, **kw: shown.append((o, kw)))
    monkeypatch.setenv("VOILA_KERNEL_ID", "k")  # the Voilà page: the grid as a static output
    d, card = board(lab, "tester")
    d.kpi("post", source="activity", title="Post")
    d.show()
    grid = [o for o, kw in shown if kw.get("metadata", {}).get("dap", {}).get("static")][-1]
    assert "dap-experiment" in grid["text/html"] and "data-dap-figure=" in grid["text/html"]
    previews = [o for o, kw in shown if kw.get("metadata", {}).get("dap", {}).get("preview")]
    assert len(previews) == 1 and previews[0][PLOTLY_MIME]["data"]
    card.act("export", "csv")
    assert "dap-download-link" in card.download
    book = d.export("xlsx", tmp_path / "board.xlsx")
    assert book is not None and "New checkout" in openpyxl.load_workbook(book).sheetnames
