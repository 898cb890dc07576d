"""Data quality on a batch: every rule kind in the private engine, quarantine-shaped failures with
reasons, and no row lost."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

from dap_kernel.quality import QualityError, QualityReport, validate
from dap_kernel.quarantine import SCHEMA as QUARANTINE_SCHEMA
from dap_kernel.session import Workspace


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
