"""Excel cells: how each Arrow type becomes a typed cell (numbers, dates, booleans, text)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

import pyarrow as pa

if TYPE_CHECKING:
    import xlsxwriter.format
    import xlsxwriter.workbook
    import xlsxwriter.worksheet


@dataclass
class _Formats:
    header: xlsxwriter.format.Format
    title: xlsxwriter.format.Format
    note: xlsxwriter.format.Format
    date: xlsxwriter.format.Format
    datetime: xlsxwriter.format.Format
    time: xlsxwriter.format.Format
    duration: xlsxwriter.format.Format
    decimals: dict[int, xlsxwriter.format.Format] = field(default_factory=dict)


Writer = Callable[[int, int, Any], object]


def _cell_writer(
    sheet: xlsxwriter.worksheet.Worksheet,
    typ: pa.DataType,
    workbook: xlsxwriter.workbook.Workbook,
    formats: _Formats,
) -> Writer:
    """How one column's values become cells: numbers as numbers, times as Excel dates."""
    if pa.types.is_dictionary(typ):
        return _cell_writer(sheet, typ.value_type, workbook, formats)
    if pa.types.is_boolean(typ):
        return cast(Writer, sheet.write_boolean)
    if pa.types.is_integer(typ):

        def write_int(row: int, col: int, value: int) -> object:
            if -(2**53) < value < 2**53:
                return sheet.write_number(row, col, value)
            return sheet.write_string(row, col, str(value))  # beyond a double's exact range

        return write_int
    if pa.types.is_floating(typ):
        return cast(Writer, sheet.write_number)
    if pa.types.is_decimal(typ):
        scale = max(0, min(int(typ.scale), 15))
        fmt = formats.decimals.get(scale)
        if fmt is None:
            fmt = workbook.add_format({"num_format": "0." + "0" * scale if scale else "0"})
            formats.decimals[scale] = fmt
        decimal_format = fmt

        def write_decimal(row: int, col: int, value: Decimal) -> object:
            return sheet.write_number(row, col, float(value), decimal_format)

        return write_decimal
    if pa.types.is_timestamp(typ) or pa.types.is_date(typ):
        fmt = formats.datetime if pa.types.is_timestamp(typ) else formats.date
        date_format = fmt

        def write_when(row: int, col: int, value: dt.date) -> object:
            if value.year < 1900:  # before Excel's calendar: keep the exact text
                return sheet.write_string(row, col, value.isoformat())
            return sheet.write_datetime(row, col, cast(dt.datetime, value), date_format)

        return write_when
    if pa.types.is_time(typ):

        def write_time(row: int, col: int, value: dt.time) -> object:
            return sheet.write_datetime(row, col, cast(dt.datetime, value), formats.time)

        return write_time
    if pa.types.is_duration(typ):

        def write_duration(row: int, col: int, value: dt.timedelta) -> object:
            return sheet.write_datetime(row, col, cast(dt.datetime, value), formats.duration)

        return write_duration
    if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ):
        return cast(Writer, sheet.write_string)

    def write_text(row: int, col: int, value: Any) -> object:
        text = value.hex() if isinstance(value, bytes) else json.dumps(value, default=str)
        return sheet.write_string(row, col, text)

    return write_text


def _width(typ: pa.DataType, name: str, sample: list[Any]) -> float:
    if pa.types.is_timestamp(typ):
        longest = 19
    elif pa.types.is_date(typ):
        longest = 10
    else:
        longest = max((len(str(v)) for v in sample if v is not None), default=0)
    return float(min(max(len(name) + 3, longest + 1, 6), 60))  # +3: the autofilter button


def _value_writer(sheet: xlsxwriter.worksheet.Worksheet, formats: _Formats) -> Writer:
    def write(row: int, col: int, value: Any) -> object:
        if isinstance(value, bool):
            return sheet.write_boolean(row, col, value)
        if isinstance(value, (int, float, Decimal)):
            return sheet.write_number(row, col, float(value))
        if isinstance(value, dt.datetime) and value.year >= 1900:
            return sheet.write_datetime(row, col, value, formats.datetime)
        if isinstance(value, dt.date) and value.year >= 1900:
            return sheet.write_datetime(row, col, cast(dt.datetime, value), formats.date)
        return sheet.write_string(row, col, str(value))

    return write
