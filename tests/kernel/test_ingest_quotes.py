"""A stray quote in a CSV file: the line it is on goes to the quarantine with its line number,
and the rest of the file loads — wherever the line is (in the sniffer's sample or far beyond it,
the last line), compressed or not, through the Parquet copy and the streamed (merge) path.
Before, one unclosed quote failed the whole file with DuckDB's "Error when sniffing file"."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from dap_kernel.connectors.files.quotes import unclosed_line, without_line
from dap_kernel.ingestion import ingest
from dap_kernel.session import Workspace

STRAY = '{i},"broken name {i},{i}.5'


def write(path: Path, n: int, stray: set[int], *, extra: dict[int, str] | None = None) -> Path:
    """``id,name,amount`` for ids 1..n (line i+1 of the file), with a stray quote on ``stray``."""
    lines = ["id,name,amount"]
    for i in range(1, n + 1):
        lines.append(
            STRAY.format(i=i) if i in stray else (extra or {}).get(i, f"{i},name {i},{i}.5")
        )
    data = ("\n".join(lines) + "\n").encode()
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def loaded_ids(ws: Workspace, table: str) -> list[int]:
    return ws.session().sql(f"SELECT id FROM {table} ORDER BY id")["id"].to_list()


def quarantined(ws: Workspace, table: str) -> list[tuple[int, str, str]]:
    frame = ws.session().sql(
        f"SELECT _dap_line, _dap_reason, _dap_record FROM {table}__quarantine ORDER BY _dap_line"
    )
    return list(frame.iter_rows())


@pytest.mark.parametrize(
    ("n", "stray"),
    [
        (49, 20),  # in the sniffer's sample: the sniffer itself gave up before
        (60_000, 55_000),  # far beyond the sample (the file is 1.5 MB)
        (300, 300),  # the last line
    ],
    ids=["in-sample", "beyond-sample", "last-line"],
)
def test_the_stray_quote_line_is_quarantined_and_the_rest_loads(
    workspace: Workspace, tmp_path: Path, n: int, stray: int
) -> None:
    path = write(tmp_path / "sales.csv", n, {stray})
    result = ingest(path, "sales", session=workspace.session())
    assert (result.rows_loaded, result.rows_quarantined) == (n - 1, 1)
    assert loaded_ids(workspace, "sales") == [i for i in range(1, n + 1) if i != stray]
    [(line, reason, record)] = quarantined(workspace, "sales")
    assert line == stray + 1  # the header is line 1
    assert "quote that is never closed" in reason
    assert f"broken name {stray}" in record and "name 1," not in record
    # The table's types are the ones the file's other lines have.
    types = dict(
        workspace.session().sql("DESCRIBE sales").select("column_name", "column_type").iter_rows()
    )
    assert types == {"id": "BIGINT", "name": "VARCHAR", "amount": "DOUBLE"}


def test_gzip_and_the_streamed_merge_path_and_other_bad_lines_after_the_cut(
    workspace: Workspace, tmp_path: Path
) -> None:
    """A compressed file is cut in its decompressed lines; a merge streams the rows (not the
    Parquet copy); a bad line after the stray quote keeps its own line number."""
    path = write(tmp_path / "sales.csv.gz", 2_000, {700}, extra={1_500: "1500,x,lots"})
    session = workspace.session()
    assert ingest(path, "sales", session=session).rows_loaded == 1_998
    again = ingest(path, "sales", mode="merge", keys=["id"], session=session)
    assert (again.rows_loaded, again.rows_quarantined) == (1_998, 2)
    assert len(loaded_ids(workspace, "sales")) == 1_998
    lines = [(line, reason) for line, reason, _ in quarantined(workspace, "sales")]
    assert [line for line, _ in lines] == [701, 701, 1_501, 1_501]
    assert "amount: 'lots' is not a number" in lines[-1][1]


def test_a_quoted_field_over_several_lines_still_loads_whole(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "notes.csv"
    path.write_text('id,note\n1,"one\ntwo"\n2,"bad\n3,plain\n')
    result = ingest(path, "notes", session=workspace.session())
    assert (result.rows_loaded, result.rows_quarantined) == (2, 1)
    notes = workspace.lake.read("main", "notes").column("note").to_pylist()
    assert notes == ["one\ntwo", "plain"]
    assert [line for line, _, _ in quarantined(workspace, "notes")] == [4]


def test_the_sample_scan_finds_the_line_whose_quote_stays_open() -> None:
    text = b'a,b\n1,"x\ny"\n2,"z\n3,w'
    assert unclosed_line(text, '"', "") == 3
    assert unclosed_line(text.replace(b'2,"z', b"2,z"), '"', "") is None
    assert unclosed_line(b'a\n"he said ""hi"""\n1,"open', '"', '"') == 2
    assert unclosed_line(b'a\n1,\\"x\n', '"', "\\") is None
    assert without_line(text, 3) == b'a,b\n1,"x\ny"\n3,w'


@pytest.mark.parametrize(
    ("content", "rows", "line"),
    [(b'"', 0, 1), (b'a,b\n1,2\n"', 1, 3)],
    ids=["a file of one quote", "a lone quote as the last line"],
)
def test_a_quote_open_at_the_very_end_is_quarantined_on_its_line(
    content: bytes, rows: int, line: int, tmp_path: Path
) -> None:
    """DuckDB places such a reject at the end of the file, past every newline: the line
    lookup gave nothing there and the ingest raised a KeyError (found by the file fuzzer)."""
    from dap_kernel.connectors.files import read_files

    path = tmp_path / "end.csv"
    path.write_bytes(content)
    result = read_files(path)
    assert result.to_table().num_rows == rows
    assert result.bad["_dap_line"].to_list() == [line]
