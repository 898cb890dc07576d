"""What the catalog says about a table and its columns, and how that maps to metadata rows."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..meta import CatalogColumn, CatalogTable
from ..meta.store import redact_url

if TYPE_CHECKING:
    import polars as pl

FILE_KINDS = ("parquet", "csv", "json")
DATABASE_KINDS = ("sqlite", "postgres")


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    data_type: str
    nullable: bool = True
    description: str = ""
    tags: list[str] = field(default_factory=list)
    null_count: int | None = None
    distinct_count: int | None = None
    min_value: str | None = None
    max_value: str | None = None
    # ``distinct_count`` is a HyperLogLog estimate (the table had more rows than
    # DAP_EXACT_DISTINCT_ROWS when it was profiled), shown as ``≈9,442``.
    distinct_approx: bool = False

    @property
    def distinct_label(self) -> str:
        """``12,345``, ``≈12,345`` for an estimate, or ``""`` when unknown or hidden."""
        if self.distinct_count is None:
            return ""
        return f"{'≈' if self.distinct_approx else ''}{self.distinct_count:,}"


@dataclass(frozen=True)
class TableInfo:
    schema: str
    name: str
    kind: str
    location: str
    description: str
    owner: str
    tags: list[str]
    row_count: int | None
    version: int
    updated_at: datetime
    columns: list[ColumnInfo]
    # How DAP reads or keeps it (reader options, retention policy); not shown to users.
    options: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def rows_label(self) -> str:
        """``1,234 rows``, or that the count is not shown (hidden by a row filter, unknown)."""
        return "row count not shown" if self.row_count is None else f"{self.row_count:,} rows"

    def columns_frame(self) -> pl.DataFrame:
        """The columns with their statistics, as data (``dap catalog show`` and ``%dap
        describe`` show them designed: :class:`~dap_kernel.catalog.views.TableDescription`)."""
        import polars as pl  # the catalog's reads (``dap catalog list``) need no polars

        return pl.DataFrame(
            [
                {
                    "column": c.name,
                    "type": c.data_type,
                    "nulls": c.null_count,
                    "distinct": c.distinct_count,
                    "distinct_approx": c.distinct_approx,
                    "min": c.min_value,
                    "max": c.max_value,
                    "tags": ", ".join(c.tags),
                    "description": c.description,
                }
                for c in self.columns
            ]
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("options")
        data["name"] = self.qualified_name
        data["table"] = self.name
        data["updated_at"] = self.updated_at.isoformat()
        return data


def table_info(row: CatalogTable) -> TableInfo:
    location = redact_url(row.location) if row.kind in DATABASE_KINDS else row.location
    return TableInfo(
        schema=row.schema_name,
        name=row.name,
        kind=row.kind,
        location=location,
        description=row.description,
        owner=row.owner,
        tags=list(row.tags or []),
        row_count=row.row_count,
        version=row.version,
        updated_at=row.updated_at,
        columns=[
            ColumnInfo(
                name=c.name,
                data_type=c.data_type,
                nullable=c.nullable,
                description=c.description,
                tags=list(c.tags or []),
                null_count=c.null_count,
                distinct_count=c.distinct_count,
                distinct_approx=bool(c.distinct_approx),
                min_value=c.min_value,
                max_value=c.max_value,
            )
            for c in row.columns
        ],
        options=dict(row.options or {}),
    )


def column_info(row: CatalogColumn | None) -> ColumnInfo | None:
    if row is None:
        return None
    return ColumnInfo(
        name=row.name,
        data_type=row.data_type,
        nullable=row.nullable,
        null_count=row.null_count,
        distinct_count=row.distinct_count,
        distinct_approx=bool(row.distinct_approx),
        min_value=row.min_value,
        max_value=row.max_value,
    )


def column_rows(
    columns: list[ColumnInfo], descriptions: dict[str, str], tags: dict[str, list[str]]
) -> list[CatalogColumn]:
    """Metadata rows for profiled columns, keeping the documentation people wrote."""
    return [
        CatalogColumn(
            position=i,
            description=descriptions.get(c.name, ""),
            tags=tags.get(c.name, []),
            **{k: v for k, v in asdict(c).items() if k not in ("description", "tags")},
        )
        for i, c in enumerate(columns)
    ]
