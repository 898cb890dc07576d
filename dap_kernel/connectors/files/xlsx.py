"""Excel workbooks read by calamine: the first sheet with data, a sheet by name, or with
``sheet="all"`` every sheet with data when their columns agree; each sheet a part whose row
numbers are the spreadsheet's; merged cells fill the rows they span (:mod:`.merged`).

Sheets are not unioned unless asked: a workbook's second sheet is as often a summary or a
lookup table as more of the same rows, and a union of those is a table with extra columns
that no one wanted."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl
import pyarrow as pa

from ...errors import SourceError
from .frames import coerce, frame_part
from .listing import SourceFile
from .merged import fill_merged, merges
from .parts import Part, ReadState, first_line
from .raw import check_archive, plain_copy

ALL = "all"  # sheet="all": every sheet with data (a sheet of that name is read by name)


def plan_xlsx(
    state: ReadState, file: SourceFile, declared: Mapping[str, pa.DataType]
) -> list[Part]:
    source = str(file.path)
    path = plain_copy(file, state.tmp) if file.compression else file.path
    check_archive(path)
    sheet = state.options.get("sheet")
    try:
        import fastexcel

        workbook = fastexcel.read_excel(str(path))
        sheets = list(workbook.sheet_names)
    except Exception as e:  # fastexcel raises its own error types per failure
        raise SourceError(f"{source} is not a readable .xlsx workbook: {first_line(e)}") from e
    every = sheet is not None and str(sheet) == ALL and ALL not in sheets
    if sheet is not None and not every and str(sheet) not in sheets:
        raise SourceError(
            f"{source} has no sheet {sheet!r}; sheets: {', '.join(sheets)} (or --sheet all)"
        )
    named = sheet is not None and not every
    read: list[tuple[str, pl.DataFrame]] = []
    for name in [str(sheet)] if named else sheets:
        try:
            frame = pl.read_excel(path, sheet_name=name, engine="calamine")
        except Exception as e:
            if not named and "empty" in str(e).lower():
                continue
            raise SourceError(f"cannot read sheet {name!r} of {source}: {first_line(e)}") from e
        if frame.width == 0:
            continue
        read.append((name, frame))
        if not named and not every:
            break  # the first sheet with data
    if not read:
        raise SourceError(f"{source} has no data on any sheet")
    if every:
        _check_agree(source, read)
    elif not named and len(sheets) > 1:
        others = [n for n in sheets if n != read[0][0]]
        state.notes.append(
            f"{file.path.name}: loaded sheet {read[0][0]!r}, not {', '.join(map(repr, others))}"
            " (--sheet NAME for another, --sheet all for every sheet with the same columns)"
        )
    parts = []
    for name, frame in read:
        frame = fill_merged(frame, merges(path, name))
        lines: list[int | None] = list(range(2, frame.height + 2))  # row 1 is the header
        frame = coerce(state, frame, declared, source, lines, f" (sheet {name})")
        parts.append(frame_part(frame, source))
    return parts


def _check_agree(source: str, read: list[tuple[str, pl.DataFrame]]) -> None:
    """``--sheet all`` unions sheets only when they have the same columns (in any order)."""
    first_name, first = read[0]
    for name, frame in read[1:]:
        if set(frame.columns) != set(first.columns):
            raise SourceError(
                f"the sheets of {source} do not have the same columns: {first_name!r} has "
                f"{', '.join(first.columns)}; {name!r} has {', '.join(frame.columns)}. "
                "Load one with --sheet NAME"
            )
