"""Hypothesis on the governed rewrite: whatever an analyst writes, only what they may see.

Three tables (:mod:`tests.fuzz.sqlgen`): ``accounts`` (a row filter on region, a redacted,
an e-mail-masked and a hashed column), ``payments`` (a row filter, a nulled column) and
``vault`` (no grant). Every value of a filtered-out row, every raw value of a masked column
and every value of ``vault`` carries the marker ``zq``, which no generated statement spells.

Each statement, run as the analyst, must either fail with a :class:`DapError` (one line, no
marker, no engine-private name) or answer, and then:

* no cell of the answer shows the marker (stringified, nested values included), and
* the answer equals what plain DuckDB gives for the same statement over the analyst's own
  view of the tables (the *oracle*: tables holding exactly the rows and masked values the
  analyst sees), whenever the statement is deterministic and was not broken on purpose.
  So a leak that transforms a value (``reverse(secret)``, a count of hidden rows) shows too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from hypothesis import given

from dap_kernel.errors import DapError
from dap_kernel.governance.identity import Principal
from dap_kernel.session import Session, Workspace
from dap_kernel.settings import Settings
from tests.fuzz.profile import fuzz
from tests.fuzz.sqlgen import MARKER, Statement, statements, token_soup

REGIONS = ["EMEA", "EMEA", "EMEA", "APAC", "APAC", "AMER", "AMER", None, "EMEA", "APAC"]


def accounts() -> pl.DataFrame:
    rows = []
    for i, region in enumerate(REGIONS, start=1):
        seen = region == "EMEA"
        rows.append(
            {
                "id": i,
                "owner": f"owner_{i}" if seen else f"{MARKER}hid_owner_{i}",
                "region": region,
                "secret": f"{MARKER}raw_secret_{i}",
                "email": f"{MARKER}raw{i}@{'visible' if seen else MARKER + 'hidden'}.test",
                "note": f"{MARKER}raw_note_{i}",
                "amount": i * 10,
            }
        )
    return pl.DataFrame(rows)


def payments() -> pl.DataFrame:
    rows = []
    for i in range(1, 16):
        account = (i % len(REGIONS)) + 1
        region = REGIONS[account - 1]
        seen = region == "EMEA"
        rows.append(
            {
                "pay_id": i,
                "account_id": account,
                "region": region,
                "memo": f"memo_{i}" if seen else f"{MARKER}hid_memo_{i}",
                "card": f"{MARKER}raw_card_{i}",
                "amount": i,
            }
        )
    return pl.DataFrame(rows)


def vault() -> pl.DataFrame:
    return pl.DataFrame({"k": [f"{MARKER}k{i}" for i in range(3)], "v": [f"{MARKER}v"] * 3})


@dataclass
class Fuzzed:
    ws: Workspace
    analyst: Session
    oracle: duckdb.DuckDBPyConnection
    versions: dict[str, int]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    home: Path = tmp_path_factory.mktemp("fuzz-rewrite") / "home"
    ws = Workspace(Settings(home=home, user="tester"))
    ws.catalog.create_table("main.accounts", accounts(), column_tags={"secret": ["pii"]})
    ws.catalog.create_table("main.payments", payments())
    ws.catalog.create_table("main.vault", vault())
    admin = ws.admin("tester")
    admin.set_multi_user(True)
    admin.add_user("ann", {"region": "EMEA"})
    admin.grant("SELECT", "main.accounts", "user", "ann")
    admin.grant("SELECT", "main.payments", "user", "ann")
    for table in ("main.accounts", "main.payments"):
        admin.add_row_filter(table, "region = current_user_attr('region')")
    admin.set_mask("tag:pii", "redact")
    admin.set_mask("main.accounts.email", "mask_email")
    admin.set_mask("main.accounts.note", "hash")
    admin.set_mask("main.payments.card", "null")
    analyst = ws.session(Principal("ann", source="test"))
    oracle = duckdb.connect(":memory:")
    for table in ("accounts", "payments"):
        view = analyst.query(f"SELECT * FROM {table}").table
        assert view.num_rows > 0 and MARKER not in str(view.to_pylist()), table
        assert set(view.column("region").to_pylist()) == {"EMEA"}
        oracle.register("view", view)
        oracle.execute(f"CREATE TABLE {table} AS SELECT * FROM view")
        oracle.unregister("view")
    versions = {t.qualified_name: t.version for t in ws.catalog.list_tables()}
    yield Fuzzed(ws, analyst, oracle, versions)
    assert {t.qualified_name: t.version for t in ws.catalog.list_tables()} == versions
    oracle.close()
    ws.close()


_RUNTIME_ERRORS = (
    duckdb.ConversionException,
    duckdb.InvalidInputException,
    duckdb.OutOfRangeException,
)
_PRIVATE_NAME = re.compile(r"#[0-9a-f]{24}")


def _plain(value: Any) -> Any:
    """Struct field names in lower case: DAP runs the statement with its words' case varied,
    the oracle without, and a row as a struct (``to_json(a)``, ``s``) carries them."""
    if isinstance(value, dict):
        return {str(k).lower(): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str) and value.startswith(("{", "[")):
        return value.lower()  # to_json text
    return value


def _rows(table: Any) -> list[str]:
    return sorted(repr(tuple(_plain(v) for v in row.values())) for row in table.to_pylist())


def governed(session: Session, sql: str) -> list[str] | DapError:
    """The analyst's answer (rows as sorted reprs), or the DapError; anything else fails."""
    try:
        return _rows(session.query(sql).table)
    except DapError as e:
        message = e.message
        assert "\n" not in message.strip(), f"a multi-line message for {sql!r}: {message!r}"
        assert MARKER not in message.lower(), f"a hidden value in the message: {message!r}"
        assert not _PRIVATE_NAME.search(message), f"the engine's private name: {message!r}"
        assert "Traceback" not in message
        return e
    except Exception as e:  # the property under test: nothing but DapError
        pytest.fail(f"{sql!r} raised {type(e).__name__}, not a DapError: {e}")


def no_marker(rows: list[str], sql: str) -> None:
    leaked = [r for r in rows if MARKER in r.lower()]
    assert not leaked, f"{sql!r} returned governed values: {leaked[:2]}"


@fuzz(300)
@given(statement=statements())
def test_generated_statements_return_only_what_the_analyst_may_see(
    fuzzed: Fuzzed, statement: Statement
) -> None:
    answer = governed(fuzzed.analyst, statement.sql)
    if isinstance(answer, DapError):
        return
    no_marker(answer, statement.sql)
    if not statement.oracle_sql:
        return
    try:
        with fuzzed.oracle.cursor() as cursor:
            expected = _rows(cursor.sql(statement.oracle_sql).to_arrow_table())
    except _RUNTIME_ERRORS:
        # A value that fails a cast or a function, in a row the engine evaluated in one plan
        # and not in the other (the secured source filters first, or DuckDB's optimizer skips
        # an empty side): the engine does not promise an order of evaluation.
        return
    except duckdb.Error as e:
        # DAP answered a statement plain DuckDB cannot bind over the analyst's view: it read
        # something the view does not have (a table without a grant, say).
        pytest.fail(f"{statement.sql!r} answered, but the oracle fails: {e}")
    if statement.deterministic:
        assert answer == expected, f"{statement.sql!r}: DAP and the oracle disagree"


@fuzz(250)
@given(sql=token_soup())
def test_token_soup_fails_cleanly_or_shows_nothing_hidden(fuzzed: Fuzzed, sql: str) -> None:
    answer = governed(fuzzed.analyst, sql)
    if not isinstance(answer, DapError):
        no_marker(answer, sql)
