"""JSON and NDJSON: an array of objects or one object per line; a line that is not an object
is quarantined with its line number, and the records' types coerced like Excel's.

A record nested deeper than :data:`MAX_NESTING` levels is quarantined rather than read: nothing
tabular nests that deep, and Python's parser (and the column types built from it) would recurse
until the interpreter gives up."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from ...errors import SourceError
from ...quarantine import empty_quarantine, quarantine_frame
from .frames import coerce, frame_part
from .listing import SourceFile
from .parts import PARSE_RULE, Part, ReadState, first_line
from .raw import read_all

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

MAX_NESTING = 64
TOO_DEEP = f"nested more than {MAX_NESTING} levels deep"


def plan_json(state: ReadState, file: SourceFile, declared: Mapping[str, pa.DataType]) -> Part:
    source = str(file.path)
    data = read_all(file)
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise SourceError(f"{source} is empty: no JSON records")
    lines: list[int | None] | None = None
    if stripped.startswith(b"["):
        frame, bad = _json_array(data, source)
    else:
        frame, lines, bad = _ndjson(data, source)
    if bad.height:
        state.bad.append(bad)
    frame = coerce(state, frame, declared, source, lines, "")
    return frame_part(frame, source)


def _json_array(data: bytes, source: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The records of a JSON array, and the quarantined ones nested too deep."""
    try:
        records = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        where = f" (line {e.lineno})" if isinstance(e, json.JSONDecodeError) else ""
        raise SourceError(f"{source} is not valid JSON{where}: {first_line(e)}") from e
    except RecursionError:
        raise SourceError(f"{source} is not readable: its JSON is {TOO_DEEP}") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise SourceError(f"{source} is not a JSON array of objects")
    deep = [r for r in records if too_deep(r)]
    if not deep:
        return _records_frame(records, source), empty_quarantine()
    bad = quarantine_frame(
        pl.DataFrame({"_record": [_summary(r) for r in deep]}),
        rule=PARSE_RULE,
        reason=TOO_DEEP,
        source=source,
    )
    return _records_frame([r for r in records if not too_deep(r)], source), bad


def too_deep(value: Any, limit: int = MAX_NESTING) -> bool:
    """Whether ``value`` nests objects or arrays more than ``limit`` levels (no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def _summary(record: dict[str, Any]) -> str:
    """What the quarantine keeps of a record too deep to print: its top-level scalars."""
    return json.dumps({k: v for k, v in record.items() if not isinstance(v, dict | list)})


def _records_frame(records: list[dict[str, Any]], source: str) -> pl.DataFrame:
    if not records:
        return pl.DataFrame()
    if any(_nul_key(r) for r in records):  # polars panics on such a column name
        raise SourceError(f"{source} has a key with a NUL character (\\u0000) in it")
    try:
        frame = pl.DataFrame(records, infer_schema_length=None)
        if not any(_beyond_arrow(t) for t in frame.dtypes):
            return frame
    except (pl.exceptions.PolarsError, TypeError, ValueError):
        pass
    # Mixed types in a column, or integers past 64 bits (polars' Int128 has no Arrow type):
    # read every scalar as text, the coercion sorts it out.
    texts = [
        {k: None if v is None else v if isinstance(v, str) else json.dumps(v) for k, v in r.items()}
        for r in records
    ]
    try:
        return pl.DataFrame(texts, infer_schema_length=None)
    except (pl.exceptions.PolarsError, TypeError, ValueError) as e:
        raise SourceError(f"cannot read the records of {source}: {first_line(e)}") from e


def _nul_key(value: Any) -> bool:
    """Whether an object (or one nested in it) has a key with a NUL character."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if any("\0" in k for k in item):
                return True
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, dict | list))
    return False


def _beyond_arrow(dtype: PolarsDataType) -> bool:
    """Whether a column type (or a type nested in it) has no Arrow equivalent to write."""
    if dtype == pl.Int128:
        return True
    if isinstance(dtype, pl.List | pl.Array):
        return _beyond_arrow(dtype.inner)
    if isinstance(dtype, pl.Struct):
        return any(_beyond_arrow(f.dtype) for f in dtype.fields)
    return False


def _ndjson(data: bytes, source: str) -> tuple[pl.DataFrame, list[int | None], pl.DataFrame]:
    """Records of newline-delimited JSON with their line numbers; broken lines quarantined."""
    text = data.decode("utf-8-sig", errors="replace")
    records: list[dict[str, Any]] = []
    lines: list[int | None] = []
    bad_lines: list[int | None] = []
    bad_text: list[str] = []
    reasons: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            bad_lines.append(number)
            bad_text.append(line)
            reasons.append(f"not valid JSON: {e.msg} at column {e.colno}")
            continue
        except RecursionError:
            value = None  # deeper than the parser goes: quarantined as too deep below
        if value is None or (isinstance(value, dict) and too_deep(value)):
            bad_lines.append(number)
            bad_text.append(line[:1000])
            reasons.append(TOO_DEEP)
            continue
        if not isinstance(value, dict):
            bad_lines.append(number)
            bad_text.append(line)
            reasons.append(f"not a JSON object but {type(value).__name__}")
            continue
        records.append(value)
        lines.append(number)
    if bad_lines and not records:
        # Maybe one pretty-printed object rather than one object per line.
        with contextlib.suppress(json.JSONDecodeError):
            whole = json.loads(text)
            if isinstance(whole, dict):
                return _records_frame([whole], source), [1], empty_quarantine()
        raise SourceError(f"{source} is not JSON: no line holds a JSON object")
    bad = (
        quarantine_frame(
            pl.DataFrame({"_line": bad_text}),
            rule=PARSE_RULE,
            reason=reasons,
            source=source,
            line=bad_lines,
        )
        if bad_lines
        else empty_quarantine()
    )
    return _records_frame(records, source), lines, bad
