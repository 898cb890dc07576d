"""What a statement is given besides its text: parameter values, a point in time, the caller's
own input tables. (The rows of an INSERT are shaped in :mod:`dap_kernel.writes`.)

Checked before the engine sees anything, each with one clear message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pyarrow as pa

from .catalog.store import parse_timestamp
from .errors import DapError, MissingParameter
from .governance.rewrite import Prepared


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


def bind_parameters(
    prepared: Prepared, params: Mapping[str, Any] | Sequence[Any] | None
) -> dict[str, Any] | list[Any] | None:
    """Match the statement's placeholders with the values given, by name or by position."""
    if prepared.param_names:
        if params is None:
            raise MissingParameter(list(prepared.param_names))
        if not isinstance(params, Mapping):
            named = ", ".join(":" + n for n in prepared.param_names)
            raise DapError(f"the statement has named parameters ({named}); pass params as a dict")
        missing = [n for n in prepared.param_names if n not in params]
        if missing:
            raise MissingParameter(missing)
        return {n: params[n] for n in prepared.param_names}
    if prepared.positional_params:
        if params is None or isinstance(params, (Mapping, str)):
            raise DapError(
                f"the statement has {prepared.positional_params} positional parameter(s); "
                "pass params as a list"
            )
        if len(params) != prepared.positional_params:
            raise DapError(
                f"the statement has {prepared.positional_params} positional parameter(s) "
                f"but {len(params)} value(s) were given"
            )
        return list(params)
    return None
