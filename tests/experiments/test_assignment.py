"""Experiment definitions are validated; assignment is deterministic, balanced, and the
engine computes exactly what Python computes."""

from __future__ import annotations

from datetime import datetime

import duckdb
import numpy as np
import pytest
import sqlglot
from sqlglot import exp

from dap_kernel.experiments import Experiment, InvalidExperiment, assign, assign_many, bucket
from dap_kernel.experiments.assignment import (
    DIALECTS,
    SCALE,
    thresholds,
    variant_sql,
    variant_sql_text,
)

N = 100_000


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"weights": (0.5, 0.4)}, "sum to 0.9"),
        ({"variants": ("a", "a")}, "unique"),
        ({"variants": ("a",), "weights": (1.0,)}, "at least two"),
        ({"variants": ("a", "b", "c")}, "3 variants need 3 weights"),
        ({"weights": (1.5, -0.5)}, "positive"),
        ({"weights": ("x", 1)}, "numbers"),
        ({"start": "2026-02-01", "end": "2026-01-01"}, "not after start"),
        ({"start": "yesterday"}, "ISO"),
        ({"unit": " "}, "unit"),
    ],
)
def test_a_bad_definition_is_refused_with_a_reason(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidExperiment, match=message):
        Experiment("test", **kwargs)


def test_defaults_and_normalisation() -> None:
    e = Experiment("checkout", start="2026-01-05", weights=[0.2, 0.8])
    assert e.salt == "checkout" and e.control == "control" and e.treatments == ("treatment",)
    assert e.weights == (0.2, 0.8) and e.start == datetime(2026, 1, 5)
    with pytest.raises(InvalidExperiment):
        Experiment("bad name; drop")
    assert Experiment("x", salt="s") != Experiment("x", salt="t")


def test_assignment_is_the_documented_hash_and_stable() -> None:
    import hashlib

    e = Experiment("button", salt="s")
    assert bucket("s", 1) == int(hashlib.md5(b"s:1").hexdigest()[:8], 16) == 3073675261
    # pinned: changing the hash would silently move every running experiment's units
    assert assign_many(e, range(1, 11)) == [assign(e, i) for i in range(1, 11)]
    assert [assign(e, u) for u in (1, 2, 3, "abc")] == [
        assign(Experiment("button", salt="s"), u) for u in (1, 2, 3, "abc")
    ]
    assert thresholds((0.5, 0.5)) == (SCALE // 2, SCALE)
    assert thresholds((0.2, 0.3, 0.5))[-1] == SCALE


def test_assignment_is_balanced_on_100k_ids() -> None:
    from scipy import stats as sps

    for weights in ((0.5, 0.5), (0.1, 0.3, 0.6)):
        names = tuple(f"v{i}" for i in range(len(weights)))
        e = Experiment("balance", variants=names, weights=weights)
        got = assign_many(e, range(N))
        counts = [got.count(v) for v in names]
        chi2 = sps.chisquare(counts, [w * N for w in weights])
        assert chi2.pvalue > 0.001, counts
    # another salt re-randomises: about half the units change variant
    a = assign_many(Experiment("x", salt="one"), range(10_000))
    b = assign_many(Experiment("x", salt="two"), range(10_000))
    assert 0.45 < np.mean([p != q for p, q in zip(a, b, strict=True)]) < 0.55


@pytest.mark.parametrize("ids", ["int", "text"])
def test_duckdb_computes_the_same_variant_for_every_id(ids: str) -> None:
    e = Experiment("sql_equals_python", variants=("c", "t1", "t2"), weights=(0.34, 0.33, 0.33))
    con = duckdb.connect()
    unit = exp.column("id", quoted=True)
    value = "range" if ids == "int" else "'u-' || range"
    rows = con.sql(
        f'SELECT "id", {variant_sql(e, unit).sql("duckdb")} AS v'
        f' FROM (SELECT {value} AS "id" FROM range(100000)) ORDER BY 1'
    ).fetchall()
    assert len(rows) == N
    python = assign_many(e, [r[0] for r in rows])
    assert [r[1] for r in rows] == python
    con.close()


def test_hash_quotes_in_salt_and_variant_are_escaped() -> None:
    e = Experiment("q", variants=("it's", 'say "hi"'), salt="o'brien")
    con = duckdb.connect()
    sql = variant_sql(e, exp.Literal.number(7)).sql("duckdb")
    assert con.sql(f"SELECT {sql}").fetchall()[0][0] == assign(e, 7)
    con.close()


def test_clickhouse_and_spark_text_parse_in_their_dialects() -> None:
    e = Experiment("multi", variants=("a", "b", "c"), weights=(0.25, 0.25, 0.5))
    for dialect in DIALECTS:
        unit = "`customer_id`" if dialect == "spark" else '"customer_id"'
        text = variant_sql_text(e, unit, dialect)
        tree = sqlglot.parse_one(text, dialect=dialect)
        assert isinstance(tree, exp.Case) and len(tree.args["ifs"]) == 2
        assert str(thresholds(e.weights)[0]) in text
    assert "reinterpretAsUInt32" in variant_sql_text(e, "id", "clickhouse")
    assert "conv(" in variant_sql_text(e, "id", "spark")
    # the DuckDB tree itself transpiles (sqlglot writes each dialect's MD5 and CAST)
    for dialect in ("clickhouse", "spark", "postgres"):
        assert "MD5" in variant_sql(e, exp.column("id")).sql(dialect=dialect).upper()
    with pytest.raises(InvalidExperiment, match="dialect"):
        variant_sql_text(e, "id", "oracle")
