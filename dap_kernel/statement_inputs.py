"""What a statement is given besides its text: a point in time and the caller's own input
tables. (Its parameter values are bound in :mod:`dap_kernel.governance.statement`, the rows of an
INSERT shaped in :mod:`dap_kernel.writes`.)

Checked before the engine sees anything, each with one clear message.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pyarrow as pa

from .catalog.resolve import parse_timestamp
from .errors import DapError


def as_of_point(as_of: int | str | datetime | None) -> tuple[str, str] | None:
    """``3`` → a Delta version; a datetime or ISO text → a point in time (UTC if naive)."""
    if as_of is None:
        return None
    if isinstance(as_of, bool):
        raise DapError("as_of takes a version number or a timestamp")
    if isinstance(as_of, int):
        if as_of < 0:
            raise DapError(f"as_of={as_of}: versions start at 0")
        return ("version", str(as_of))
    if isinstance(as_of, str) and as_of.strip().isdigit():
        return ("version", str(int(as_of)))
    moment = as_of if isinstance(as_of, datetime) else parse_timestamp(str(as_of))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return ("timestamp", moment.astimezone(UTC).isoformat())


def to_table(data: pa.Table | pl.DataFrame) -> pa.Table:
    if isinstance(data, pl.DataFrame):
        return data.to_arrow()
    if isinstance(data, pa.Table):
        return data
    raise DapError(
        f"an input must be a polars DataFrame or an Arrow table, not {type(data).__name__}"
    )
