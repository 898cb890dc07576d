"""The malformed-input corpus: each broken file an analyst may hand DAP, built here byte by
byte, with the outcome it must have. No crash, no hang, no traceback: either the good rows load
and the bad ones are in the quarantine with their line, or one clear error names what is wrong
and nothing is written (no table, no folder, no quarantine)."""

from __future__ import annotations

import gzip
import io
import subprocess
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dap_kernel.connectors.files.raw as raw
from dap_kernel.errors import DapError
from dap_kernel.ingestion import ingest
from dap_kernel.session import Workspace
from tests.kernel.test_ingest import DAP


def parquet_bytes() -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"id": list(range(1000)), "v": [f"x{i}" for i in range(1000)]}), sink)
    return sink.getvalue()


def truncated_parquet(path: Path) -> Path:
    data = parquet_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def corrupted_parquet(path: Path) -> Path:
    data = bytearray(parquet_bytes())
    for i in range(200, 400):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def workbook(merge: bool) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in (["region", "q1", "q2"], ["EMEA", 1, 2], [None, 3, 4], [None, 5, 6], ["APAC", 7, 8]):
        sheet.append(row)
    if merge:
        sheet.merge_cells("A2:A4")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def deep(levels: int) -> str:
    return '{"n":' * levels + "1" + "}" * levels


@dataclass(frozen=True)
class Case:
    name: str
    file: str
    build: Callable[[Path], object]
    loaded: int | None = None  # rows loaded; None: refused with ``error``
    quarantined: tuple[tuple[int | None, str], ...] = ()  # (line, part of the reason)
    error: str = ""


