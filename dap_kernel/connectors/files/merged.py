"""Merged cells of an Excel sheet: a value merged over several rows (a region written once
beside the rows it labels) belongs to each of them, so it is filled into every row the merge
spans. calamine reads the value into the merge's first cell only and leaves the others empty.

The merges are read from the sheet's XML by a pattern over its bytes (``<mergeCell ref=…>``,
after the cell data), never by building the sheet's XML tree: a big sheet costs one pass of a
regular expression, and nothing in it is expanded or fetched.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from pathlib import Path

import polars as pl
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeTree

_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\b[^>]*?\bref="([A-Z]+)([0-9]+):([A-Z]+)([0-9]+)"')
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_PKG = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_CHUNK = 1 << 22


def column_index(letters: bytes) -> int:
    """0-based index of a column's letters (``A`` → 0, ``AA`` → 26)."""
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n - 1


def merges(path: Path, sheet: str) -> list[tuple[int, int, int, int]]:
    """``(first_row, first_col, last_row, last_col)`` of each merge on ``sheet``: rows 1-based
    as Excel numbers them, columns 0-based. Empty when the workbook does not say."""
    try:
        with zipfile.ZipFile(path) as book:
            member = _sheet_member(book, sheet)
            if member is None:
                return []
            return list(_scan(book, member))
    except (zipfile.BadZipFile, KeyError, SafeTree.ParseError, DefusedXmlException, OSError):
        return []  # calamine read it: the merges are a refinement, not a condition


def _sheet_member(book: zipfile.ZipFile, sheet: str) -> str | None:
    workbook = SafeTree.fromstring(book.read("xl/workbook.xml"))
    rel_id = next(
        (s.get(_REL) for s in workbook.iter(f"{_MAIN}sheet") if s.get("name") == sheet), None
    )
    if rel_id is None:
        return None
    rels = SafeTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
    links = {r.get("Id"): r.get("Target") for r in rels.iter(f"{_PKG}Relationship")}
    target = links.get(rel_id)
    if not target:
        return None
    return target.lstrip("/") if target.startswith("/") else posixpath.normpath(f"xl/{target}")


def _scan(book: zipfile.ZipFile, member: str) -> list[tuple[int, int, int, int]]:
    found: list[tuple[int, int, int, int]] = []
    carry = b""
    with book.open(member) as f:
        while chunk := f.read(_CHUNK):
            data = carry + chunk
            last = data.rfind(b"<")  # a tag cut by the chunk's end is read with the next one
            body, carry = (data[:last], data[last:]) if last > 0 else (data, b"")
            for m in _MERGE.finditer(body):
                c1, r1, c2, r2 = m.groups()
                found.append((int(r1), column_index(c1), int(r2), column_index(c2)))
    for m in _MERGE.finditer(carry):
        c1, r1, c2, r2 = m.groups()
        found.append((int(r1), column_index(c1), int(r2), column_index(c2)))
    return found


def fill_merged(frame: pl.DataFrame, spans: list[tuple[int, int, int, int]]) -> pl.DataFrame:
    """``frame`` (row 1 of the sheet its header) with each merge's value in every data row it
    spans, in the merge's first column. Merges in the header row or within one row change
    nothing: a value spread across columns is one field, not several."""
    columns = {i: frame.get_column(name) for i, name in enumerate(frame.columns)}
    changed: set[int] = set()
    for r1, c, r2, _c2 in spans:
        first, last = r1 - 2, min(r2 - 2, frame.height - 1)  # frame row of sheet row r is r-2
        if r1 < 2 or r2 <= r1 or first >= frame.height or c >= frame.width:
            continue
        value = columns[c][first]
        rows = [i for i in range(first + 1, last + 1) if columns[c][i] is None]
        if value is not None and rows:
            columns[c] = columns[c].scatter(rows, value)
            changed.add(c)
    if not changed:
        return frame
    return frame.with_columns([columns[c] for c in sorted(changed)])
