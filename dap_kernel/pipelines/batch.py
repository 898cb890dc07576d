"""The batch: what flows from a run's extract step through its transforms to the load."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl


@dataclass
class _Batch:
    """What flows between the steps of one run."""

    frame: pl.DataFrame
    bad: list[pl.DataFrame] = field(default_factory=list)
    source: str = ""
    sources: list[str] = field(default_factory=list)  # lineage: where the rows came from
    columns: list[Any] = field(default_factory=list)  # lineage: ColumnEdge list
    watermark: Any = None
