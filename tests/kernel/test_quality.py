"""Data quality: every rule kind on a batch (private engine) and on a governed catalog table,
quarantine-shaped failures, stored results and badges, the CLI and the magic."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from sqlalchemy import select

from dap_kernel.errors import QueryRefused, UnknownTable
from dap_kernel.governance.identity import Principal
from dap_kernel.magics import DapMagics
from dap_kernel.meta import MetaStore
from dap_kernel.quality import (
    QualityError,
    QualityReport,
    QualityResult,
    QualityStore,
    Rule,
    check,
    parse_duration,
    parse_rules,
    set_rules,
    validate,
)
from dap_kernel.quarantine import SCHEMA as QUARANTINE_SCHEMA
from dap_kernel.quarantine import quarantine_name
from dap_kernel.session import Workspace

DAP = shutil.which("dap", path=str(Path(sys.executable).parent)) or "dap"


def reasons(report: QualityReport) -> list[tuple[dict[str, Any], str, str]]:
    """(original row, rules, reasons) of each quarantined row, in input order."""
    return [
        (json.loads(rec), rule, reason)
        for rec, rule, reason in report.failed.select(
            "_dap_record", "_dap_rule", "_dap_reason"
        ).iter_rows()
    ]


def result(report: QualityReport, name: str) -> tuple[str, int]:
    found = next(r for r in report.results if r.rule == name)
    return found.status, found.failures


def assert_nothing_lost(report: QualityReport, data: pl.DataFrame) -> None:
    assert report.passed.height + report.failed.height == data.height
    assert report.passed.columns == data.columns
    assert report.failed.schema == pl.Schema(QUARANTINE_SCHEMA)


# -- parsing ---------------------------------------------------------------------------------


def test_yaml_forms_parse_with_default_names_and_severities() -> None:
    rules = parse_rules(
        """
        - not_null: [id, email]
        - unique: [order_id, line_no]
        - accepted_values: {column: status, values: [a, b]}
          severity: warn
        - range: {column: amount, min: 0}
        - regex: {column: email, pattern: "^[^@]+@[^@]+$"}
        - foreign_key: {column: customer_id, references: customers.customer_id}
        - row_count: {min: 1}
        - freshness: {column: updated_at, max_age: 24h}
        - sql: "SELECT * FROM {table} WHERE a > b"
          name: a_not_above_b
        - range: {column: amount, max: 100, severity: warn}
        """
    )
    assert [(r.name, r.kind, r.column, r.severity) for r in rules] == [
        ("not_null_id", "not_null", "id", "error"),
        ("not_null_email", "not_null", "email", "error"),
        ("unique_order_id_line_no", "unique", "order_id", "error"),
        ("accepted_values_status", "accepted_values", "status", "warn"),
        ("range_amount", "range", "amount", "error"),
        ("regex_email", "regex", "email", "error"),
        ("foreign_key_customer_id", "foreign_key", "customer_id", "error"),
        ("row_count", "row_count", None, "error"),
        ("freshness_updated_at", "freshness", "updated_at", "error"),
        ("a_not_above_b", "sql", None, "error"),
        ("range_amount_2", "range", "amount", "warn"),
    ]
    assert rules[2].columns == ("order_id", "line_no")
    assert rules[6].references == ("main.customers", "customer_id")
    assert rules[8].options["max_age_s"] == 86_400
    assert [r.row_level for r in rules] == [True] * 7 + [False, False, True, True]
    # The stored (YAML) form reads back to the same rules.
    assert parse_rules([r.to_spec() for r in rules]) == rules


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"nonsense": "id"}, "name exactly one kind"),
        ({"not_null": "id", "unique": "id"}, "name exactly one kind"),
        ({"not_null": "id", "severty": "warn"}, "unknown key"),
        ({"not_null": "id", "severity": "fatal"}, "severity must be warn or error"),
        ({"range": {"column": "x"}}, "give min, max or both"),
        ({"range": {"column": "x", "min": 5, "max": 1}}, "greater than max"),
        ({"range": {"column": "x", "minimum": 0}}, "unknown key"),
        ({"accepted_values": {"column": "x", "values": []}}, "non-empty list"),
        ({"regex": {"column": "x", "pattern": "(("}}, "invalid pattern"),
        ({"freshness": {"column": "t", "max_age": "soon"}}, "invalid duration"),
        ({"foreign_key": {"column": "c", "references": "customers"}}, "schema.table.column"),
        ({"sql": "  "}, "SELECT that returns"),
        ({"sql": "SELECT 1", "scope": "everything"}, "scope must be rows or table"),
        ({"row_count": {"min": 1.5}}, "whole numbers"),
        ({"unique": []}, "name a column"),
    ],
)
def test_bad_rules_are_clear_errors(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(QualityError, match=message):
        parse_rules([spec])


def test_durations() -> None:
    assert [parse_duration(d) for d in ("30m", "24h", "7d", "45s", "2w", 90)] == [
        1800,
        86_400,
        604_800,
        45,
        1_209_600,
        90,
    ]
    with pytest.raises(QualityError):
        parse_duration("-1h")


def test_rules_file_and_yaml_errors(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - not_null: id\n")
    assert [r.name for r in parse_rules(path)] == ["not_null_id"]
    assert [r.name for r in parse_rules(str(path))] == ["not_null_id"]
    with pytest.raises(QualityError, match="cannot read the rules file"):
        parse_rules(tmp_path / "missing.yaml")
    with pytest.raises(QualityError, match="not valid YAML"):
        parse_rules("- not_null: [id\n")
    with pytest.raises(QualityError, match="list of mappings"):
        parse_rules("just text\n")


# -- validate: each rule kind on a batch ------------------------------------------------------


def test_not_null() -> None:
    data = pl.DataFrame({"id": [1, None, 3, None]})
    report = validate(data, [{"not_null": "id"}])
    assert report.passed["id"].to_list() == [1, 3]
    assert reasons(report) == [
        ({"id": None}, "not_null_id", "id is null"),
        ({"id": None}, "not_null_id", "id is null"),
    ]
    assert result(report, "not_null_id") == ("fail", 2)
    assert report.ok and report.status == "fail"
    assert_nothing_lost(report, data)
    clean = validate(data.drop_nulls(), [{"not_null": "id"}])
    assert result(clean, "not_null_id") == ("pass", 0) and clean.status == "pass"


def test_unique_keeps_the_first_row_of_each_key_and_ignores_null_keys() -> None:
    data = pl.DataFrame({"id": [1, 2, 1, 3, 1, None, None], "n": [10, 20, 30, 40, 50, 60, 70]})
    report = validate(data, [{"unique": "id"}])
    assert report.passed["n"].to_list() == [10, 20, 40, 60, 70]
    assert [(row["n"], reason) for row, _, reason in reasons(report)] == [
        (30, "id = 1 is duplicated (3 rows with this key)"),
        (50, "id = 1 is duplicated (3 rows with this key)"),
    ]
    assert result(report, "unique_id") == ("fail", 2)
    assert_nothing_lost(report, data)


def test_unique_on_several_columns() -> None:
    data = pl.DataFrame({"order": [1, 1, 1, 2], "line": ["a", "b", "a", "a"]})
    report = validate(data, [{"unique": ["order", "line"]}])
    assert report.passed.rows() == [(1, "a"), (1, "b"), (2, "a")]
    assert reasons(report)[0][2] == "(order, line) = (1, 'a') is duplicated (2 rows with this key)"
    assert validate(data.unique(maintain_order=True), [{"unique": ["order", "line"]}]).ok


def test_accepted_values_ignores_nulls() -> None:
    data = pl.DataFrame({"status": ["open", "shipped", "lost", None, "open"]})
    report = validate(
        data, [{"accepted_values": {"column": "status", "values": ["open", "shipped"]}}]
    )
    assert report.passed["status"].to_list() == ["open", "shipped", None, "open"]
    assert reasons(report) == [
        (
            {"status": "lost"},
            "accepted_values_status",
            "status = 'lost' is not one of 'open', 'shipped'",
        )
    ]
    numbers = validate(
        pl.DataFrame({"n": [1, 2, 3]}), [{"accepted_values": {"column": "n", "values": [1, 2]}}]
    )
    assert reasons(numbers)[0][2] == "n = 3 is not one of 1, 2"


def test_range_is_inclusive_with_reasons_for_each_side() -> None:
    data = pl.DataFrame({"amount": [-3, 0, 50, 100, 101, None]})
    report = validate(data, [{"range": {"column": "amount", "min": 0, "max": 100}}])
    assert report.passed["amount"].to_list() == [0, 50, 100, None]
    assert [r[2] for r in reasons(report)] == [
        "amount = -3 is below the minimum 0",
        "amount = 101 is above the maximum 100",
    ]
    only_min = validate(data, [{"range": {"column": "amount", "min": 1}}])
    assert only_min.passed["amount"].to_list() == [50, 100, 101, None]


def test_range_on_dates() -> None:
    data = pl.DataFrame({"day": [date(2024, 1, 1), date(2025, 6, 1)]})
    report = validate(data, [{"range": {"column": "day", "max": date(2024, 12, 31)}}])
    assert report.passed["day"].to_list() == [date(2024, 1, 1)]
    assert reasons(report)[0][2] == "day = 2025-06-01 is above the maximum 2024-12-31"


def test_regex_searches_with_the_engine_syntax() -> None:
    data = pl.DataFrame({"email": ["ann@example.com", "nope", None, "a@b"]})
    report = validate(data, [{"regex": {"column": "email", "pattern": "^[^@]+@[^@]+$"}}])
    assert report.passed["email"].to_list() == ["ann@example.com", None, "a@b"]
    assert reasons(report)[0][2] == "email = 'nope' does not match the pattern '^[^@]+@[^@]+$'"


def test_foreign_key_reads_the_referenced_keys_through_the_session(
    demo_workspace: Workspace,
) -> None:
    data = pl.DataFrame({"customer_id": [1, 2, 99_999, None], "x": [1, 2, 3, 4]})
    rule = {"foreign_key": {"column": "customer_id", "references": "main.customers.customer_id"}}
    report = validate(data, [rule], session=demo_workspace.session())
    assert report.passed["x"].to_list() == [1, 2, 4]
    assert reasons(report) == [
        (
            {"customer_id": 99_999, "x": 3},
            "foreign_key_customer_id",
            "customer_id = 99999 is not in main.customers.customer_id",
        )
    ]
    record = demo_workspace.audit.tail(1)[0]
    assert record.tables == ["main.customers"] and record.decision == "allowed"


def test_row_count_is_table_level_and_fails_the_batch() -> None:
    data = pl.DataFrame({"id": [1, 2, 3]})
    report = validate(data, [{"row_count": {"min": 5}}, {"not_null": "id"}])
    assert not report.ok and report.status == "fail"
    assert report.passed.height == 3 and report.failed.height == 0  # the caller loads nothing
    failing = next(r for r in report.results if r.rule == "row_count")
    assert failing.message == "3 row(s), fewer than the minimum 5"
    assert validate(data, [{"row_count": {"min": 1, "max": 3}}]).ok
    too_many = validate(data, [{"row_count": {"max": 2}}])
    assert too_many.results[0].message == "3 row(s), more than the maximum 2"
    warn = validate(data, [{"row_count": {"min": 5}, "severity": "warn"}])
    assert warn.ok and warn.status == "warn"


def test_freshness() -> None:
    now = datetime.now(UTC)  # not the import time: a long run would age the data
    fresh = pl.DataFrame({"ts": [now - timedelta(days=3), now - timedelta(minutes=10)]})
    assert validate(fresh, [{"freshness": {"column": "ts", "max_age": "30m"}}]).ok
    stale = validate(fresh, [{"freshness": {"column": "ts", "max_age": "5m"}}])
    assert not stale.ok
    assert stale.results[0].message.startswith("newest ts is 10.")
    assert stale.results[0].details["age_s"] == pytest.approx(600, abs=60)
    naive_days = pl.DataFrame({"d": [date.today() - timedelta(days=10)]})
    assert not validate(naive_days, [{"freshness": {"column": "d", "max_age": "7d"}}]).ok
    assert validate(naive_days, [{"freshness": {"column": "d", "max_age": "12d"}}]).ok
    empty = validate(fresh.clear(), [{"freshness": {"column": "ts", "max_age": "1d"}}])
    assert not empty.ok and "no values in ts" in empty.results[0].message


def test_sql_rules_on_rows_and_on_the_table() -> None:
    data = pl.DataFrame({"a": [1, 5, 3], "b": [2, 4, 6]})
    rows = validate(data, [{"sql": "SELECT * FROM {table} WHERE a > b", "name": "a_le_b"}])
    assert rows.passed["a"].to_list() == [1, 3]
    assert reasons(rows) == [({"a": 5, "b": 4}, "a_le_b", "returned by the sql rule a_le_b")]
    aliased = validate(data, [{"sql": "SELECT t.* FROM {table} AS t WHERE t.a > t.b"}])
    assert aliased.failed.height == 1
    table = validate(
        data,
        [
            {
                "sql": "SELECT sum(a) FROM {table} HAVING sum(a) > 5",
                "name": "small",
                "scope": "table",
            }
        ],
    )
    assert not table.ok and table.passed.height == 3 and result(table, "small") == ("fail", 1)
    none = validate(data, [{"sql": "SELECT * FROM {table} WHERE a > 100"}, {"not_null": "a"}])
    assert none.status == "pass" and none.passed.equals(data)
    with pytest.raises(QualityError, match="must return rows of"):
        validate(data, [{"sql": "SELECT a + 1 AS x FROM {table}"}])


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM main.customers", "can read only"),
        ("SELECT * FROM read_csv('/etc/passwd')", "not allowed"),
        ("DELETE FROM {table}", "not allowed"),
        ("SELECT 1; SELECT 2", "one statement at a time"),
        ("SELECT * FROM {table} WHERE getenv('HOME') IS NOT NULL", "not allowed"),
        ("SELECT 1", "read the data under test"),
    ],
)
def test_sql_rules_on_a_batch_cannot_reach_anything_else(sql: str, message: str) -> None:
    with pytest.raises(QualityError, match=message):
        validate(pl.DataFrame({"a": [1]}), [{"sql": sql}])


def test_warn_rules_only_count_and_a_row_failing_several_rules_is_quarantined_once() -> None:
    data = pl.DataFrame({"id": [1, 2, None], "amount": [-1, 5, -2], "status": ["x", "a", "a"]})
    report = validate(
        data,
        [
            {"not_null": "id"},
            {"range": {"column": "amount", "min": 0}},
            {"accepted_values": {"column": "status", "values": ["a"]}, "severity": "warn"},
        ],
    )
    assert report.passed["id"].to_list() == [2]
    assert [(rule, reason) for _, rule, reason in reasons(report)] == [
        ("range_amount", "amount = -1 is below the minimum 0"),
        ("not_null_id; range_amount", "id is null; amount = -2 is below the minimum 0"),
    ]
    assert result(report, "accepted_values_status") == ("warn", 1)
    assert report.ok and report.status == "fail"
    assert_nothing_lost(report, data)
    only_warn = validate(
        data, [{"accepted_values": {"column": "status", "values": ["a"]}, "severity": "warn"}]
    )
    assert only_warn.passed.equals(data) and only_warn.status == "warn"


def test_no_row_is_lost_on_a_larger_batch() -> None:
    n = 5_000
    data = pl.DataFrame(
        {"id": [i // 2 if i % 7 == 0 else i for i in range(n)], "v": [i % 11 - 1 for i in range(n)]}
    )
    report = validate(
        data,
        [{"unique": "id"}, {"range": {"column": "v", "min": 0}}],
        source="big.csv",
        run_id="r1",
    )
    assert_nothing_lost(report, data)
    expected_bad = data.with_row_index().filter(
        pl.col("id").is_duplicated() & (pl.int_range(pl.len()).over("id") > 0) | (pl.col("v") < 0)
    )
    assert report.failed.height == expected_bad.height > 0
    assert set(report.failed["_dap_source"]) == {"big.csv"}
    assert set(report.failed["_dap_run_id"]) == {"r1"}


def test_arrow_input_and_empty_batches() -> None:
    table = pa.table({"id": [1, None]})
    report = validate(table, [{"not_null": "id"}])
    assert report.passed["id"].to_list() == [1] and report.failed.height == 1
    empty = validate(pl.DataFrame({"id": []}, schema={"id": pl.Int64}), [{"unique": "id"}])
    assert empty.passed.height == 0 and empty.failed.height == 0 and empty.status == "pass"
    assert validate(pl.DataFrame({"id": [1]}), []).status == "pass"


def test_unknown_column_is_a_clear_error() -> None:
    with pytest.raises(QualityError, match="rule range_amount: no column 'amount' in the batch"):
        validate(pl.DataFrame({"id": [1]}), [{"range": {"column": "amount", "min": 0}}])


def test_hostile_column_names_and_values_are_data_not_sql() -> None:
    col = 'a"b; DROP TABLE x; --'
    other = "it's"
    evil = "x'); DROP TABLE t; --"
    data = pl.DataFrame({col: [evil, "ok", None], other: [1, 2, 3]})
    report = validate(
        data,
        [
            {"accepted_values": {"column": col, "values": ["ok", "'; SELECT 1; --"]}},
            {"regex": {"column": col, "pattern": "^[a-z]+$"}, "severity": "warn"},
            {"not_null": col},
            {"range": {"column": other, "max": 2}, "severity": "warn"},
            {"unique": [col, other]},
            {"sql": f'SELECT * FROM {{table}} WHERE "{other}" = 3', "name": "q'uote"},
        ],
    )
    assert report.passed.rows() == [("ok", 2)]
    assert [(rule, reason) for _, rule, reason in reasons(report)] == [
        (
            f"accepted_values_{col}",
            f"{col} = '{evil}' is not one of 'ok', ''; SELECT 1; --'",
        ),
        (f"not_null_{col}; q'uote", f"{col} is null; returned by the sql rule q'uote"),
    ]
    assert result(report, f"range_{other}") == ("warn", 1)
    assert_nothing_lost(report, data)


def test_a_reserved_column_name_is_refused() -> None:
    with pytest.raises(QualityError, match="reserves"):
        validate(pl.DataFrame({"__dap_row__": [1]}), [{"not_null": "__dap_row__"}])


# -- check: catalog tables through governance --------------------------------------------------

ORDERS_RULES: list[dict[str, Any]] = [
    {"not_null": "order_id"},
    {"unique": "order_id"},
    {"foreign_key": {"column": "customer_id", "references": "main.customers.customer_id"}},
    {"accepted_values": {"column": "channel", "values": ["web", "mobile", "store"]}},
    {"row_count": {"min": 1}},
    {"freshness": {"column": "order_ts", "max_age": "100000d"}},
]


def test_check_with_stored_rules_records_results_and_a_badge(demo_workspace: Workspace) -> None:
    session = demo_workspace.session()
    store = QualityStore(demo_workspace.meta)
    assert store.badge("main.orders")["status"] == "unknown"
    with pytest.raises(QualityError, match="no quality rules for main.orders"):
        check("main.orders", session=session)
    set_rules("main.orders", ORDERS_RULES, session=session)
    report = check("orders", session=session)
    assert report.status == "pass" and report.ok and report.recorded
    assert report.rows == demo_workspace.catalog.get("main.orders").row_count
    latest = store.latest("main.orders")
    assert latest is not None and latest.checked_by == "tester"
    assert latest.table_version == demo_workspace.catalog.get("main.orders").version
    assert [r.rule for r in latest.results] == [r.rule for r in report.results]
    badge = store.badge("main.orders")
    assert badge["status"] == "pass" and badge["failed_rules"] == 0
    assert badge["freshness"]["column"] == "order_ts"
    newest = demo_workspace.session().sql("SELECT max(order_ts) AS m FROM main.orders")["m"][0]
    assert badge["freshness"]["newest"] == newest.replace(tzinfo=UTC)
    assert badge["freshness"]["age_s"] > 0
    # A failing warn rule, then an error rule: the newest check is what the badge shows.
    set_rules(
        "main.orders",
        [{"accepted_values": {"column": "status", "values": ["x"]}, "severity": "warn"}],
        session=session,
    )
    assert check("main.orders", session=session).status == "warn"
    assert store.badge("main.orders")["status"] == "warn"
    set_rules("main.orders", [{"range": {"column": "order_id", "max": 10}}], session=session)
    failing = check("main.orders", session=session)
    assert failing.status == "fail" and not failing.ok
    assert store.badge("main.orders") | {"checked_at": None} == {
        "status": "fail",
        "checked_at": None,
        "failed_rules": 1,
        "freshness": None,
    }
    assert failing.failed.height == 100  # a sample; nothing was written
    assert failing.failed["_dap_reason"][0].endswith("is above the maximum 10")
    assert quarantine_name("main.orders") not in demo_workspace.catalog.known_names()


def test_ad_hoc_rules_are_not_recorded(demo_workspace: Workspace) -> None:
    session = demo_workspace.session()
    report = check("main.orders", [{"range": {"column": "order_id", "max": 0}}], session=session)
    assert report.status == "fail" and not report.recorded
    assert QualityStore(demo_workspace.meta).latest("main.orders") is None
    recorded = check("main.orders", [{"not_null": "order_id"}], session=session, record=True)
    assert recorded.recorded


def test_write_failures_copies_rows_to_quarantine_and_deletes_nothing(
    demo_workspace: Workspace,
) -> None:
    session = demo_workspace.session()
    before = demo_workspace.catalog.get("main.orders").row_count
    rules: list[dict[str, Any]] = [
        {"range": {"column": "order_id", "max": 40}},
        {"accepted_values": {"column": "channel", "values": ["web"]}},
        {"sql": "SELECT * FROM {table} WHERE order_id = 45", "name": "no_45"},
    ]
    report = check("main.orders", rules, session=session, write_failures=True)
    assert demo_workspace.catalog.get("main.orders").row_count == before
    quarantined = session.sql(
        "SELECT _dap_rule, _dap_reason, _dap_record FROM main.orders__quarantine"
    )
    expected = session.sql(
        "SELECT count(*) AS n FROM main.orders WHERE order_id > 40 OR channel <> 'web'"
    )["n"][0]
    assert report.quarantined == quarantined.height == expected + 1  # 45 twice: two statements
    both = quarantined.filter(pl.col("_dap_rule") == "range_order_id; accepted_values_channel")
    assert both.height > 0 and all(
        "is above the maximum 40; channel = '" in r for r in both["_dap_reason"]
    )
    assert quarantined.filter(pl.col("_dap_rule") == "no_45").height == 1


def test_check_sees_only_the_rows_the_checker_may_read(governed: Workspace) -> None:
    rules: list[dict[str, Any]] = [
        {"accepted_values": {"column": "region", "values": ["EMEA"]}},
        {"row_count": {"min": 1}},
    ]
    admin = check("main.customers", rules, session=governed.session(), record=True)
    assert admin.status == "fail"
    ann = governed.session(Principal("ann"))
    mine = check("main.customers", rules, session=ann)
    emea = ann.sql("SELECT count(*) AS n FROM main.customers")["n"][0]
    assert mine.status == "pass" and mine.rows == emea < (admin.rows or 0)
    assert not mine.recorded  # a filtered view's results are not the table's
    with pytest.raises(QueryRefused, match="MODIFY"):  # ad hoc rules recorded: a write
        check("main.customers", rules, session=ann, record=True)
    set_rules("main.customers", rules, session=governed.session())
    assert not check("main.customers", session=ann).recorded
    with pytest.raises(QueryRefused, match="not stored"):
        check("main.customers", session=ann, record=True)
    assert QualityStore(governed.meta).badge("main.customers")["status"] == "fail"
    # Masks apply too: ann's emails are masked, so a pattern on raw emails fails for her.
    pattern = [{"regex": {"column": "email", "pattern": r"^[^*@]+@example\.com$"}}]
    assert check("main.customers", pattern, session=governed.session()).status == "pass"
    assert check("main.customers", pattern, session=ann).status == "fail"


def test_a_foreign_key_into_an_unreadable_table_is_refused(governed: Workspace) -> None:
    governed.admin("tester").grant("SELECT", "main.orders", "user", "bob")
    bob = governed.session(Principal("bob"))
    rule = [{"foreign_key": {"column": "customer_id", "references": "main.customers.customer_id"}}]
    assert check("main.orders", [{"not_null": "order_id"}], session=bob).status == "pass"
    with pytest.raises(QueryRefused):
        check("main.orders", rule, session=bob)
    with pytest.raises(QueryRefused):
        validate(pl.DataFrame({"customer_id": [1]}), rule, session=bob)
    # A table bob may not read is answered as a missing one: no existence oracle.
    with pytest.raises(UnknownTable) as refused:
        check("main.customers", [{"not_null": "email"}], session=bob)
    with pytest.raises(UnknownTable) as missing:
        check("main.customerz", [{"not_null": "email"}], session=bob)
    assert str(refused.value).replace("customers", "X") == str(missing.value).replace(
        "customerz", "X"
    )


def test_setting_rules_and_writing_failures_need_modify(governed: Workspace) -> None:
    ann = governed.session(Principal("ann"))
    with pytest.raises(QueryRefused):
        set_rules("main.orders", [{"not_null": "order_id"}], session=ann)
    with pytest.raises(QueryRefused):
        check("main.orders", [{"not_null": "order_id"}], session=ann, write_failures=True)
    set_rules("main.orders", [{"not_null": "order_id"}], session=governed.session())
    assert check("main.orders", session=ann).recorded  # ann sees all of orders


def test_check_on_hostile_column_names(workspace: Workspace) -> None:
    col = 'x"y; DROP TABLE main.t; --'
    workspace.catalog.create_table(
        "hostile", pl.DataFrame({col: ["a'; --", "b", None], "n": [1, 1, 2]})
    )
    session = workspace.session()
    report = check(
        "main.hostile",
        [
            {"accepted_values": {"column": col, "values": ["b"]}},
            {"unique": "n"},
            {"regex": {"column": col, "pattern": "^[ab]$"}},
        ],
        session=session,
        write_failures=True,
    )
    assert [(r.rule, r.failures) for r in report.results] == [
        (f"accepted_values_{col}", 1),
        ("unique_n", 1),
        (f"regex_{col}", 1),
    ]
    assert session.sql("SELECT count(*) AS n FROM main.hostile")["n"][0] == 3
    assert report.quarantined >= 1


def test_unknown_columns_and_tables(demo_workspace: Workspace) -> None:
    session = demo_workspace.session()
    with pytest.raises(QualityError, match="no column 'nope' in main.orders"):
        check("main.orders", [{"not_null": "nope"}], session=session)
    with pytest.raises(Exception, match="nowhere"):
        check("main.nowhere", [{"not_null": "x"}], session=session)


# -- the store on both metadata databases ------------------------------------------------------


def test_store_round_trip(meta_url: str) -> None:
    meta = MetaStore(meta_url)
    meta.migrate()
    try:
        store = QualityStore(meta)
        store.set_rules("orders", ORDERS_RULES, actor="ann")
        assert [r.kind for r in store.rules("main.orders")] == [
            "not_null",
            "unique",
            "foreign_key",
            "accepted_values",
            "row_count",
            "freshness",
        ]
        newest = datetime(2026, 1, 1, tzinfo=UTC)
        report = QualityReport(
            results=[
                replace_status(
                    validate(pl.DataFrame({"id": [1]}), [{"not_null": "id"}]).results[0]
                ),
                validate(
                    pl.DataFrame({"t": [newest]}), [{"freshness": {"column": "t", "max_age": "1h"}}]
                ).results[0],
            ],
            passed=pl.DataFrame(),
            failed=pl.DataFrame(),
            ok=False,
            table="main.orders",
            table_version=7,
        )
        store.record(report, checked_by="ann")
        latest = store.latest("main.orders")
        assert latest is not None and latest.table_version == 7 and latest.status == "fail"
        assert latest.checked_at.tzinfo is not None
        badge = store.badge("main.orders")
        assert badge["status"] == "fail" and badge["failed_rules"] == 1
        assert badge["freshness"]["newest"] == newest
        store.set_rules("main.orders", [])
        assert store.rules("main.orders") == []
        # Old checks beyond `keep` are pruned; the newest stays the latest.
        small = QualityStore(meta, keep=2)
        for i in range(3):
            report.checked_at = datetime.now(UTC) + timedelta(minutes=i + 1)  # after the first
            last_id = small.record(report)
        with meta.session() as s:
            kept = s.execute(
                select(QualityResult.check_id).where(QualityResult.table_name == "main.orders")
            ).scalars()
            assert len(set(kept)) == 2
        latest = small.latest("main.orders")
        assert latest is not None and latest.check_id == last_id
    finally:
        meta.dispose()


def replace_status(r: Any) -> Any:
    from dataclasses import replace

    return replace(r, status="pass")


# -- CLI and magic ----------------------------------------------------------------------------


def dap(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAP_")}
    env.update({"DAP_HOME": str(home), "DAP_USER": "tester"})
    return subprocess.run([DAP, *args], capture_output=True, text=True, env=env, timeout=120)


def test_cli_rules_check_show(demo_workspace: Workspace, tmp_path: Path) -> None:
    home = demo_workspace.settings.home
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "- not_null: order_id\n"
        "- accepted_values: {column: status, values: [none]}\n"
        "  severity: warn\n"
    )
    assert "no quality rules" in dap("quality", "rules", "main.orders", home=home).stdout
    stored = dap("quality", "rules", "main.orders", "--set", str(rules), home=home)
    assert stored.returncode == 0 and "2 rules stored" in stored.stdout, stored.stderr
    assert "accepted_values:" in dap("quality", "rules", "orders", home=home).stdout
    ok = dap("quality", "check", "main.orders", home=home)
    assert ok.returncode == 0, ok.stderr
    assert "main.orders: warn (1 of 2 rules failed); results stored" in ok.stdout
    failing = tmp_path / "failing.yaml"
    failing.write_text("- range: {column: order_id, max: 3}\n")
    bad = dap("quality", "check", "main.orders", "--rules", str(failing), home=home)
    assert bad.returncode == 1 and "main.orders: fail" in bad.stdout
    assert "results stored" not in bad.stdout
    shown = dap("quality", "show", "main.orders", home=home)
    assert "accepted_values_status" in shown.stdout and "main.orders: warn" in shown.stdout
    error = dap(
        "quality", "check", "main.orders", "--rules", str(tmp_path / "none.yaml"), home=home
    )
    assert error.returncode == 1 and error.stderr.startswith("error: cannot read the rules file")
    assert len(error.stderr.strip().splitlines()) == 1


@pytest.fixture
def shell(demo_workspace: Workspace) -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    ip.register_magics(DapMagics(shell=ip, session_factory=demo_workspace.session))
    yield ip
    InteractiveShell.clear_instance()


def test_magic_runs_the_check_and_shows_a_frame(
    shell: InteractiveShell, demo_workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    set_rules("main.orders", [{"not_null": "order_id"}], session=demo_workspace.session())
    frame = shell.run_line_magic("dap", "quality main.orders")
    assert isinstance(frame, pl.DataFrame)
    assert frame.select("rule", "status", "failures").rows() == [("not_null_order_id", "pass", 0)]
    with pytest.raises(UsageError, match="no quality rules for main.customers"):
        shell.run_line_magic("dap", "quality main.customers")
    with pytest.raises(UsageError, match="name one table"):
        shell.run_line_magic("dap", "quality")
    shell.run_line_magic("dap", "help")
    assert "%dap quality TABLE" in capsys.readouterr().out


def test_rule_objects_are_accepted_as_they_are() -> None:
    rule = Rule("positive", "range", "x", "warn", {"min": 0})
    report = validate(pl.DataFrame({"x": [-1, 1]}), [rule])
    assert result(report, "positive") == ("warn", 1)
