"""One governed demo workspace per module, queried through DuckDB, chDB and Spark alike.

chDB keeps one embedded server per process, Spark one JVM (``spark_session``, started once per
test run): tests share them (each workspace's engine keeps its relations under a random private
name and drops them when the workspace closes).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dap_kernel.errors import DapError
from dap_kernel.governance.identity import Principal
from dap_kernel.session import Session, Workspace
from dap_kernel.settings import Settings
from tests.conftest import make_governed

ENGINES = ("duckdb", "chdb", "spark")
OTHER_ENGINES = ENGINES[1:]  # compared with DuckDB, the reference


@pytest.fixture(scope="module")
def governed_home(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("engines-home") / "dap-home"
    shutil.copytree(demo_home, home)
    ws = Workspace(Settings(home=home, user="tester"))
    make_governed(ws)
    ws.close()
    return home


@pytest.fixture(scope="module")
def engines_ws(governed_home: Path, spark_session: object) -> Iterator[Workspace]:
    ws = Workspace(Settings(home=governed_home, user="tester"))
    yield ws
    ws.close()


def as_user(ws: Workspace, name: str) -> Session:
    return ws.session(Principal(name, source="test"))


def outcome(session: Session, sql: str, engine: str, *, loose: bool = False) -> tuple[str, Any]:
    """("rows", sorted normalized rows) or ("error", the DapError).

    ``loose`` compares each row's values whatever their columns' order and names: in
    ``SELECT *`` ClickHouse puts a ``USING`` column first and names a duplicate ``c.id``,
    DuckDB keeps the left table's order and repeats ``id``.
    """
    try:
        table = session.query(sql, engine=engine).table
    except DapError as e:
        return "error", e
    rows = normalized(table.to_pylist() if not loose else _positional(table))
    if loose:
        rows = sorted(
            (tuple(sorted(r, key=lambda x: (str(type(x)), repr(x)))) for r in rows), key=repr
        )
    return "rows", rows


def _positional(table: Any) -> list[dict[Any, Any]]:
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return [{i: col[r] for i, col in enumerate(columns)} for r in range(table.num_rows)]


def normalized(rows: list[dict[Any, Any]]) -> list[tuple[Any, ...]]:
    """Rows as sorted tuples of comparable values: engines differ in integer widths, decimal
    scales, time zones and date-or-timestamp types of equal values, never in the values."""
    out = [tuple(_value(v) for v in row.values()) for row in rows]
    return sorted(out, key=lambda r: tuple((x is None, str(type(x)), x) for x in r))


def _value(v: Any) -> Any:
    if isinstance(v, Decimal):
        return round(float(v), 6)
    if isinstance(v, float):
        return None if math.isnan(v) else round(v, 6)
    if isinstance(v, datetime):
        return v.replace(tzinfo=None)
    if isinstance(v, date):  # ClickHouse truncates a timestamp to a Date, DuckDB to midnight
        return datetime(v.year, v.month, v.day)
    if isinstance(v, bool | int | str) or v is None:
        return v
    return repr(v)


def same_rows(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> bool:
    if len(a) != len(b):
        return False
    for ra, rb in zip(a, b, strict=True):
        if len(ra) != len(rb):
            return False
        for x, y in zip(ra, rb, strict=True):
            if isinstance(x, float) or isinstance(y, float):
                if x is None or y is None or not math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-6):
                    return False
            elif x != y:
                return False
    return True
