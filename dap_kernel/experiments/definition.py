"""An experiment's definition: its variants and their weights, the unit randomised, the salt.

The definition is all the assignment needs (:mod:`.assignment`): the same definition assigns
the same unit to the same variant in Python and in every engine, today and next year. It is
validated when made, so a typo in a weight fails here, not as a skewed split weeks later.

>>> Experiment("checkout_button", weights=(0.5, 0.5)).variants
('control', 'treatment')
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from .errors import InvalidExperiment

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,127}")
WEIGHT_TOLERANCE = 1e-9


def _as_datetime(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise InvalidExperiment(f"{what} {value!r} is not an ISO date or time") from None
    raise InvalidExperiment(f"{what} is a date, a datetime or an ISO string, not {value!r}")


@dataclass(frozen=True)
class Experiment:
    """``Experiment(name, variants, weights, unit, salt, start, end)``.

    ``variants[0]`` is the control every other variant is compared with. ``salt`` (the name by
    default) seeds the hash: change it to re-randomise, keep it to keep every unit where it is.
    ``unit`` names the column that identifies a unit in exposures and metrics.
    """

    name: str
    variants: tuple[str, ...] = ("control", "treatment")
    weights: tuple[float, ...] = (0.5, 0.5)
    unit: str = "customer_id"
    salt: str = ""
    start: datetime | None = None
    end: datetime | None = None
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise InvalidExperiment(
                f"experiment name {self.name!r}: letters, digits, '_', '.', '-' (128 at most),"
                " starting with a letter or '_'"
            )
        variants = tuple(self.variants) if not isinstance(self.variants, str) else ()
        if len(variants) < 2:
            raise InvalidExperiment("an experiment has at least two variants (control first)")
        if not all(isinstance(v, str) and v.strip() and len(v) <= 128 for v in variants):
            raise InvalidExperiment("variant names are non-empty text of 128 characters at most")
        if len(set(variants)) != len(variants):
            repeated = sorted({v for v in variants if variants.count(v) > 1})
            raise InvalidExperiment(f"variant names must be unique: {', '.join(repeated)} repeat")
        try:
            weights = tuple(float(w) for w in self.weights)
        except (TypeError, ValueError):
            raise InvalidExperiment(f"weights are numbers, not {self.weights!r}") from None
        if len(weights) != len(variants):
            raise InvalidExperiment(
                f"{len(variants)} variants need {len(variants)} weights, not {len(weights)}"
            )
        if not all(math.isfinite(w) and w > 0 for w in weights):
            raise InvalidExperiment("every weight is a positive number")
        if abs(sum(weights) - 1.0) > WEIGHT_TOLERANCE:
            raise InvalidExperiment(f"weights sum to {sum(weights):g}, not 1")
        if not isinstance(self.unit, str) or not self.unit.strip():
            raise InvalidExperiment("unit names the column that identifies a unit")
        salt = self.salt if self.salt else self.name
        if not isinstance(salt, str):
            raise InvalidExperiment("salt is text")
        start = _as_datetime(self.start, "start")
        end = _as_datetime(self.end, "end")
        if start is not None and end is not None and end <= start:
            raise InvalidExperiment(f"end ({end}) is not after start ({start})")
        object.__setattr__(self, "variants", variants)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "salt", salt)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    @property
    def control(self) -> str:
        return self.variants[0]

    @property
    def treatments(self) -> tuple[str, ...]:
        return self.variants[1:]

    def weight_of(self, variant: str) -> float:
        return self.weights[self.variants.index(variant)]
