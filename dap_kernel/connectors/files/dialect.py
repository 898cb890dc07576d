"""The CSV dialect: the delimiter a caller names or a sample suggests, and one line split into
fields the way the file's quoting says."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from typing import Any

from ...errors import SourceError


def delimiter_option(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    named = {"\\t": "\t", "tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
    text = named.get(text.lower(), text)
    if len(text) != 1:
        raise SourceError(f"the delimiter must be one character, not {value!r}")
    return text


def detect_delimiter(text: str, quote: str) -> str:
    """The delimiter of a sample's records: :func:`guess_delimiter`'s, else a comma."""
    return guess_delimiter(text, quote) or ","


def guess_delimiter(text: str, quote: str) -> str | None:
    """The candidate that splits the first records into the most consistent number of fields
    (at least two), or None when none of them splits a record."""
    lines = text.splitlines(keepends=True)
    sample = "".join(lines[:-1] if len(lines) > 1 else lines)  # the last line may be cut
    best: str | None = None
    best_score = (0.0, 0)
    for delimiter in (",", "\t", ";", "|"):
        try:
            reader = csv.reader(io.StringIO(sample), delimiter=delimiter, quotechar=quote or '"')
            counts = [len(row) for _, row in zip(range(200), reader, strict=False) if row]
        except csv.Error:
            continue
        if not counts:
            continue
        mode = max(set(counts), key=counts.count)
        if mode < 2:
            continue
        score = (counts.count(mode) / len(counts), mode)
        if score > best_score:
            best, best_score = delimiter, score
    return best


_COMMA_NUMBER = re.compile(r"[+-]?\d+,\d+")
_DOT_NUMBER = re.compile(r"[+-]?\d*\.\d+")
_INTEGER = re.compile(r"[+-]?\d+")


def decimal_option(value: Any) -> str | None:
    if value is None:
        return None
    if str(value) not in (",", "."):
        raise SourceError(f"the decimal separator is ',' or '.', not {value!r}")
    return str(value)


def decimal_comma(text: str, delimiter: str, quote: str) -> bool:
    """Does a ``;``-separated sample write its numbers with a decimal comma (``9,99``)?

    Where the comma is the decimal mark, spreadsheets export CSV with ``;`` between fields:
    a column whose values are all integers or ``digits,digits`` (at least one of them) is
    such a number. A sample that also writes ``9.99`` somewhere is left alone: it mixes
    conventions, and its text stays text rather than being guessed.
    """
    if delimiter != ";":
        return False
    lines = text.splitlines(keepends=True)
    sample = "".join(lines[:-1] if len(lines) > 1 else lines)  # the last line may be cut
    try:
        rows = [
            r
            for _, r in zip(
                range(500),
                csv.reader(io.StringIO(sample), delimiter=";", quotechar=quote or '"'),
                strict=False,
            )
            if r
        ]
    except csv.Error:
        return False
    found = False
    for column in zip(*rows[1:], strict=False):  # row 0 may be the header
        values = [v.strip() for v in column if v.strip()]
        if any(_DOT_NUMBER.fullmatch(v) for v in values):
            return False
        commas = sum(1 for v in values if _COMMA_NUMBER.fullmatch(v))
        if commas and all(_COMMA_NUMBER.fullmatch(v) or _INTEGER.fullmatch(v) for v in values):
            found = True
    return found


def split_line(text: str, csv_args: Mapping[str, Any]) -> list[str]:
    quote = str(csv_args.get("quote") or '"')
    escape = str(csv_args.get("escape") or "")
    try:
        row = next(
            csv.reader(
                io.StringIO(text),
                delimiter=str(csv_args["delim"]),
                quotechar=quote,
                escapechar=escape if escape and escape != quote else None,
                doublequote=not escape or escape == quote,
            ),
            [],
        )
    except csv.Error:
        return [text]
    return list(row)
