"""Records to a table: nested objects stay nested (struct columns, lists stay lists), so no
information is lost and SQL can reach into them.

polars would turn a column of numbers with one string in it into strings; instead a record
whose field has another JSON type than the same field in most records is set aside, as is a
record that is not an object: quarantined with its page URL (``_dap_source``), its index in that
page's record list (``_dap_line``, 0-based) and the record itself as JSON (``_dap_record``).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import polars as pl

from ...errors import SourceError
from ...quarantine import quarantine_frame


def json_kind(value: Any) -> str:
    """The JSON type of a decoded value, as a reason names it."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def quarantine_records(
    items: list[Any], *, reasons: list[str], source: str | list[str], lines: list[int], rule: str
) -> pl.DataFrame:
    """Quarantine rows for records set aside, each record kept whole as JSON text."""
    frame = quarantine_frame(
        [{}] * len(items), rule=rule, reason=reasons, source=source, line=lines
    )
    texts = [json.dumps(item, default=str) for item in items]
    return frame.with_columns(pl.Series("_dap_record", texts, dtype=pl.String))


def records_frame(
    records: list[dict[str, Any]], origin: list[tuple[str, int]], shown: str
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Records as a frame; records whose field types disagree with the majority set aside.

    (polars would otherwise turn a column of numbers with one string in it into strings.)
    """
    kinds: dict[str, Counter[str]] = {}
    for record in records:
        for key, value in record.items():
            if value is not None:
                kinds.setdefault(key, Counter())[json_kind(value)] += 1
    usual = {key: counts.most_common(1)[0][0] for key, counts in kinds.items()}
    keep: list[dict[str, Any]] = []
    rejects: list[tuple[int, dict[str, Any], str]] = []
    for i, record in enumerate(records):
        odd = [
            f"field {k!r} is a {json_kind(v)} where other records have a {usual[k]}"
            for k, v in record.items()
            if v is not None and json_kind(v) != usual[k]
        ]
        if odd:
            rejects.append((i, record, "; ".join(odd)))
        else:
            keep.append(record)
    if not rejects:
        keep = records
    try:
        frame = pl.DataFrame(keep, infer_schema_length=None)
    except Exception as e:
        raise SourceError(
            f"{shown}: the records do not fit one table: {str(e).splitlines()[0]}"
        ) from None
    if not rejects:
        return frame, None
    bad = quarantine_records(
        [r for _, r, _ in rejects],
        reasons=[reason for _, _, reason in rejects],
        source=[origin[i][0] for i, _, _ in rejects],
        lines=[origin[i][1] for i, _, _ in rejects],
        rule="record_type",
    )
    return frame, bad


def max_value(frame: pl.DataFrame, field: str, *, default: Any) -> Any:
    """The new watermark: the largest ``field`` (``a.b`` reaches into a struct) or ``default``."""
    top, _, rest = field.partition(".")
    if top not in frame.columns or frame.is_empty():
        return default
    column = frame.get_column(top)
    for part in rest.split(".") if rest else []:
        column = column.struct.field(part)
    value = column.max()
    return default if value is None else value
