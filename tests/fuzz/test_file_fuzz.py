"""Hypothesis on the file readers, through the public ingest path (what ``dap ingest`` runs).

Generated CSV (delimiters, quoting, stray quotes, line endings, encodings and BOMs, ragged
rows, empty fields, odd headers), JSON and NDJSON (nesting, mixed types) and random bytes
named ``.csv``/``.json``/``.ndjson``/``.parquet`` (and damaged Parquet). Each load must
either succeed — the table holds the rows it reports, the quarantine the rows it reports, and
for a well-formed file the two add up to the rows in the file — or raise one
:class:`DapError` with a one-line message and write nothing: no table, no quarantine, no
folder in the lake; when loading into an existing table, its version is unchanged.
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from dap_kernel.errors import DapError
from dap_kernel.ingestion import IngestResult, ingest
from dap_kernel.session import Session, Workspace
from dap_kernel.settings import Settings
from tests.fuzz.profile import fuzz

_names = itertools.count()


@dataclass
class Lake:
    ws: Workspace
    session: Session
    folder: Path

    def fresh(self, suffix: str) -> tuple[Path, str]:
        """A new file path and a new table name for one example."""
        n = next(_names)
        return self.folder / f"f{n}{suffix}", f"t{n}"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    root = tmp_path_factory.mktemp("fuzz-files")
    ws = Workspace(Settings(home=root / "home", user="tester"))
    (root / "files").mkdir()
    yield Lake(ws, ws.session(), root / "files")
    ws.close()


def _state(lake: Lake, table: str) -> tuple[bool, int | None, bool]:
    """Whether the catalog has ``table``, its version, and whether the lake has its folder."""
    qualified = f"main.{table}"
    known = qualified in lake.ws.catalog.known_names()
    version = lake.ws.catalog.get(qualified).version if known else None
    return known, version, lake.ws.lake.path("main", table).exists()


def load(
    lake: Lake, path: Path, table: str, expected_rows: int | None = None, **kwargs: Any
) -> IngestResult | DapError:
    """Ingest ``path`` and check the outcome; return it (the result, or the error raised)."""
    before = _state(lake, table)
    quarantine_before = _state(lake, f"{table}__quarantine")
    try:
        result = ingest(path, table, session=lake.session, **kwargs)
    except DapError as e:
        message = str(e)
        assert message.strip() and "\n" not in message.strip(), repr(message)
        assert "Traceback" not in message, message
        assert _state(lake, table) == before, (
            f"{path.name}: a failed load changed the table ({message})"
        )
        assert _state(lake, f"{table}__quarantine") == quarantine_before, (
            f"{path.name}: a failed load wrote a quarantine ({message})"
        )
        return e
    except Exception as e:  # the property under test: nothing but DapError
        pytest.fail(f"{path.name}: ingest raised {type(e).__name__}, not a DapError: {e}")
    known, version, folder = _state(lake, table)
    assert known and folder and version == result.version, (path.name, before, result)
    counted = lake.session.sql(f'SELECT count(*) FROM "{table}"').item()
    previous = 0
    if before[0]:
        previous = expected_previous(lake, table, before)
    assert counted == previous + result.rows_loaded, (path.name, counted, result)
    if result.rows_quarantined:
        quarantined = lake.session.sql(
            f"SELECT count(*) FROM \"{table}__quarantine\" WHERE _dap_run_id = '{result.run_id}'"
        ).item()
        assert quarantined == result.rows_quarantined, (path.name, quarantined, result)
    if expected_rows is not None:
        assert result.rows_loaded + result.rows_quarantined == expected_rows, (
            f"{path.name}: {result.rows_loaded} loaded + {result.rows_quarantined} quarantined, "
            f"but the file has {expected_rows} rows"
        )
    return result


def expected_previous(lake: Lake, table: str, before: tuple[bool, int | None, bool]) -> int:
    """Rows the table had before this load (read at its previous version)."""
    return int(lake.session.sql(f'SELECT count(*) FROM "{table}"', as_of=before[1]).item())


# -- CSV ------------------------------------------------------------------------------------

CELL = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "1", "-2", "3.5", "2026-01-02", "true", "NULL", '"', "a,b", "x\ny"]),
    st.integers(-(10**12), 10**12).map(str),
)
HEADER = st.one_of(
    st.sampled_from(["id", "name", "v", "Region", "a b", "", "_dap_line", "ü", 'x"y', "1"]),
    st.text(min_size=1, max_size=8),
)


def _record(cells: list[str], delimiter: str, quote_all: bool) -> str:
    """One CSV record as RFC 4180 writes it: a cell with a delimiter, a quote, a line break or
    edge spaces is quoted (Python's csv module leaves a lone "\n" bare when the line ending is
    "\r"), and so is a lone empty cell (else the record is a blank line)."""

    def cell(value: str) -> str:
        special = any(c in value for c in (delimiter, '"', "\r", "\n")) or value != value.strip()
        if quote_all or special or (value == "" and len(cells) == 1):
            return '"' + value.replace('"', '""') + '"'
        return value

    return delimiter.join(cell(c) for c in cells)


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[bytes, dict[str, Any], int | None]:
    """CSV bytes, the options to read them with, and the number of data rows when known."""
    width = draw(st.integers(1, 5))
    header = draw(st.lists(HEADER, min_size=width, max_size=width))
    rows = draw(st.lists(st.lists(CELL, min_size=width, max_size=width), max_size=20))
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "latin-1", "utf-16", "cp1252"]))
    quote_all = draw(st.booleans())
    broken = draw(st.sampled_from(["none", "none", "ragged", "stray", "raw", "blank"]))
    out = io.StringIO()
    out.write(_record(header, delimiter, quote_all) + ending)
    for row in rows:
        if broken == "raw":  # cells joined as they are: quotes, delimiters, newlines unescaped
            out.write(delimiter.join(row) + ending)
            continue
        if broken == "ragged" and draw(st.booleans()):
            row = row[: draw(st.integers(0, width))] + draw(st.lists(CELL, max_size=2))
        out.write(_record(row, delimiter, quote_all) + ending)
    text = out.getvalue()
    if broken == "stray" and text:
        at = draw(st.integers(0, len(text)))
        text = text[:at] + '"' + text[at:]
    if broken == "blank":
        text = text.replace(ending, ending + ending, draw(st.integers(1, 3)))
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
        encoding = "utf-8"
    options: dict[str, Any] = {}
    if draw(st.booleans()):
        options.update(delimiter=delimiter, header=True)
    if draw(st.booleans()):
        options["encoding"] = encoding
    # Well formed (every row as wide as the header, quoted by the csv module), read with its
    # own delimiter and header: each data row is loaded or quarantined, exactly once.
    known = len(rows) if broken == "none" and "delimiter" in options else None
    return data, options, known


@fuzz(150)
@given(generated=csv_files())
def test_csv_loads_each_row_once_or_fails_cleanly(
    lake: Lake, generated: tuple[bytes, dict[str, Any], int | None]
) -> None:
    data, options, known = generated
    note(f"{data!r} {options}")
    path, table = lake.fresh(".csv")
    path.write_bytes(data)
    load(lake, path, table, known, options=options)


@fuzz(60)
@given(generated=csv_files())
def test_appending_a_csv_to_a_table_loads_or_changes_nothing(
    lake: Lake, generated: tuple[bytes, dict[str, Any], int | None]
) -> None:
    """Into an existing table (read with its types, schema checked): refused loads leave
    its version as it was."""
    data, options, _ = generated
    note(f"{data!r} {options}")
    base, table = lake.fresh(".csv")
    base.write_text("id,name\n1,a\n2,b\n")
    load(lake, base, table)
    path = lake.folder / f"{table}-more.csv"
    path.write_bytes(data)
    load(lake, path, table, options=options)


# -- JSON and NDJSON ------------------------------------------------------------------------

SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
)
VALUE = st.recursive(
    SCALAR,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
KEYS = st.sampled_from(["id", "name", "v", "nested", "", "ID", "a.b", "x"])
RECORD = st.dictionaries(KEYS, VALUE, min_size=1, max_size=4)


@st.composite
def json_files(draw: st.DrawFn) -> tuple[bytes, str, int | None]:
    """JSON or NDJSON bytes, the file suffix, and the rows when every record is an object."""
    element = st.one_of(RECORD, VALUE) if draw(st.booleans()) else RECORD
    records = draw(st.lists(element, min_size=1, max_size=12))
    objects = all(isinstance(r, dict) for r in records)
    if draw(st.booleans()):
        data = json.dumps(records).encode()
        return data, ".json", len(records) if objects else None
    lines = [json.dumps(r) for r in records]
    if draw(st.integers(0, 3)) == 0:  # a damaged line
        at = draw(st.integers(0, len(lines) - 1))
        lines[at] = lines[at][: draw(st.integers(0, len(lines[at])))]
        objects = False
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    return (
        ending.join(lines).encode() + ending.encode(),
        ".ndjson",
        len(records) if objects else None,
    )


@fuzz(150)
@given(generated=json_files())
def test_json_loads_each_record_once_or_fails_cleanly(
    lake: Lake, generated: tuple[bytes, str, int | None]
) -> None:
    data, suffix, known = generated
    note(f"{suffix} {data!r}")
    path, table = lake.fresh(suffix)
    path.write_bytes(data)
    load(lake, path, table, known)


# -- bytes ----------------------------------------------------------------------------------


def _parquet() -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"id": [1, 2, 3], "v": ["a", None, "c"]}), sink)
    return sink.getvalue()


PARQUET = _parquet()


@st.composite
def damaged_parquet(draw: st.DrawFn) -> bytes:
    data = bytearray(PARQUET)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut] if draw(st.booleans()) else data)


@fuzz(150)
@given(
    data=st.one_of(st.binary(max_size=600), damaged_parquet()),
    suffix=st.sampled_from([".csv", ".json", ".ndjson", ".parquet"]),
)
def test_random_bytes_load_or_fail_cleanly(lake: Lake, data: bytes, suffix: str) -> None:
    note(f"{suffix} {data!r}")
    path, table = lake.fresh(suffix)
    path.write_bytes(data)
    load(lake, path, table)
