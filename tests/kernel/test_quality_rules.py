"""Quality rules: the YAML forms with their default names and severities, clear errors for bad
rules, durations, rule files, and Rule objects taken as they are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from dap_kernel.quality import QualityError, Rule, parse_duration, parse_rules, validate
from tests.kernel.test_quality_batch import result


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


def test_rule_objects_are_accepted_as_they_are() -> None:
    rule = Rule("positive", "range", "x", "warn", {"min": 0})
    report = validate(pl.DataFrame({"x": [-1, 1]}), [rule])
    assert result(report, "positive") == ("warn", 1)
