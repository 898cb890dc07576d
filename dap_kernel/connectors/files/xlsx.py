"""Excel workbooks: one sheet by name or every sheet with data, read by calamine, each sheet a
part whose row numbers are the spreadsheet's; merged cells fill the rows they span
(:mod:`.merged`)."""

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
    if sheet is not None and str(sheet) not in sheets:
        raise SourceError(f"{source} has no sheet {sheet!r}; sheets: {', '.join(sheets)}")
    parts = []
    for name in [str(sheet)] if sheet is not None else sheets:
        try:
            frame = pl.read_excel(path, sheet_name=name, engine="calamine")
        except Exception as e:
            if sheet is None and "empty" in str(e).lower():
                continue
            raise SourceError(f"cannot read sheet {name!r} of {source}: {first_line(e)}") from e
        if frame.width == 0:
            continue
        frame = fill_merged(frame, merges(path, name))
        lines: list[int | None] = list(range(2, frame.height + 2))  # row 1 is the header
        frame = coerce(state, frame, declared, source, lines, f" (sheet {name})")
        parts.append(frame_part(frame, source))
    if not parts:
        raise SourceError(f"{source} has no data on any sheet")
    return parts
