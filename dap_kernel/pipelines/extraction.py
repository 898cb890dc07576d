"""A run's extract step: the new rows of a catalog query, files, a database or an API.

Catalog queries run through the caller's session (row filters and masks apply); an external
source needs USE_CONNECTOR (checked before the run by :mod:`.trust`). Incremental extracts read
only what lies past the persisted watermark and say how far the new rows reach.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from ..connectors.paths import under_folder, under_url
from ..errors import SourceError
from ..governance.secret_refs import expand_url_password
from ..quarantine import empty_quarantine
from ..sqlbuild import ident
from .batch import _Batch
from .spec import Extract

if TYPE_CHECKING:
    from ..connectors.base import Extracted
    from ..session import Session


def extract(session: Session, ex: Extract, base_dir: Path, since: Any) -> _Batch:
    """The new rows of the source (after ``since`` when incremental) and the watermark
    they reach."""
    incremental = ex.incremental
    column = incremental.column if incremental else None
    watermark = since
    if ex.kind == "sql":
        frame, tables = _extract_catalog(session, ex.sql or "", column, since)
        batch = _Batch(frame=frame, source="catalog query", sources=tables)
    else:
        if incremental and incremental.files:
            extracted, watermark = _extract_new_files(session, ex, base_dir, since)
        else:
            extracted = _read_source(session, ex, base_dir, column, since)
        data = extracted.to_table()
        frame = _polars(data)
        batch = _Batch(
            frame=frame,
            bad=[extracted.bad] if extracted.bad.height else [],
            source=extracted.source,
            sources=[extracted.source],
        )
        if column and extracted.watermark is not None:
            watermark = _newest(watermark, extracted.watermark)
    if column:
        if column not in batch.frame.columns:
            raise SourceError(f"the incremental column {column} is not in the extracted data")
        if since is not None:
            batch.frame = batch.frame.filter(pl.col(column) > pl.lit(since))
        if batch.frame.height:
            watermark = _newest(watermark, batch.frame[column].max())
    batch.watermark = watermark
    return batch


def _extract_catalog(
    session: Session, sql: str, column: str | None, since: Any
) -> tuple[pl.DataFrame, list[str]]:
    params: dict[str, Any] | None = None
    text = sql.strip().rstrip(";")
    if column and since is not None:
        name = ident(column).sql("duckdb")  # a name with a quote in it stays one name
        text = f"SELECT * FROM ({text}) AS __dap_src WHERE {name} > :__dap_since"
        params = {"__dap_since": since}
    result = session.query(text, params)
    return result.to_polars(), list(result.tables)


def _read_source(
    session: Session, ex: Extract, base_dir: Path, column: str | None, since: Any
) -> Extracted:
    ws = session.workspace
    if ex.kind == "file":
        from ..connectors.files import read_files

        return read_files(_path(base_dir, ex.file or ""), format=ex.format, options=ex.options)
    if ex.kind == "sql_url":
        hidden: set[str] = set()
        url = expand_url_password(ex.sql_url or "", ws.secrets, hidden)
        return _read_database(url, ex, column, since)
    if ex.kind == "api":
        return _read_api(session, dict(ex.api or {}), since)
    # A named connector: its kind says which reader.
    from ..connectors import Connectors

    connectors = Connectors(ws.meta, ws.secrets)
    info = connectors.get(ex.connector or "")
    url = connectors.url(info.name)
    if info.kind in ("postgresql", "sqlite", "mysql"):
        return _read_database(url, ex, column, since)
    if info.kind == "file":
        from ..connectors.files import read_files

        path = under_folder(Path(url.removeprefix("file://")), ex.path)
        return read_files(path, format=ex.format, options=ex.options)
    if info.kind != "http":  # a Kafka connector feeds streams; nothing else falls through
        raise SourceError(
            f"connector {info.name} is a {info.kind} connector: a pipeline cannot read it"
        )
    api = dict(ex.api or {})
    api["url"] = under_url(url, str(api.get("url") or ex.path or ""))
    return _read_api(session, api, since)


def _read_api(session: Session, api: dict[str, Any], since: Any) -> Extracted:
    from ..connectors.http import read_api

    extracted: Extracted = read_api(api, since=since, secrets=session.workspace.secrets)
    return extracted


def _extract_new_files(
    session: Session, ex: Extract, base_dir: Path, since: Any
) -> tuple[Extracted, list[str]]:
    """Files not loaded before (by path, size and modification time), read together."""
    from ..connectors.base import Extracted
    from ..connectors.files import list_files, read_files

    if ex.connector:
        from ..connectors import Connectors

        ws = session.workspace
        url = Connectors(ws.meta, ws.secrets).url(ex.connector)
        path: Path | str = under_folder(Path(url.removeprefix("file://")), ex.path)
    else:
        path = _path(base_dir, ex.file or "")
    loaded = set(since or [])
    new: list[tuple[str, str]] = []
    for f in list_files(path, ex.format):
        stat = f.path.stat()
        key = f"{f.path}|{stat.st_size}|{stat.st_mtime_ns}"
        if key not in loaded:
            new.append((str(f.path), key))
    parts = [read_files(p, format=ex.format, options=ex.options) for p, _ in new]
    tables = [p.to_table() for p in parts]
    data = pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})
    bad = [p.bad for p in parts if p.bad.height]
    extracted = Extracted(
        data=data,
        bad=pl.concat(bad) if bad else empty_quarantine(),
        source=str(path),
        files=[p for p, _ in new],
    )
    return extracted, sorted(loaded | {k for _, k in new})


def _path(base_dir: Path, text: str) -> str:
    path = Path(text).expanduser()
    return str(path if path.is_absolute() else base_dir / path)


def _read_database(url: str, ex: Extract, column: str | None, since: Any) -> Extracted:
    from ..connectors.sql import read_sql

    return read_sql(
        url,
        ex.table,
        query=ex.query,
        columns=ex.columns,
        incremental_column=column,
        since=since,
        attempts=1,  # the pipeline's own retries apply
    )


def _polars(data: pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(data)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _newest(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    try:
        return max(a, b)
    except TypeError:
        return b
