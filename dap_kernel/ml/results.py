"""What ``dap.ml`` hands back: small frozen results with ``_repr_html_`` and ``plot()``.

Nothing here holds a governed row. A trained model keeps its metrics, an ROC curve (false and
true positive rates: shares of rows, not rows) or a histogram of residuals, and the fitted
pipeline itself (not shown, not compared); a drift report keeps shares per bin.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..stats.results import table_html
from .features import FeatureSpec

if TYPE_CHECKING:
    import plotly.graph_objects as go

_TEMPLATE = "plotly_white"


def _note(text: str) -> str:
    return f"<div><small>{html.escape(text)}</small></div>" if text else ""


@dataclass(frozen=True)
class Metric:
    """A cross-validated metric: the mean over the folds and its standard deviation."""

    name: str
    mean: float
    std: float


@dataclass(frozen=True)
class Curve:
    """An ROC curve (classification: ``x`` false, ``y`` true positive rates, ``auc``) or a
    histogram of out-of-fold residuals (regression: ``x`` bin edges, ``y`` counts)."""

    kind: str  # "roc" | "residuals"
    x: tuple[float, ...]
    y: tuple[float, ...]
    auc: float | None = None


@dataclass(frozen=True)
class TrainedModel:
    """A model trained on the caller's governed rows, with its cross-validated metrics and,
    when tracked, where MLflow keeps it (``model_uri``, ``name``/``version`` if registered)."""

    target: str
    task: str  # "classification" | "regression"
    model: str  # "logistic", "random_forest", …
    rows: int
    features: FeatureSpec
    metrics: tuple[Metric, ...]
    curve: Curve
    source_sql: str
    tables: tuple[str, ...]
    versions: tuple[tuple[str, int], ...]
    user: str = ""
    classes: tuple[str, ...] = ()
    cv: int = 5
    name: str | None = None
    version: int | None = None
    run_id: str | None = None
    model_uri: str | None = None
    aliases: tuple[str, ...] = ()
    pipeline: Any = field(default=None, repr=False, compare=False)

    @property
    def primary_metric(self) -> str:
        """What promotion compares by default: ROC AUC, or R² for a regression."""
        return "roc_auc" if self.task == "classification" else "r2"

    def metric(self, name: str) -> float:
        for m in self.metrics:
            if m.name == name:
                return m.mean
        raise KeyError(f"no metric {name!r}: {', '.join(m.name for m in self.metrics)}")

    @property
    def reference(self) -> str | None:
        """``models:/NAME/VERSION`` once registered."""
        return f"models:/{self.name}/{self.version}" if self.name and self.version else None

    def _repr_html_(self) -> str:
        title = f"{self.model} {self.task} of {self.target}"
        if self.name:
            title += f" — {self.name} v{self.version}"
            if self.aliases:
                title += " (" + ", ".join("@" + a for a in self.aliases) + ")"
        rows = [[m.name, m.mean, m.std] for m in self.metrics]
        caption = f"{title}: {self.rows:,} rows, {self.cv}-fold cross-validation"
        parts = [table_html(["metric", "mean", "sd"], rows, caption)]
        used = ", ".join(self.features.columns)
        parts.append(_note(f"features: {used}"))
        if self.features.dropped:
            left = "; ".join(f"{c} ({why})" for c, why in self.features.dropped)
            parts.append(_note(f"left out: {left}"))
        read = ", ".join(f"{t}@v{v}" for t, v in self.versions) or ", ".join(self.tables)
        parts.append(_note(f"read as {self.user or 'you'}: {read}"))
        if self.run_id:
            parts.append(_note(f"MLflow run {self.run_id}"))
        return "".join(parts)

    def plot(self) -> go.Figure:
        """The ROC curve (classification) or the histogram of residuals (regression)."""
        return curve_figure(self.curve, f"{self.model}: {self.target}")


def curve_figure(curve: Curve, title: str) -> go.Figure:
    import plotly.graph_objects as go

    if curve.kind == "roc":
        label = f"ROC (AUC {curve.auc:.3f})" if curve.auc is not None else "ROC"
        fig = go.Figure(go.Scatter(x=list(curve.x), y=list(curve.y), mode="lines", name=label))
        fig.add_trace(
            go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dot"})
        )
        fig.update_layout(
            title=f"{title} — {label}",
            xaxis_title="false positive rate",
            yaxis_title="true positive rate",
            template=_TEMPLATE,
        )
        return fig
    centres = [(a + b) / 2 for a, b in zip(curve.x, curve.x[1:], strict=False)]
    widths = [b - a for a, b in zip(curve.x, curve.x[1:], strict=False)]
    fig = go.Figure(go.Bar(x=centres, y=list(curve.y), width=widths, marker_line_width=0))
    fig.update_layout(
        title=f"{title} — out-of-fold residuals",
        xaxis_title="actual − predicted",
        yaxis_title="rows",
        template=_TEMPLATE,
        bargap=0.02,
    )
    return fig


# -- drift -----------------------------------------------------------------------------------

BANDS = ((0.1, "stable"), (0.25, "moderate"))  # PSI below each bound; above: significant


def band(psi: float) -> str:
    """The usual reading of a population stability index."""
    for bound, name in BANDS:
        if psi < bound:
            return name
    return "significant"


@dataclass(frozen=True)
class FeatureDrift:
    """One feature: its PSI, band, and the reference and new shares of each bin."""

    name: str
    kind: str  # "numeric" | "categorical"
    psi: float
    band: str
    bins: tuple[str, ...]
    reference: tuple[float, ...]
    new: tuple[float, ...]


@dataclass(frozen=True)
class DriftReport:
    """Population stability of each feature between reference and new rows."""

    features: tuple[FeatureDrift, ...]
    reference_rows: int
    new_rows: int

    def __getitem__(self, name: str) -> FeatureDrift:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def drifted(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features if f.band == "significant")

    def _repr_html_(self) -> str:
        rows = [[f.name, f.kind, f.psi, f.band] for f in self.features]
        caption = f"drift: {self.reference_rows:,} reference rows, {self.new_rows:,} new rows"
        note = "PSI < 0.1 stable, 0.1–0.25 moderate, > 0.25 significant"
        return table_html(["feature", "kind", "PSI", "band"], rows, caption) + _note(note)

    def plot(self) -> go.Figure:
        """PSI per feature as bars coloured by band, with the two band lines."""
        import plotly.graph_objects as go

        colours = {"stable": "#4c9f70", "moderate": "#e0a030", "significant": "#c0392b"}
        fig = go.Figure(
            go.Bar(
                x=[f.name for f in self.features],
                y=[f.psi for f in self.features],
                marker_color=[colours[f.band] for f in self.features],
                text=[f.band for f in self.features],
            )
        )
        for bound, _ in BANDS:
            fig.add_hline(y=bound, line_dash="dot")
        fig.update_layout(
            title="population stability index by feature",
            yaxis_title="PSI",
            template=_TEMPLATE,
        )
        return fig


def shares(counts: Sequence[float]) -> tuple[float, ...]:
    total = float(sum(counts))
    return tuple(c / total if total else 0.0 for c in counts)
