"""What :func:`dap_kernel.stats.forecast` and :func:`~dap_kernel.stats.backtest` return.

Like the other results of ``dap.stats`` (:mod:`.results`), plain numbers in frozen dataclasses
that show themselves (``_repr_html_``), plot (``plot()``) and turn into a polars frame
(``to_frame()``). They hold only the bucketed series the engine handed back, never a row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .plots import forecast_band
from .results import _note, fmt, table_html

if TYPE_CHECKING:
    import plotly.graph_objects as go
    import polars as pl


@dataclass(frozen=True)
class Forecast:
    """Point forecasts of the next ``horizon`` buckets with ``level`` prediction intervals."""

    time: tuple[datetime, ...]  # the forecast buckets
    mean: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    level: float
    model: str  # e.g. "ETS(A,Ad,A) period 7"
    history_time: tuple[datetime, ...]
    history: tuple[float, ...]
    every: str
    agg: str
    source: str = ""
    period: int | None = None
    aicc: float | None = None
    filled: int = 0
    sql: str = ""
    fetched_rows: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def horizon(self) -> int:
        return len(self.time)

    def to_frame(self) -> pl.DataFrame:
        import polars as pl

        return pl.DataFrame(
            {
                "time": list(self.time),
                "forecast": list(self.mean),
                "lower": list(self.lower),
                "upper": list(self.upper),
            }
        )

    def _repr_html_(self) -> str:
        summary = table_html(
            ["", ""],
            [
                ["model", self.model],
                ["series", f"{self.agg} per {self.every}, {len(self.history):,} points"],
                ["horizon", f"{self.horizon} {self.every}s, {self.level:.0%} intervals"],
                *([["empty buckets filled", self.filled]] if self.filled else []),
            ],
            f"forecast of {self.source}" if self.source else "forecast",
        )
        rows = [
            [fmt_time(t), m, lo, hi]
            for t, m, lo, hi in zip(self.time, self.mean, self.lower, self.upper, strict=True)
        ]
        points = table_html(["time", "forecast", "lower", "upper"], rows)
        return summary + points + "".join(_note(n) for n in self.notes)

    def plot(self) -> go.Figure:
        return forecast_band(
            (self.history_time, self.history),
            [("forecast", self.time, self.mean, self.lower, self.upper)],
            f"{self.model}: {self.horizon} {self.every}s ahead, {self.level:.0%} intervals",
        )


@dataclass(frozen=True)
class Fold:
    """One origin of a backtest: the forecast made there and what then happened."""

    origin: datetime  # the last bucket the model saw
    time: tuple[datetime, ...]
    actual: tuple[float, ...]
    mean: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]


@dataclass(frozen=True)
class Backtest:
    """Rolling-origin accuracy of a forecasting method, and how often its intervals held.

    ``coverage`` is the share of outcomes inside their interval: near ``level`` for honest
    intervals, far below it for over-confident ones. ``mase`` scales the mean absolute error by
    the in-sample error of the seasonal naive forecast (below 1: better than repeating the last
    season); ``baseline_mae`` and ``baseline_coverage`` are that naive forecast's own figures
    on the same folds."""

    model: str
    method: str
    horizon: int
    level: float
    folds: tuple[Fold, ...]
    mae: float
    rmse: float
    mape: float | None  # None when an outcome is 0
    mase: float | None
    coverage: float
    baseline_mae: float
    baseline_coverage: float
    history_time: tuple[datetime, ...]
    history: tuple[float, ...]
    every: str
    agg: str
    source: str = ""
    sql: str = ""
    fetched_rows: int = 0
    notes: tuple[str, ...] = field(default=())

    def to_frame(self) -> pl.DataFrame:
        import polars as pl

        rows: dict[str, list[Any]] = {
            k: [] for k in ("origin", "time", "actual", "forecast", "lower", "upper", "covered")
        }
        for fold in self.folds:
            for t, a, m, lo, hi in zip(
                fold.time, fold.actual, fold.mean, fold.lower, fold.upper, strict=True
            ):
                for key, value in zip(
                    rows, (fold.origin, t, a, m, lo, hi, lo <= a <= hi), strict=True
                ):
                    rows[key].append(value)
        return pl.DataFrame(rows)

    def _repr_html_(self) -> str:
        lines: list[list[Any]] = [
            ["model", self.model],
            ["folds", f"{len(self.folds)} origins × {self.horizon} {self.every}s ahead"],
            ["MAE", self.mae],
            ["RMSE", self.rmse],
            ["MAPE", "–" if self.mape is None else f"{self.mape:.1%}"],
            ["MASE", self.mase],
            [f"interval coverage (nominal {self.level:.0%})", f"{self.coverage:.1%}"],
            ["seasonal naive MAE", self.baseline_mae],
            ["seasonal naive coverage", f"{self.baseline_coverage:.1%}"],
        ]
        caption = f"backtest on {self.source}" if self.source else "backtest"
        return table_html(["", ""], lines, caption) + "".join(_note(n) for n in self.notes)

    def plot(self) -> go.Figure:
        actual_t = [t for f in self.folds for t in f.time]
        actual_v = [v for f in self.folds for v in f.actual]
        return forecast_band(
            (self.history_time, self.history),
            [(f"from {fmt_time(f.origin)}", f.time, f.mean, f.lower, f.upper) for f in self.folds],
            f"backtest of {self.model}: coverage {self.coverage:.0%} of {self.level:.0%}, "
            f"MAE {fmt(self.mae)}",
            actual=(actual_t, actual_v),
        )


def fmt_time(t: datetime) -> str:
    return t.date().isoformat() if (t.hour, t.minute) == (0, 0) else t.isoformat(timespec="minutes")
