"""What an experiment analysis returns: a small frozen result with a table and a forest plot.

``ExperimentResult._repr_html_`` is the readable table (metric, control, treatment, lift with
its interval, p-value, adjusted p-value, chance to beat control) under a banner when the
sample-ratio check fails; :meth:`ExperimentResult.plot` draws the lifts and intervals (plotly,
imported when drawn).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SRM_THRESHOLD = 0.001


@dataclass(frozen=True)
class MetricResult:
    """One metric, one treatment against the control."""

    metric: str
    kind: str
    variant: str
    control: str
    control_n: int
    treatment_n: int
    control_mean: float
    treatment_mean: float
    difference: float
    difference_ci: tuple[float, float]
    lift: float
    lift_ci: tuple[float, float]
    pvalue: float
    adjusted_pvalue: float
    chance_to_beat_control: float
    test: str
    cuped: bool = False
    variance_reduction: float | None = None
    sequential: bool = False
    higher_is_better: bool = True

    def significant(self, alpha: float = 0.05) -> bool:
        return not math.isnan(self.adjusted_pvalue) and self.adjusted_pvalue < alpha


@dataclass(frozen=True)
class ExperimentResult:
    """Every metric's comparison, the units per variant and the sample-ratio check."""

    experiment: str
    variants: tuple[str, ...]
    units: tuple[int, ...]  # exposed units per variant, as the caller sees them
    expected_weights: tuple[float, ...]
    srm_pvalue: float
    mixed_units: int  # units seen in more than one variant (left out)
    metrics: tuple[MetricResult, ...]
    alpha: float
    correction: str
    sql: tuple[str, ...] = ()

    @property
    def srm(self) -> bool:
        """True when the split differs from the weights at p < 0.001: do not trust the rest."""
        return self.srm_pvalue < SRM_THRESHOLD

    def __getitem__(self, metric: str) -> MetricResult:
        for m in self.metrics:
            if m.metric == metric:
                return m
        raise KeyError(metric)

    def to_polars(self) -> Any:
        import polars as pl

        rows = [
            {
                "metric": m.metric,
                "variant": m.variant,
                "control_mean": m.control_mean,
                "treatment_mean": m.treatment_mean,
                "lift": m.lift,
                "lift_low": m.lift_ci[0],
                "lift_high": m.lift_ci[1],
                "pvalue": m.pvalue,
                "adjusted_pvalue": m.adjusted_pvalue,
                "chance_to_beat_control": m.chance_to_beat_control,
            }
            for m in self.metrics
        ]
        return pl.DataFrame(rows)

    def _repr_html_(self) -> str:
        return render_html(self)

    def plot(self) -> Any:
        """A forest plot: each metric's relative lift with its interval, zero marked."""
        import plotly.graph_objects as go

        labels = [
            f"{m.metric} ({m.variant})" if len(self.variants) > 2 else m.metric
            for m in self.metrics
        ]
        lifts = [m.lift * 100 for m in self.metrics]
        colours = [_colour(m, self.alpha) for m in self.metrics]
        fig = go.Figure(
            go.Scatter(
                x=lifts,
                y=labels,
                mode="markers",
                marker={"size": 10, "color": colours},
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": [(m.lift_ci[1] - m.lift) * 100 for m in self.metrics],
                    "arrayminus": [(m.lift - m.lift_ci[0]) * 100 for m in self.metrics],
                },
                hovertemplate="%{y}: %{x:.2f}%<extra></extra>",
            )
        )
        fig.add_vline(x=0, line_dash="dash", line_color="grey")
        title = f"{self.experiment}: lift vs {self.variants[0]}"
        if self.srm:
            title += " — sample ratio mismatch"
        fig.update_layout(
            title=title,
            xaxis_title="relative lift (%)",
            yaxis={"autorange": "reversed"},
            height=160 + 40 * len(self.metrics),
            template="plotly_white",
        )
        return fig


def _colour(m: MetricResult, alpha: float) -> str:
    if not m.significant(alpha):
        return "#7f7f7f"
    good = (m.lift > 0) == m.higher_is_better
    return "#2ca02c" if good else "#d62728"


def _pct(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{x * 100:+.2f}%"


def _num(x: float) -> str:
    if not math.isfinite(x):
        return "–"
    return f"{x:.4g}"


def _p(x: float) -> str:
    if math.isnan(x):
        return "–"
    return "<0.0001" if x < 1e-4 else f"{x:.4f}"


def _ci(ci: Sequence[float]) -> str:
    return f"[{_pct(ci[0])}, {_pct(ci[1])}]"


def render_html(r: ExperimentResult) -> str:
    esc = html.escape
    parts = ['<div class="dap-experiment">']
    if r.srm:
        parts.append(
            '<div style="background:#fde2e1;border:1px solid #d62728;padding:6px;margin:4px 0">'
            f"<b>Sample ratio mismatch</b> (p = {r.srm_pvalue:.2g} &lt; 0.001): the units per"
            " variant do not match the planned weights, so the results below are not"
            " trustworthy. Check assignment and exposure logging first.</div>"
        )
    split = ", ".join(
        f"{esc(v)}: {n:,} ({w:.0%} planned)"
        for v, n, w in zip(r.variants, r.units, r.expected_weights, strict=True)
    )
    parts.append(
        f"<p><b>{esc(r.experiment)}</b> — {split}; SRM p = {r.srm_pvalue:.3g}"
        + (f"; {r.mixed_units:,} units in several variants left out" if r.mixed_units else "")
        + f"; correction: {esc(r.correction)}</p>"
    )
    head = (
        "metric",
        "variant",
        "control",
        "treatment",
        "lift",
        f"{1 - r.alpha:.0%} CI",
        "p-value",
        "adjusted p",
        "chance to beat control",
    )
    parts.append('<table class="dap-experiment-table"><thead><tr>')
    parts.extend(f"<th>{esc(h)}</th>" for h in head)
    parts.append("</tr></thead><tbody>")
    for m in r.metrics:
        note = []
        if m.cuped and m.variance_reduction is not None:
            note.append(f"CUPED −{m.variance_reduction:.0%} var")
        if m.sequential:
            note.append("sequential")
        label = esc(m.metric) + (f" <small>({esc(', '.join(note))})</small>" if note else "")
        colour = _colour(m, r.alpha)
        cells = (
            label,
            esc(m.variant),
            _num(m.control_mean),
            _num(m.treatment_mean),
            f'<span style="color:{colour}"><b>{_pct(m.lift)}</b></span>',
            _ci(m.lift_ci),
            _p(m.pvalue),
            _p(m.adjusted_pvalue),
            f"{m.chance_to_beat_control:.1%}",
        )
        parts.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    parts.append("</tbody></table></div>")
    return "".join(parts)
