"""Data quality: declared rules, evaluated in the engine, failing rows quarantined, results kept.

A rule set is a list of small YAML mappings (``{not_null: id}``, ``{range: {column: amount,
min: 0}}``, …; see :func:`parse_rules`). Two ways to apply it:

* :func:`validate` checks a *batch* a pipeline is about to load, in a private locked-down
  engine; failing rows go to ``<table>__quarantine``, nothing is lost.
* :func:`check` checks a catalog *table* through the governed session; it never deletes rows.

The modules, each building only on those before it:

* :mod:`.rules`: the rules, read from their YAML forms, and what each kind means;
* :mod:`.results`: how a rule fared, a batch's or table's report, and how counts become statuses;
* :mod:`.plan`: the SQL that applies the rules (one pass over the data, values bound);
* :mod:`.store`: rules and results in the metadata store;
* :mod:`.caller`: the caller's client, for the doors called without a session;
* :mod:`.view`: which stored rules and results one caller may see;
* :mod:`.batch`: :func:`validate`, a batch in a private engine;
* :mod:`.table`: :func:`check`, a catalog table through the governed session, and setting a
  table's rules.

This module only re-exports; the modules import one another, never this package.
"""

from __future__ import annotations

from .batch import Data, validate
from .caller import QualityClient, Queries
from .results import (
    RESULT_SCHEMA,
    QualityReport,
    RuleResult,
    Status,
    badge_html,
    freshness_of,
    results_frame,
)
from .rules import (
    KINDS,
    ROW_KINDS,
    SEVERITIES,
    TABLE_KINDS,
    THIS,
    QualityError,
    Rule,
    Severity,
    load_rules,
    parse_duration,
    parse_rules,
)
from .store import QualityResult, QualityRuleSet, QualityStore, StoredCheck
from .table import check, require_rule_writer, set_rules
from .view import QualityStatus, RuleSight, ShownResult, quality_status, rule_sight

__all__ = [
    "KINDS",
    "RESULT_SCHEMA",
    "ROW_KINDS",
    "SEVERITIES",
    "TABLE_KINDS",
    "THIS",
    "Data",
    "QualityClient",
    "QualityError",
    "QualityReport",
    "QualityResult",
    "QualityRuleSet",
    "QualityStatus",
    "QualityStore",
    "Queries",
    "Rule",
    "RuleResult",
    "RuleSight",
    "Severity",
    "ShownResult",
    "Status",
    "StoredCheck",
    "badge_html",
    "check",
    "freshness_of",
    "load_rules",
    "parse_duration",
    "parse_rules",
    "quality_status",
    "require_rule_writer",
    "results_frame",
    "rule_sight",
    "set_rules",
    "validate",
]
