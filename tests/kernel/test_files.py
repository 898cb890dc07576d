"""File sources: every format, compressions, globs and folders, encodings, quarantined rows."""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xlsxwriter
import zstandard

from dap_kernel.connectors.files import list_files, read_files
from dap_kernel.errors import SchemaMismatch, SourceError
from dap_kernel.ingestion import ingest
from dap_kernel.session import Workspace


def frame(extracted_data: pa.Table | pa.RecordBatchReader) -> pl.DataFrame:
    table = extracted_data if isinstance(extracted_data, pa.Table) else extracted_data.read_all()
    result = pl.from_arrow(table)
    assert isinstance(result, pl.DataFrame)
    return result


def sales_csv(rows: int = 100, bad: dict[int, str] | None = None) -> str:
    """``id,region,amount,day`` with ``bad`` replacing whole data rows (by 1-based row)."""
    lines = ["id,region,amount,day"]
    for i in range(1, rows + 1):
        line = f"{i},{'EMEA' if i % 2 else 'APAC'},{i * 1.5},2024-01-{i % 28 + 1:02d}"
        lines.append((bad or {}).get(i, line))
    return "\n".join(lines) + "\n"


# -- CSV ---------------------------------------------------------------------------------------


def test_csv_types_and_quoted_fields_with_delimiters_newlines_and_quotes(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text(
        'id,name,amount,day\n1,"Smith, John",1.5,2024-01-01\n2,"two\nlines",2.5,2024-01-02\n'
        '3,"say ""hi""",3,2024-01-03\n'
    )
    result = read_files(path)
    df = frame(result.data)
    assert df.schema == {
        "id": pl.Int64,
        "name": pl.String,
        "amount": pl.Float64,
        "day": pl.Date,
    }
    assert df["name"].to_list() == ["Smith, John", "two\nlines", 'say "hi"']
    assert df["day"][0] == date(2024, 1, 1)
    assert result.bad.is_empty()
    assert result.files == [str(path)]


def test_malformed_rows_are_quarantined_with_file_and_physical_line(tmp_path: Path) -> None:
    path = tmp_path / "sales.csv"
    text = sales_csv(
        100,
        bad={
            10: "10,EMEA,12.5,2024-01-05,surplus",
            20: "20,APAC",
            30: "30,EMEA,abc,2024-01-03",
        },
    )
    # A quoted field spanning two lines before the bad rows: lines are physical lines.
    text = text.replace("5,EMEA,7.5,", '5,"EM\nEA",7.5,', 1)
    path.write_text(text)
    result = read_files(path)
    df = frame(result.data)
    assert df.height == 97
    assert df.schema["amount"] == pl.Float64  # one junk value does not make it text
    bad = result.bad.sort("_dap_line")
    assert bad["_dap_source"].to_list() == [str(path)] * 3
    # header is line 1, row n is line n+1, plus one for the embedded newline of row 5
    assert bad["_dap_line"].to_list() == [12, 22, 32]
    assert bad["_dap_reason"].to_list() == [
        "expected 4 fields, found 5",
        "expected 4 fields, found 2",
        "amount: 'abc' is not a number",
    ]
    assert bad["_dap_rule"].unique().to_list() == ["parse"]
    record = json.loads(bad["_dap_record"][2])
    assert record["id"] == "30" and record["amount"] == "abc"
    assert json.loads(bad["_dap_record"][0])["_extra"] == ["surplus"]


def test_a_mostly_text_column_stays_text(tmp_path: Path) -> None:
    path = tmp_path / "codes.csv"
    rows = ["code"] + [str(i) if i % 3 else f"X{i}" for i in range(60)]
    path.write_text("\n".join(rows) + "\n")
    result = read_files(path)
    assert frame(result.data).schema["code"] == pl.String
    assert result.bad.is_empty()


def test_zero_padded_codes_keep_their_zeros(tmp_path: Path) -> None:
    path = tmp_path / "zip.csv"
    path.write_text("zip\n" + "\n".join(["007", "010", "123", "N1"] * 30) + "\n")
    df = frame(read_files(path).data)
    assert df["zip"].to_list()[:2] == ["007", "010"]


@pytest.mark.parametrize(
    ("name", "delimiter", "option"),
    [
        ("semi.csv", ";", None),
        ("tabs.tsv", "\t", None),
        ("pipes.txt", "|", None),
        ("explicit.csv", ";", ";"),
        ("named.csv", "\t", "tab"),
    ],
)
def test_delimiters_detected_or_given(
    tmp_path: Path, name: str, delimiter: str, option: str | None
) -> None:
    path = tmp_path / name
    path.write_text(
        delimiter.join(["id", "text", "n"])
        + "\n"
        + "\n".join(delimiter.join([str(i), f"a,b {i}", str(i * 2)]) for i in range(5))
        + "\n"
    )
    result = read_files(path, options={"delimiter": option} if option else None)
    df = frame(result.data)
    assert df.columns == ["id", "text", "n"]
    assert df["text"][1] == "a,b 1" and df["n"].to_list() == [0, 2, 4, 6, 8]


def test_headerless_file_with_names(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    path.write_text("1,a\n2,b\n")
    df = frame(read_files(path, options={"header": False, "names": ["id", "letter"]}).data)
    assert df.to_dict(as_series=False) == {"id": [1, 2], "letter": ["a", "b"]}


@pytest.mark.parametrize(
    ("encoding", "options"),
    [
        ("utf-8", None),
        ("utf-8-sig", None),  # with a byte-order mark
        ("cp1252", None),  # detected: € and curly quotes are not latin-1
        ("latin-1", {"encoding": "latin-1"}),
        ("utf-16", None),
    ],
)
def test_encodings(tmp_path: Path, encoding: str, options: dict[str, str] | None) -> None:
    names = ["Zoë", "Müller", "Ångström", "François", "Strauß"] * 4
    euro = "€" if encoding in ("cp1252", "utf-8", "utf-8-sig", "utf-16") else "E"
    text = "name,price\n" + "".join(f"{n},{i}{euro}\n" for i, n in enumerate(names))
    path = tmp_path / f"{encoding}.csv"
    path.write_bytes(text.encode(encoding))
    df = frame(read_files(path, options=options).data)
    assert df.columns == ["name", "price"]
    assert df["name"].to_list() == names
    assert df["price"][3] == f"3{euro}"


@pytest.mark.parametrize("compression", ["gz", "zst"])
def test_compressed_csv_with_bad_rows(tmp_path: Path, compression: str) -> None:
    raw = sales_csv(50, bad={7: "7,EMEA"}).encode()
    path = tmp_path / f"sales.csv.{compression}"
    data = gzip.compress(raw) if compression == "gz" else zstandard.ZstdCompressor().compress(raw)
    path.write_bytes(data)
    result = read_files(path)
    assert frame(result.data).height == 49
    assert result.bad["_dap_line"].to_list() == [8]
    assert result.bad["_dap_source"].to_list() == [str(path)]


def test_declared_schema_quarantines_values_that_do_not_fit(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("id,day\n1,2024-01-01\n2,soon\n3,2024-01-03\n")
    result = read_files(path, options={"schema": {"day": "DATE"}})
    assert frame(result.data)["id"].to_list() == [1, 3]
    assert result.bad["_dap_reason"].to_list() == ["day: 'soon' is not a date"]
    assert result.bad["_dap_line"].to_list() == [3]


def test_columns_option_projects(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(sales_csv(3))
    assert frame(read_files(path, options={"columns": ["amount", "id"]}).data).columns == [
        "amount",
        "id",
    ]
    with pytest.raises(SchemaMismatch, match="no column nope"):
        read_files(path, options={"columns": ["nope"]})


def test_stream_fills_bad_once_consumed(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(sales_csv(30, bad={3: "3,x,y,z,w"}))
    result = read_files(path, stream=True)
    assert isinstance(result.data, pa.RecordBatchReader)
    assert result.to_table().num_rows == 29
    assert result.bad.height == 1


# -- not readable at all ------------------------------------------------------------------------


def test_unreadable_sources_are_one_clear_error(tmp_path: Path) -> None:
    binary = tmp_path / "image.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00" * 20)
    with pytest.raises(SourceError, match="not a text file"):
        read_files(binary)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(SourceError, match="is empty"):
        read_files(empty)
    with pytest.raises(SourceError, match="file not found"):
        read_files(tmp_path / "missing.csv")
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1 this is not parquet at all")
    with pytest.raises(SourceError, match="not a readable Parquet file"):
        read_files(corrupt)
    unknown = tmp_path / "notes.md"
    unknown.write_text("# hi")
    with pytest.raises(SourceError, match="cannot tell the format"):
        read_files(unknown)
    with pytest.raises(SourceError, match="unknown file option"):
        read_files(empty, options={"delimeter": ","})


# -- Parquet, JSON, NDJSON, Excel ---------------------------------------------------------------


def test_parquet(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"id": [1, 2], "when": [date(2024, 1, 1), None]}), path)
    result = read_files(path)
    assert frame(result.data).to_dict(as_series=False) == {
        "id": [1, 2],
        "when": [date(2024, 1, 1), None],
    }


def test_json_array_with_mixed_values(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    records = [{"id": i, "amount": i * 1.5, "tags": ["x"]} for i in range(40)]
    records[5]["amount"] = "n/a"
    path.write_text(json.dumps(records, indent=1))
    result = read_files(path)
    df = frame(result.data)
    assert df.height == 39 and df.schema["amount"] == pl.Float64
    assert result.bad["_dap_reason"].to_list() == ["amount: 'n/a' is not a number"]


@pytest.mark.parametrize("suffix", ["ndjson", "jsonl", "json", "ndjson.gz", "jsonl.zst"])
def test_ndjson_broken_lines_quarantined(tmp_path: Path, suffix: str) -> None:
    lines = [json.dumps({"id": i, "name": f"n{i}"}) for i in range(6)]
    lines[2] = '{"id": 2, "name": '  # cut short
    lines[4] = "[1, 2]"
    text = ("\n".join(lines[:3]) + "\n\n" + "\n".join(lines[3:]) + "\n").encode()
    path = tmp_path / f"e.{suffix}"
    if suffix.endswith(".gz"):
        text = gzip.compress(text)
    elif suffix.endswith(".zst"):
        text = zstandard.ZstdCompressor().compress(text)
    path.write_bytes(text)
    result = read_files(path)
    assert frame(result.data)["id"].to_list() == [0, 1, 3, 5]
    bad = result.bad.sort("_dap_line")
    assert bad["_dap_line"].to_list() == [3, 6]  # a blank line sits between them
    assert bad["_dap_reason"][0].startswith("not valid JSON")
    assert bad["_dap_reason"][1] == "not a JSON object but list"


def test_json_that_is_not_records(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('[{"a": 1}, 2]')
    with pytest.raises(SourceError, match="array of objects"):
        read_files(path)
    broken = tmp_path / "y.json"
    broken.write_text('[{"a": 1},')
    with pytest.raises(SourceError, match="not valid JSON"):
        read_files(broken)


def workbook(path: Path) -> None:
    book = xlsxwriter.Workbook(str(path))
    jan = book.add_worksheet("Jan")
    jan.write_row(0, 0, ["id", "amount"])
    for i in range(1, 41):
        jan.write_row(i, 0, [i, "oops" if i == 9 else i * 2.5])
    feb = book.add_worksheet("Feb")
    feb.write_row(0, 0, ["id", "amount"])
    feb.write_row(1, 0, [100, 1.0])
    book.close()


def test_xlsx_first_sheet_named_sheet_and_all_sheets(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    workbook(path)
    feb = read_files(path, options={"sheet": "Feb"})
    assert frame(feb.data).to_dict(as_series=False) == {"id": [100], "amount": [1.0]}
    first = read_files(path)  # the first sheet only: a second sheet is not more of the same
    assert frame(first.data).height == 39 and frame(first.data)["id"].max() == 40
    every = read_files(path, options={"sheet": "all"})
    df = frame(every.data)
    assert df.height == 40 and df.schema["amount"] == pl.Float64
    assert every.bad["_dap_line"].to_list() == [10]  # Excel row 10 (row 1 is the header)
    assert every.bad["_dap_reason"].to_list() == ["amount: 'oops' is not a number (sheet Jan)"]
    with pytest.raises(SourceError, match="no sheet 'Mar'; sheets: Jan, Feb"):
        read_files(path, options={"sheet": "Mar"})


def test_xlsx_all_sheets_must_agree_and_an_ingest_says_which_sheet_it_loaded(
    tmp_path: Path, workspace: Workspace
) -> None:
    path = tmp_path / "report.xlsx"
    book = xlsxwriter.Workbook(str(path))
    data = book.add_worksheet("Orders")
    data.write_row(0, 0, ["id", "amount"])
    data.write_row(1, 0, [1, 2.5])
    summary = book.add_worksheet("Summary")
    summary.write_row(0, 0, ["region", "total", "share"])
    summary.write_row(1, 0, ["EMEA", 2.5, 1.0])
    book.close()
    with pytest.raises(SourceError, match="do not have the same columns: 'Orders' has id, amount"):
        read_files(path, options={"sheet": "all"})

    result = ingest(path, "orders_book", session=workspace.session())

    assert workspace.session().sql("SELECT * FROM orders_book").columns == ["id", "amount"]
    assert "note: report.xlsx: loaded sheet 'Orders', not 'Summary'" in result.summary()


def test_decimal_commas_in_a_semicolon_file_are_numbers(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("id;price;code\n1;9,99;007\n2;10,5;008\n3;7;009\n", encoding="utf-8")
    table = read_files(path).to_table()
    assert table.column("price").to_pylist() == [9.99, 10.5, 7.0]
    assert table.column("code").to_pylist() == ["007", "008", "009"]  # not numbers to us
    kept = read_files(path, options={"decimal_separator": "."}).to_table()  # said otherwise
    assert kept.column("price").to_pylist() == ["9,99", "10,5", "7"]
    # A comma-separated file, or one that also writes 9.99, is left as it is.
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("id;a;b\n1;9,99;1.5\n2;3,5;2.5\n", encoding="utf-8")
    assert read_files(mixed).to_table().column("a").to_pylist() == ["9,99", "3,5"]
    with pytest.raises(SourceError, match="decimal separator"):
        read_files(path, options={"decimal_separator": ";"})


# -- several files ---------------------------------------------------------------------------------


def test_glob_unions_by_name_and_widens_types(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,amount\n1,10\n2,20\n")
    (tmp_path / "b.csv").write_text("id,amount,note\n3,3.5,x\n")
    result = read_files(tmp_path / "*.csv")
    df = frame(result.data).sort("id")
    assert df.schema == {"id": pl.Int64, "amount": pl.Float64, "note": pl.String}
    assert df["note"].to_list() == [None, None, "x"]
    assert len(result.files) == 2


def test_folder_reads_every_supported_file_of_any_format(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.csv").write_text("id,name\n1,a\n")
    (folder / "sub" / "b.ndjson").write_text('{"id": 2, "name": "b"}\n')
    pq.write_table(pa.table({"id": [3], "name": ["c"]}), folder / "c.parquet")
    (folder / "README.md").write_text("not data")
    (folder / "_SUCCESS").write_text("")
    assert len(list_files(folder)) == 3
    df = frame(read_files(folder).data).sort("id")
    assert df.to_dict(as_series=False) == {"id": [1, 2, 3], "name": ["a", "b", "c"]}


def test_conflicting_types_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,day\n1,2024-01-01\n")
    (tmp_path / "b.csv").write_text("id,day\n2,true\n")
    with pytest.raises(SchemaMismatch, match="column day is"):
        read_files(tmp_path / "*.csv")


def test_nothing_matches(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no files match"):
        read_files(tmp_path / "*.csv")
    with pytest.raises(SourceError, match="no supported files"):
        read_files(tmp_path)
