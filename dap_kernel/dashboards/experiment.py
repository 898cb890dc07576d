"""An experiment card: an A/B test's results, analysed as the viewer when the page is drawn.

The card keeps a *spec* only: the :class:`~dap_kernel.experiments.Experiment` and its
:class:`~dap_kernel.experiments.Metric` definitions, the exposures source and the analysis
options (:meth:`ExperimentCard.spec`, plain JSON). No result is stored with it: every refresh
runs :func:`~dap_kernel.experiments.analyze` through the dashboard's session, which is the
viewer's (:mod:`.identity`), so the viewer's grants, row filters and masks decide the numbers
(an analyst limited to EMEA sees EMEA's experiment), and a viewer who may not read the
exposures gets the card's error in place of the figures, like any other card.

Drawn: the sample-ratio banner when the split is off, the units per variant, one row per
metric and treatment (control and treatment means, lift with its interval, p-value, adjusted
p-value, chance to beat control) and the forest plot (a figure for the page's plotly.js, as
charts are). The dashboard's filters do not narrow the analysis: an experiment is analysed
on every unit the viewer may see.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from ..errors import DapError
from ..experiments.definition import Experiment
from ..experiments.metrics import Metric
from .cards import Board, Component
from .charts import PLOTLY_CONFIG, PLOTLY_MIME
from .markup import _esc, html_table, plot_div
from .sqlgen import DashboardError

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ..experiments.results import ExperimentResult

OPTIONS = ("alpha", "correction", "sequential", "unique_exposures", "variant_column", "exposed_at")


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _pct(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{x * 100:+.2f}%"


def _p(x: float) -> str:
    if math.isnan(x):
        return "–"
    return "<0.0001" if x < 1e-4 else f"{x:.4f}"


class ExperimentCard(Component):
    """Per-variant results of one experiment on its metrics, with the SRM banner and the
    forest plot; analysed through the viewer's session at every refresh."""

    kind = "experiment"
    placeholder = "<div class='dap-experiment-body'>…</div>"

    def __init__(
        self,
        dashboard: Board,
        experiment: Experiment,
        metrics: Sequence[Metric],
        *,
        exposures: str,
        title: str,
        width: int,
        options: Mapping[str, Any],
        height: int = 0,
    ) -> None:
        if not isinstance(experiment, Experiment):
            raise DashboardError("experiment(): give an Experiment(…)")
        metric_list = [metrics] if isinstance(metrics, Metric) else list(metrics)
        if not metric_list or not all(isinstance(m, Metric) for m in metric_list):
            raise DashboardError("experiment(): give one or more Metric(…)")
        unknown = set(options) - set(OPTIONS)
        if unknown:
            raise DashboardError(f"experiment(): unknown options {', '.join(sorted(unknown))}")
        self.experiment = experiment
        self.metrics = metric_list
        self.options = dict(options)
        self.height = height or 160 + 40 * len(metric_list) * len(experiment.treatments)
        self.result: ExperimentResult | None = None
        self.plotly: dict[str, Any] | None = None
        super().__init__(dashboard, exposures, title, width)

    # -- the spec ------------------------------------------------------------------------------

    def spec(self) -> dict[str, Any]:
        """What the card is: definitions only (plain JSON), never a result."""
        experiment = {k: _plain(v) for k, v in asdict(self.experiment).items()}
        experiment["variants"] = list(self.experiment.variants)
        experiment["weights"] = list(self.experiment.weights)
        return {
            "kind": self.kind,
            "title": self.title,
            "width": self.width,
            "exposures": self.source,
            "experiment": experiment,
            "metrics": [asdict(m) for m in self.metrics],
            "options": dict(self.options),
        }

    @staticmethod
    def definitions(spec: Mapping[str, Any]) -> tuple[Experiment, list[Metric]]:
        """The experiment and metrics of a :meth:`spec` (checked as when first written)."""
        try:
            experiment = Experiment(**spec["experiment"])
            names = {f.name for f in fields(Metric)}
            metrics = [
                Metric(**{k: v for k, v in m.items() if k in names}) for m in spec["metrics"]
            ]
        except (KeyError, TypeError) as e:
            raise DashboardError(f"not an experiment card's spec: {e}") from None
        return experiment, metrics

    # -- running -------------------------------------------------------------------------------

    def columns(self) -> list[str]:
        """No columns for the dashboard's filters: they do not narrow an experiment."""
        return []

    def run(self) -> None:
        """Analyse as the viewer; an error (no grant, a bad metric) shows in the card only."""
        from ..experiments.analysis import analyze

        try:
            result = analyze(
                self.experiment,
                self.metrics,
                exposures=self.source,
                session=self.dashboard.session,
                **self.options,
            )
        except DapError as e:
            self.result = None
            self.plotly = None
            self.show_error(e.message)
            return
        self.result = result
        self.sql = "\n".join(result.sql)
        frame = result.to_polars().with_columns(
            pl.Series("control_units", [m.control_n for m in result.metrics]),
            pl.Series("treatment_units", [m.treatment_n for m in result.metrics]),
        )
        self.show_frame(frame)  # what the exports write: the result's table, with units

    def draw(self) -> None:
        r = self.result
        assert r is not None
        parts = ["<div class='dap-experiment-body'>"]
        if r.srm:
            parts.append(
                "<div class='dap-error dap-srm' role='alert'><b>Sample ratio mismatch</b> "
                f"(p = {r.srm_pvalue:.2g} &lt; 0.001): the units per variant do not match the "
                "planned weights, so these results are not trustworthy. Check the assignment "
                "and the exposure logging first.</div>"
            )
        total = sum(r.units) or 1
        split = pl.DataFrame(
            {
                "variant": list(r.variants),
                "units": list(r.units),
                "share": [f"{n / total:.1%}" for n in r.units],
                "planned": [f"{w:.0%}" for w in r.expected_weights],
            }
        )
        parts.append(html_table(split, {"units": "{:,}"}))
        if r.mixed_units:
            parts.append(
                f"<p class='dap-note'>{r.mixed_units:,} units seen in several variants are "
                "left out.</p>"
            )
        rows = pl.DataFrame(
            {
                "metric": [m.metric for m in r.metrics],
                "variant": [m.variant for m in r.metrics],
                "control": [m.control_mean for m in r.metrics],
                "treatment": [m.treatment_mean for m in r.metrics],
                "lift": [_pct(m.lift) for m in r.metrics],
                f"{1 - r.alpha:.0%} CI": [
                    f"[{_pct(m.lift_ci[0])}, {_pct(m.lift_ci[1])}]" for m in r.metrics
                ],
                "p-value": [_p(m.pvalue) for m in r.metrics],
                "adjusted p": [_p(m.adjusted_pvalue) for m in r.metrics],
                "chance to beat control": [f"{m.chance_to_beat_control:.1%}" for m in r.metrics],
            }
        )
        parts.append(html_table(rows, {"control": "{:.4g}", "treatment": "{:.4g}"}))
        fig = self.figure()
        assert fig is not None
        self.plotly = {**json.loads(fig.to_json()), "config": PLOTLY_CONFIG}
        label = f"{self.title}: lift of {len(r.metrics)} metric comparisons"
        parts.append(plot_div(self.plotly, self.height, label))
        parts.append(f"<p class='dap-note'>correction: {_esc(r.correction)}</p></div>")
        self.body = "".join(parts)

    def figure(self) -> go.Figure | None:
        """The forest plot (lift and interval per metric), for the page and the exports."""
        if self.result is None:
            return None
        fig = self.result.plot()
        fig.update_layout(height=self.height, autosize=True, margin={"l": 8, "r": 8, "b": 8})
        return fig

    def preview_bundle(self) -> dict[str, Any]:
        """The forest plot as its own output in a notebook preview (see the charts')."""
        label = self.title or "Experiment"
        bundle: dict[str, Any] = {
            "text/html": f"<div class='dap-chart-preview' data-dap-card='{self.index}'></div>",
            "text/plain": label if self.plotly is not None else f"{label}: {self.error}",
        }
        if self.plotly is not None:
            bundle[PLOTLY_MIME] = self.plotly
        return bundle