CASES = [
    Case(
        "truncated parquet",
        "t.parquet",
        truncated_parquet,
        error="is not a readable Parquet file: Parquet magic bytes not found",
    ),
    Case(
        "corrupted parquet",
        "c.parquet",
        corrupted_parquet,
        error="is not a readable Parquet file",
    ),
    Case(
        "unterminated quote",
        "q.csv",
        lambda p: p.write_text('id,name\n1,a\n2,"b\n3,c\n'),
        loaded=2,
        quarantined=((3, "a quote that is never closed"),),
    ),
    Case(
        "mixed line endings",
        "m.csv",
        lambda p: p.write_bytes(b"id,name\r\n1,a\n2,b\r\n3,c\r4,d\n"),
        loaded=4,
    ),
    Case(
        "invalid UTF-8 in a UTF-8 file",
        "u.csv",
        lambda p: p.write_bytes(
            "id,name\n1,café\n2,bad?\n3,Zürich\n".encode().replace(b"?", b"\xff")
        ),
        loaded=2,
        quarantined=((3, "invalid characters for the file's encoding"),),
    ),
    Case(
        "a 100 MB single line",
        "l.csv",
        lambda p: p.write_bytes(b"id,blob\n1," + b"x" * (100 << 20) + b"\n2,small\n"),
        error="line 2 is 104.9 MB long, over the 2.0 MB a line may have",
    ),
    Case(
        "a 50 MB line far into a gzip file",
        "g.csv.gz",
        lambda p: p.write_bytes(
            gzip.compress(
                b"id,blob\n"
                + b"".join(b"%d,v\n" % i for i in range(30_000))
                + b"30000,"
                + b"y" * (50 << 20)
                + b"\n1,after\n",
                compresslevel=1,
            )
        ),
        error="line 30002 is 52.4 MB long",
    ),
    Case(
        "a gzip CSV a hundred times its size streams",
        "b.csv.gz",
        lambda p: p.write_bytes(
            gzip.compress(b"id,v\n" + b"1,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n" * 1_000_000)
        ),
        loaded=1_000_000,
    ),
    Case(
        "a zip archive",
        "a.zip",
        lambda p: zipfile.ZipFile(p, "w").writestr("a.csv", "id\n1\n"),
        error="cannot tell the format of",
    ),
    Case(
        "binary data named .csv",
        "bin.csv",
        lambda p: p.write_bytes(bytes(range(256)) * 40),
        error="is not a text file, so not a CSV",
    ),
    Case(
        "JSON nested 5,000 levels",
        "d.json",
        lambda p: p.write_text(f'[{{"id":1,"deep":{deep(5000)}}}]'),
        error="its JSON is nested more than 64 levels deep",
    ),
    Case(
        "NDJSON with lines nested too deep",
        "d.ndjson",
        lambda p: p.write_text(
            f'{{"id":1,"deep":{deep(5000)}}}\n{{"id":2,"deep":{deep(70)}}}\n{{"id":3,"deep":{{"n":1}}}}\n'
        ),
        loaded=1,
        quarantined=((1, "nested more than 64 levels"), (2, "nested more than 64 levels")),
    ),
    Case(
        "an xlsx with merged cells",
        "x.xlsx",
        lambda p: p.write_bytes(workbook(merge=True)),
        loaded=4,
    ),
    # Found by tests/fuzz/test_file_fuzz.py: each of these used to leave a half-written table.
    Case(
        "JSON keys that differ only in case",
        "k.ndjson",
        lambda p: p.write_text('{"id": 1, "ID": 2}\n'),
        error="Duplicate field name (case-insensitive): 'ID'",
    ),
    Case(
        "JSON objects the engine cannot read back from the lake",
        "n.ndjson",
        lambda p: p.write_text(
            '{"id": false, "name": ""}\n'
            '{"x": {"": null, "\\u0006\\u00df": [2.79e+16], "\\u00f1": null}, "a.b": -4}\n'
        ),
        error="cannot read",
    ),
    Case(
        "a JSON key with a NUL character",
        "z.ndjson",
        lambda p: p.write_text('{"id": 1, "x": {"\\u0000C\\u00e4": 2}}\n'),
        error="has a key with a NUL character",
    ),
    Case(
        "JSON integers past 64 bits load as their text",
        "i.json",
        lambda p: p.write_text('[{"id": 1180591620717411303423}, {"id": 1}]'),
        loaded=2,
    ),
    Case(
        "an empty file",
        "e.csv",
        lambda p: p.write_bytes(b""),
        error="is empty",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_malformed_input_has_its_outcome(
    workspace: Workspace, tmp_path: Path, case: Case
) -> None:
    path = tmp_path / case.file
    case.build(path)
    session = workspace.session()
    if case.loaded is None:
        with pytest.raises(DapError) as refused:
            ingest(path, "broken", session=session)
        message = str(refused.value)
        assert case.error in message and "\n" not in message, message
        assert "main.broken" not in workspace.catalog.known_names()
        assert "main.broken__quarantine" not in workspace.catalog.known_names()
        assert not workspace.lake.path("main", "broken").exists()
        return
    result = ingest(path, "broken", session=session)
    assert result.rows_loaded == case.loaded
    assert result.rows_quarantined == len(case.quarantined)
    if case.quarantined:
        bad = session.sql(
            "SELECT _dap_line, _dap_reason FROM broken__quarantine ORDER BY _dap_line"
        )
        got = list(bad.iter_rows())
        assert [line for line, _ in got] == [line for line, _ in case.quarantined]
        for (_, reason), (_, want) in zip(got, case.quarantined, strict=True):
            assert want in reason


def test_the_loaded_values_are_the_files_own(workspace: Workspace, tmp_path: Path) -> None:
    """UTF-8 is not re-guessed as another encoding for a few bad bytes (that garbled every
    "é" before); mixed line endings keep no stray \\r; merged cells fill the rows they span."""
    session = workspace.session()
    for case in CASES:
        if case.name in (
            "invalid UTF-8 in a UTF-8 file",
            "mixed line endings",
            "an xlsx with merged cells",
        ):
            case.build(tmp_path / case.file)
    ingest(tmp_path / "u.csv", "utf", session=session)
    assert session.sql("SELECT name FROM utf ORDER BY id")["name"].to_list() == ["café", "Zürich"]
    ingest(tmp_path / "m.csv", "endings", session=session)
    assert session.sql("SELECT name FROM endings ORDER BY id")["name"].to_list() == list("abcd")
    ingest(tmp_path / "x.xlsx", "regions", session=session)
    assert session.sql("SELECT region FROM regions ORDER BY q1")["region"].to_list() == [
        "EMEA",
        "EMEA",
        "EMEA",
        "APAC",
    ]
    # Unmerged, the empty cells stay empty: nothing is filled that the sheet did not merge.
    (tmp_path / "plain.xlsx").write_bytes(workbook(merge=False))
    ingest(tmp_path / "plain.xlsx", "unmerged", session=session)
    assert session.sql("SELECT region FROM unmerged ORDER BY q1")["region"].to_list() == [
        "EMEA",
        None,
        None,
        "APAC",
    ]


def test_a_long_line_loads_when_the_limit_is_raised(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "l.csv"
    path.write_bytes(b"id,blob\n1," + b"x" * (5 << 20) + b"\n2,small\n")
    session = workspace.session()
    ingest(path, "blobs", options={"max_line_size": 10 << 20}, session=session)
    lengths = session.sql("SELECT length(blob) AS n FROM blobs ORDER BY id")["n"].to_list()
    assert lengths == [5 << 20, 5]


def test_whole_file_formats_refuse_a_bomb(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JSON and Excel are read whole: past the limit (1 GiB; 1 MiB here) a compressed file is
    refused while it is decompressed, not after it filled the memory or the disk."""
    monkeypatch.setattr(raw, "WHOLE_FILE_LIMIT", 1 << 20)
    json_bomb = tmp_path / "bomb.json.gz"
    json_bomb.write_bytes(gzip.compress(b"[" + b'{"id":1},' * (1 << 20) + b'{"id":2}]'))
    xlsx_bomb = tmp_path / "bomb.xlsx"
    with (
        zipfile.ZipFile(io.BytesIO(workbook(merge=False))) as src,
        zipfile.ZipFile(xlsx_bomb, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for item in src.infolist():
            dst.writestr(item, src.read(item))
        dst.writestr("xl/padding.bin", b"\0" * (4 << 20))
    session = workspace.session()
    for path, word in ((json_bomb, "decompressed"), (xlsx_bomb, "unzipped")):
        with pytest.raises(DapError, match=f"is over 0 GiB {word}: .* files are read whole"):
            ingest(path, "bomb", session=session)
        assert "main.bomb" not in workspace.catalog.known_names()


def test_the_cli_gives_one_line_and_no_traceback(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"DAP_HOME": str(home), "PATH": str(Path(DAP).parent)}
    subprocess.run([DAP, "init"], env=env, check=True, capture_output=True)
    for case in CASES:
        if case.name in ("JSON nested 5,000 levels", "truncated parquet", "a 100 MB single line"):
            path = tmp_path / case.file
            case.build(path)
            run = subprocess.run(
                [DAP, "ingest", str(path), "-t", "broken"], env=env, capture_output=True, text=True
            )
            assert run.returncode == 1
            assert "Traceback" not in run.stderr + run.stdout
            lines = [line for line in (run.stderr + run.stdout).splitlines() if line.strip()]
            assert len(lines) == 1 and lines[0].startswith("error: ") and case.error in lines[0]
