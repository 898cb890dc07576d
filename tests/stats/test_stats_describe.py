"""Descriptive statistics computed in the engine equal numpy's on the same rows, and the rows
stay in the engine: what comes back is one row per statement, whatever the table's size."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import polars as pl
import pytest

from dap_kernel import stats
from dap_kernel.session import Workspace
from dap_kernel.stats import NotEnoughData, NotNumeric, StatsError, UnknownColumn
from tests.stats.conftest import Data

REL = 1e-9


def values(frame: pl.DataFrame, column: str) -> np.ndarray:
    return frame.get_column(column).drop_nulls().to_numpy().astype(float)


def test_describe_matches_numpy(data: Data) -> None:
    summary = stats.describe("people", session=data.session(), exact_distinct=True)

    assert summary.rows == len(data.frame)
    for name in ("salary", "bonus", "score", "before"):
        x = values(data.frame, name)
        col = summary[name]
        assert col.numeric
        assert col.count == x.size
        assert col.nulls == len(data.frame) - x.size
        assert col.distinct == len(np.unique(x))
        assert col.mean == pytest.approx(x.mean(), rel=REL)
        assert col.sd == pytest.approx(x.std(ddof=1), rel=REL)
        assert col.min == x.min() and col.max == x.max()
        for p in (0.25, 0.5, 0.75):  # linear interpolation, numpy's default
            assert col.quantile(p) == pytest.approx(np.quantile(x, p), rel=REL)
    assert summary["score"].nulls == len(range(0, len(data.frame), 17))
    text = summary["grp"]
    assert not text.numeric and text.mean is None
    assert (text.min, text.max, text.distinct) == ("a", "c", 3)
    assert summary["joined"].min == data.frame["joined"].min()
    assert summary["churned"].mean == pytest.approx(data.frame["churned"].mean(), rel=REL)


def test_distinct_counts_are_approximate_by_default_and_say_so(data: Data) -> None:
    summary = stats.describe("people", ["id", "salary"], session=data.session())

    assert summary.distinct_approx and "approximate" in summary._repr_html_()
    assert summary["id"].distinct == pytest.approx(len(data.frame), rel=0.05)


def test_describe_of_a_select_with_bound_parameters(data: Data) -> None:
    summary = stats.describe(
        "SELECT salary FROM people WHERE grp = :g", session=data.session(), params={"g": "b"}
    )
    x = data.frame.filter(pl.col("grp") == "b")["salary"].to_numpy()

    assert summary.rows == x.size
    assert summary["salary"].mean == pytest.approx(x.mean(), rel=REL)


def test_histogram_matches_numpy(data: Data) -> None:
    x = values(data.frame, "salary")
    hist = stats.histogram("people", "salary", 15, session=data.session())
    counts, edges = np.histogram(x, 15)

    assert hist.counts == tuple(int(c) for c in counts)
    assert hist.edges == pytest.approx(list(edges), rel=1e-15)
    assert hist.total == x.size and hist.nulls == 0

    ranged = stats.histogram("people", "score", 7, range=(10, 80), session=data.session())
    counts, _ = np.histogram(values(data.frame, "score"), 7, range=(10, 80))
    assert ranged.counts == tuple(int(c) for c in counts)
    assert ranged.nulls == summary_nulls(data, "score")


def summary_nulls(data: Data, column: str) -> int:
    return int(data.frame[column].null_count())


def test_correlation_matches_numpy(data: Data) -> None:
    corr = stats.correlation("people", ["salary", "bonus", "before"], session=data.session())
    frame = data.frame.select("salary", "bonus", "before").to_numpy()
    expected = np.corrcoef(frame, rowvar=False)

    assert np.allclose(np.array(corr.matrix, dtype=float), expected, rtol=1e-9)
    assert corr["salary", "bonus"] == pytest.approx(expected[0, 1], rel=1e-9)
    # all numeric columns by default; a pair with nulls uses the rows where both are present
    every = stats.correlation("people", session=data.session())
    assert "score" in every.columns and "grp" not in every.columns
    pairs = data.frame.select("score", "salary").drop_nulls().to_numpy()
    assert every["score", "salary"] == pytest.approx(np.corrcoef(pairs, rowvar=False)[0, 1])


def test_results_show_themselves_and_plot(data: Data) -> None:
    session = data.session()
    results = [
        stats.describe("people", ["salary", "grp"], session=session),
        stats.histogram("people", "salary", session=session),
        stats.correlation("people", ["salary", "bonus"], session=session),
    ]
    for result in results:
        assert "<table" in result._repr_html_()
        assert isinstance(result.plot(), go.Figure)
        assert isinstance(result.to_frame(), pl.DataFrame)
    with pytest.raises(AttributeError):  # frozen
        results[0].rows = 1  # type: ignore[misc]


def test_the_rows_stay_in_the_engine(workspace: Workspace) -> None:
    """Given a 1M-row table, describe/histogram/correlation return one row per statement:
    the engine's answer, and the audit records of the statements, say so."""
    n = 1_000_000
    rng = np.random.default_rng(1)
    x = rng.normal(size=n)
    workspace.catalog.create_table(
        "main.big", pl.DataFrame({"x": x, "y": x * 0.5 + rng.normal(size=n)}), owner="tester"
    )
    session = workspace.session()

    summary = stats.describe("big", session=session)
    hist = stats.histogram("big", "x", 10, session=session)
    corr = stats.correlation("big", session=session)

    assert summary.rows == n and summary.fetched_rows == 1
    assert hist.total == n and hist.fetched_rows == 2  # the range, then the counts
    assert corr.rows == n and corr.fetched_rows == 1
    assert summary["x"].mean == pytest.approx(x.mean(), rel=1e-9)
    records = [r for r in workspace.audit.tail(limit=20) if "big" in r.statement]
    assert len(records) == 7  # three LIMIT 0 probes, four aggregate statements
    assert all(r.decision == "allowed" for r in records)
    assert max(r.row_count or 0 for r in records) == 1
    assert sum(r.row_count or 0 for r in records) == 4
    aggregates = [r.statement for r in records if "LIMIT 0" not in r.statement]
    assert all(s.startswith("SELECT COUNT(*)") or "MIN(" in s for s in aggregates)


def test_bad_input_gives_one_typed_error(data: Data) -> None:
    session = data.session()
    with pytest.raises(UnknownColumn, match="did you mean 'salary'"):
        stats.describe("people", ["salry"], session=session)
    with pytest.raises(NotNumeric, match="'grp'"):
        stats.histogram("people", "grp", session=session)
    with pytest.raises(StatsError, match="bins"):
        stats.histogram("people", "salary", 0, session=session)
    with pytest.raises(StatsError, match="probabilities"):
        stats.describe("people", ["salary"], quantiles=[1.5], session=session)
    with pytest.raises(NotEnoughData):
        stats.correlation("people", ["salary"], session=session)
    with pytest.raises(NotEnoughData, match="no values"):
        stats.histogram("SELECT salary FROM people WHERE false", "salary", session=session)
    empty = stats.describe("SELECT salary FROM people WHERE false", session=session)
    assert empty.rows == 0 and empty["salary"].mean is None
    assert math.isclose(stats.describe("people", ["id"], session=session)["id"].min, 1)


def test_the_dap_stats_shortcut_runs_on_the_callers_client() -> None:
    import dap_kernel as dap

    dap.catalog.create_table("main.nums", pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}))

    assert dap.stats.describe("nums")["x"].mean == pytest.approx(2.5)
    assert dap.stats.ttest_mean("nums", "x", 2.5).statistic == pytest.approx(0.0)
