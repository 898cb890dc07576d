"""Descriptive statistics computed in the engine equal numpy's on the same rows, and the rows
stay in the engine: what comes back is one row per statement, whatever the table's size."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import polars as pl
import pytest
import scipy.stats

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


def test_text_columns_show_their_most_frequent_values(data: Data) -> None:
    summary = stats.describe("people", ["grp", "salary"], session=data.session(), top=2)
    counts = data.frame["grp"].value_counts(sort=True)
    expected = sorted(zip(counts["grp"], counts["count"], strict=True), key=lambda t: (-t[1], t[0]))

    assert summary["grp"].top == tuple(expected[:2])
    assert summary["salary"].top == ()  # numbers have quantiles instead
    assert "most frequent" in summary._repr_html_()
    assert summary.to_frame()["top"][0] == summary["grp"].top_text()
    assert stats.describe("people", ["grp"], session=data.session(), top=0)["grp"].top == ()
    with pytest.raises(StatsError, match="top takes"):
        stats.describe("people", ["grp"], session=data.session(), top=-1)


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


def test_spearman_matches_scipy_with_ties_and_nulls(data: Data) -> None:
    """``score`` has ties (integers) and nulls: each pair is ranked over the rows where both
    are present, ties at their average rank, as scipy ranks the pairwise-complete rows."""
    names = ["salary", "bonus", "score", "before"]
    corr = stats.correlation("people", names, method="spearman", session=data.session())

    assert corr.method == "spearman" and corr.fetched_rows == 1
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            pair = data.frame.select(a, b).drop_nulls().to_numpy()
            expected = scipy.stats.spearmanr(pair[:, 0], pair[:, 1]).statistic
            assert corr[a, b] == pytest.approx(expected, rel=1e-9), (a, b)
            assert corr[b, a] == corr[a, b]
    assert all(corr[n, n] == 1.0 for n in names)
    # a monotonic transform leaves Spearman unchanged (and Pearson not)
    cubed = stats.correlation(
        "SELECT salary * salary * salary AS s3, bonus FROM people",
        method="spearman",
        session=data.session(),
    )
    assert cubed["s3", "bonus"] == pytest.approx(corr["salary", "bonus"], rel=1e-12)
    with pytest.raises(StatsError, match="pearson or spearman"):
        stats.correlation("people", names, method="kendall", session=data.session())  # type: ignore[arg-type]


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
    """Given a 1M-row table, describe/histogram/correlation return a row per statement (a
    row per bin for the histogram's counts): the engine's answers and the audit records of
    the statements say so."""
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
    assert hist.total == n and hist.fetched_rows == 1 + 10  # the range, then a row per bin
    assert corr.rows == n and corr.fetched_rows == 1
    assert summary["x"].mean == pytest.approx(x.mean(), rel=1e-9)
    records = [r for r in workspace.audit.tail(limit=20) if "big" in r.statement]
    assert len(records) == 7  # three LIMIT 0 probes, four aggregate statements
    assert all(r.decision == "allowed" for r in records)
    assert max(r.row_count or 0 for r in records) == 10  # the histogram's bins
    assert sum(r.row_count or 0 for r in records) == 1 + (1 + 10) + 1
    aggregates = [r.statement for r in records if "LIMIT 0" not in r.statement]
    assert len(aggregates) == 4 and all("COUNT(" in s or "MIN(" in s for s in aggregates)


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


@pytest.mark.parametrize(
    ("values", "bins"),
    [
        ([float(i) for i in range(11)], 10),  # every value on an edge
        ([float(i) for i in range(11)], 3),  # edges 3.33…, 6.66… between integers
        ([round(0.1 * i, 10) for i in range(100)], 7),  # decimal fractions: rounding at edges
        ([1e-300, 2e-300, 3e-300], 4),
        ([5.0, 5.0, 5.0], 5),  # a constant column: numpy's ±0.5 range
        ([-1e9, 0.0, 1e9, 3.3e8, -2.7e8], 9),
    ],
)
def test_histogram_bins_are_numpys_at_the_edges(
    workspace: Workspace, values: list[float], bins: int
) -> None:
    workspace.catalog.create_table("main.edges", pl.DataFrame({"x": values}), owner="tester")

    hist = stats.histogram("edges", "x", bins, session=workspace.session())

    counts, edges = np.histogram(np.array(values), bins)
    assert hist.counts == tuple(int(c) for c in counts)
    assert hist.edges == tuple(float(e) for e in edges)


def test_bins_too_fine_for_the_range_are_refused_as_numpy_does(workspace: Workspace) -> None:
    workspace.catalog.create_table("main.tiny", pl.DataFrame({"x": [0.0, 1e-323]}))
    with pytest.raises(ValueError):
        np.histogram([0.0, 1e-323], 4)
    with pytest.raises(StatsError, match="cannot make 4 bins"):
        stats.histogram("tiny", "x", 4, session=workspace.session())
