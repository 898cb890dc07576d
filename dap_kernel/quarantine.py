"""Quarantine: the rows DAP would not load, kept beside the table they were meant for.

Nothing bad is dropped silently. A malformed line, a value that does not convert, a row failing
an ``error`` quality rule: each lands in ``<schema>.<table>__quarantine`` with the rule, the
reason and where it came from (file and line, or pipeline run), so it can be fixed and replayed.
The original row is kept as JSON text because a bad row often has no valid typed form; for the
same reason no row filter or mask can apply to it, so only the table's owner and stewards may
read a quarantine (:mod:`dap_kernel.governance.copies`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import polars as pl

from .errors import UnknownTable
from .governance.copies import QUARANTINE_SUFFIX
from .lake import split_name

SUFFIX = QUARANTINE_SUFFIX  # who may read one: governance.copies
SCHEMA: dict[str, pl.DataType] = {
    "_dap_rule": pl.String(),
    "_dap_reason": pl.String(),
    "_dap_source": pl.String(),
    "_dap_line": pl.Int64(),
    "_dap_record": pl.String(),
    "_dap_run_id": pl.String(),
    "_dap_quarantined_at": pl.Datetime("us", "UTC"),
}


class _Owned(Protocol):
    @property
    def owner(self) -> str: ...


class QuarantineCatalog(Protocol):
    """What writing a quarantine needs of the catalog (:class:`dap_kernel.catalog.Catalog`).

    A protocol rather than the catalog itself: the connectors shape the rows they cannot read
    with :func:`quarantine_frame`, and the catalog reads its sources through the connectors,
    so this module must not depend on the catalog.
    """

    def known_names(self) -> set[str]: ...

    def get(self, name: str) -> _Owned: ...

    def write(self, name: str, data: pl.DataFrame, mode: Literal["append"]) -> object: ...

    def create_table(
        self, name: str, data: pl.DataFrame, *, description: str, owner: str, tags: Iterable[str]
    ) -> object: ...


def quarantine_name(table: str) -> str:
    """``orders`` → ``main.orders__quarantine``."""
    schema, name = split_name(table)
    return f"{schema}.{name}{SUFFIX}"


def is_quarantine(table: str) -> bool:
    return split_name(table)[1].endswith(SUFFIX)


def quarantine_frame(
    records: pl.DataFrame | Sequence[dict[str, Any]],
    *,
    rule: str | Sequence[str],
    reason: str | Sequence[str],
    source: str | Sequence[str] = "",
    line: Sequence[int | None] | None = None,
    run_id: str = "",
) -> pl.DataFrame:
    """Shape offending rows for the quarantine: one scalar or one value per row for each field."""
    frame = records if isinstance(records, pl.DataFrame) else pl.DataFrame(list(records))
    n = frame.height
    if frame.width:
        record = frame.select(pl.struct(pl.all()).struct.json_encode()).to_series()
    else:
        record = pl.Series([None] * n, dtype=pl.String)

    def column(value: Any, dtype: pl.DataType) -> pl.Series:
        if isinstance(value, str) or value is None:
            return pl.Series([value] * n, dtype=dtype)
        values = list(value)
        if len(values) != n:
            raise ValueError(f"{len(values)} values for {n} quarantined rows")
        return pl.Series(values, dtype=dtype)

    return pl.DataFrame(
        {
            "_dap_rule": column(rule, pl.String()),
            "_dap_reason": column(reason, pl.String()),
            "_dap_source": column(source, pl.String()),
            "_dap_line": column(line, pl.Int64()),
            "_dap_record": record.cast(pl.String),
            "_dap_run_id": column(run_id, pl.String()),
            "_dap_quarantined_at": pl.Series(
                [datetime.now(UTC)] * n, dtype=pl.Datetime("us", "UTC")
            ),
        },
        schema=SCHEMA,
    )


def empty_quarantine() -> pl.DataFrame:
    return pl.DataFrame(schema=SCHEMA)


def write_quarantine(catalog: QuarantineCatalog, table: str, rows: pl.DataFrame) -> int:
    """Append ``rows`` (shaped by :func:`quarantine_frame`) in one commit; 0 rows writes nothing.

    The quarantine table is created on first use, owned like the table it belongs to.
    """
    if rows.is_empty():
        return 0
    rows = rows.select(list(SCHEMA)).cast(SCHEMA)  # type: ignore[arg-type]
    name = quarantine_name(table)
    if name in catalog.known_names():
        catalog.write(name, rows, "append")
    else:
        owner = ""
        with contextlib.suppress(UnknownTable):  # the target may not exist yet
            owner = catalog.get(table).owner
        catalog.create_table(
            name,
            rows,
            description=f"Rows that could not be loaded into {split_name(table)[1]}, with reasons.",
            owner=owner,
            tags=["quarantine"],
        )
    return rows.height
