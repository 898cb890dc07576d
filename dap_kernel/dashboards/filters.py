"""Filter widgets bound to query parameters.

A filter is a widget plus a *binding*: its value reaches the queries as bound parameters,
never as SQL text. Two bindings, both optional:

* ``column`` — every component whose base relation has that column gets a predicate on it
  (``src.region IN ($dap_p0, $dap_p1)``);
* ``name`` — a base SELECT may name the filter as a parameter
  (``WHERE order_ts >= :period_start``): a date range offers ``:NAME_start`` and
  ``:NAME_end``, a slider range ``:NAME_low``/``:NAME_high``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as w

from .sqlgen import DashboardError, Predicate

Callback = Callable[[], None]


class Filter:
    """Base class: one widget, a name (parameter) and an optional column binding."""

    def __init__(self, name: str, *, column: str | None = None, label: str | None = None) -> None:
        if not name.isidentifier():
            raise DashboardError(f"filter name {name!r} must be a plain identifier (a parameter)")
        self.name = name
        self.column = column
        self.label = label or name.replace("_", " ").capitalize()
        self.widget: w.Widget = w.HTML()

    # -- what the queries see ------------------------------------------------------------------

    def predicates(self) -> list[Predicate]:
        return []

    def params(self) -> dict[str, Any]:
        return {}

    def describe(self) -> str:
        """One line for the header and exports: ``Region: EMEA, APAC``."""
        return ""

    # -- widgets -------------------------------------------------------------------------------

    def on_change(self, callback: Callback) -> None:
        for widget in self._value_widgets():
            widget.observe(lambda _change: callback(), names="value")

    def _value_widgets(self) -> list[w.Widget]:
        return [self.widget]

    def reset(self) -> None:
        """Back to the value the dashboard opened with."""

    def set_options(self, options: Sequence[Any]) -> None:
        """Options found in the data (as the viewer may see it); only choice filters use them."""

    @property
    def wants_options(self) -> bool:
        return False

    def box(self) -> w.Widget:
        """The widget with its label, as placed in the filter bar."""
        label = w.HTML(f"<span class='dap-filter-label'>{_escape(self.label)}</span>")
        return w.VBox([label, self.widget], _dom_classes=["dap-filter", f"dap-filter-{self.name}"])


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Dropdown(Filter):
    """One value, or everything (``None``)."""

    ALL = "(all)"

    def __init__(
        self,
        name: str,
        *,
        column: str | None = None,
        options: Sequence[Any] | None = None,
        value: Any = None,
        label: str | None = None,
    ) -> None:
        super().__init__(name, column=column, label=label)
        self._auto = options is None
        self.widget = w.Dropdown(
            options=[self.ALL, *(options or [])],
            value=self.ALL if value is None else value,
            layout=w.Layout(width="auto"),
        )
        self._initial = self.widget.value

    def reset(self) -> None:
        self.widget.value = self._initial if self._initial in self.widget.options else self.ALL

    @property
    def wants_options(self) -> bool:
        return self._auto

    def set_options(self, options: Sequence[Any]) -> None:
        current = self.value
        with self.widget.hold_trait_notifications():
            self.widget.options = [self.ALL, *options]
            self.widget.value = current if current in options else self.ALL

    @property
    def value(self) -> Any:
        value = self.widget.value
        return None if value == self.ALL else value

    def predicates(self) -> list[Predicate]:
        if self.column is None or self.value is None:
            return []
        return [Predicate(self.column, "=", self.value)]

    def params(self) -> dict[str, Any]:
        return {self.name: self.value}

    def describe(self) -> str:
        return "" if self.value is None else f"{self.label}: {self.value}"


class MultiSelect(Filter):
    """Any of the chosen values; nothing chosen means no restriction."""

    def __init__(
        self,
        name: str,
        *,
        column: str | None = None,
        options: Sequence[Any] | None = None,
        value: Sequence[Any] = (),
        label: str | None = None,
        rows: int = 4,
    ) -> None:
        super().__init__(name, column=column, label=label)
        self._auto = options is None
        self.widget = w.SelectMultiple(
            options=list(options or []),
            value=tuple(value),
            rows=rows,
            layout=w.Layout(width="auto"),
        )
        self._initial = tuple(value)

    def reset(self) -> None:
        self.widget.value = tuple(v for v in self._initial if v in self.widget.options)

    @property
    def wants_options(self) -> bool:
        return self._auto

    def set_options(self, options: Sequence[Any]) -> None:
        current = [v for v in self.widget.value if v in options]
        with self.widget.hold_trait_notifications():
            self.widget.options = list(options)
            self.widget.value = tuple(current)

    @property
    def value(self) -> tuple[Any, ...]:
        return tuple(self.widget.value)

    def predicates(self) -> list[Predicate]:
        if self.column is None or not self.value:
            return []
        return [Predicate(self.column, "in", list(self.value))]

    def params(self) -> dict[str, Any]:
        return {self.name: list(self.value)}

    def describe(self) -> str:
        return f"{self.label}: {', '.join(map(str, self.value))}" if self.value else ""


class DateRange(Filter):
    """From ``start`` to ``end``, both days included (``column >= start AND column < end + 1``)."""

    def __init__(
        self,
        name: str,
        *,
        column: str | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
        label: str | None = None,
    ) -> None:
        super().__init__(name, column=column, label=label)
        self.start_widget = w.DatePicker(value=start, layout=w.Layout(width="auto"))
        self.end_widget = w.DatePicker(value=end, layout=w.Layout(width="auto"))
        self.start_widget.add_class("dap-date-start")
        self.end_widget.add_class("dap-date-end")
        self.widget = w.HBox(
            [self.start_widget, w.HTML("<span class='dap-dash'>–</span>"), self.end_widget],
            _dom_classes=["dap-daterange"],
        )
        self._initial = (start, end)

    def reset(self) -> None:
        self.set(*self._initial)

    def _value_widgets(self) -> list[w.Widget]:
        return [self.start_widget, self.end_widget]

    @property
    def value(self) -> tuple[dt.date | None, dt.date | None]:
        return self.start_widget.value, self.end_widget.value

    def set(self, start: dt.date | None, end: dt.date | None) -> None:
        with (
            self.start_widget.hold_trait_notifications(),
            self.end_widget.hold_trait_notifications(),
        ):
            self.start_widget.value = start
            self.end_widget.value = end

    def predicates(self) -> list[Predicate]:
        start, end = self.value
        if self.column is None:
            return []
        found = []
        if start is not None:
            found.append(Predicate(self.column, ">=", _midnight(start)))
        if end is not None:
            found.append(Predicate(self.column, "<", _midnight(end + dt.timedelta(days=1))))
        return found

    def params(self) -> dict[str, Any]:
        start, end = self.value
        return {f"{self.name}_start": start, f"{self.name}_end": end}

    def describe(self) -> str:
        start, end = self.value
        if start is None and end is None:
            return ""
        return f"{self.label}: {start or '…'} – {end or '…'}"


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


class Slider(Filter):
    """A number: ``op`` (default ``>=``) against the column, or a range with ``range=True``."""

    def __init__(
        self,
        name: str,
        *,
        column: str | None = None,
        min: float = 0,
        max: float = 100,
        step: float = 1,
        value: float | tuple[float, float] | None = None,
        op: str = ">=",
        range: bool = False,
        label: str | None = None,
    ) -> None:
        super().__init__(name, column=column, label=label)
        self.op = op
        self.is_range = range
        integer = all(float(v).is_integer() for v in (min, max, step))
        if range:
            cls: Any = w.IntRangeSlider if integer else w.FloatRangeSlider
            self.widget = cls(
                min=min, max=max, step=step, value=value or (min, max), continuous_update=False
            )
        else:
            cls = w.IntSlider if integer else w.FloatSlider
            self.widget = cls(
                min=min,
                max=max,
                step=step,
                value=min if value is None else value,
                continuous_update=False,
            )
        self.widget.layout = w.Layout(width="auto")
        self._initial = self.widget.value

    def reset(self) -> None:
        self.widget.value = self._initial

    @property
    def value(self) -> Any:
        return self.widget.value

    def predicates(self) -> list[Predicate]:
        if self.column is None:
            return []
        if self.is_range:
            low, high = self.value
            return [Predicate(self.column, ">=", low), Predicate(self.column, "<=", high)]
        if self.op not in (">=", "<=", ">", "<", "="):
            raise DashboardError(f"slider operator {self.op!r}: use >=, <=, >, < or =")
        return [Predicate(self.column, self.op, self.value)]  # type: ignore[arg-type]

    def params(self) -> dict[str, Any]:
        if self.is_range:
            low, high = self.value
            return {f"{self.name}_low": low, f"{self.name}_high": high}
        return {self.name: self.value}

    def describe(self) -> str:
        if self.is_range:
            return f"{self.label}: {self.value[0]}–{self.value[1]}"
        return f"{self.label} {self.op} {self.value}"
