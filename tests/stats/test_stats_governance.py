"""Statistics are governed like the rows they summarise.

ann (EMEA) and raj (APAC) read ``main.people`` through a row filter; ``salary`` is masked to
null, ``bonus`` rounded to thousands, ``email`` redacted; bob has no grant. Every statistic
is computed from what the caller may see: their rows, the masked values — never the raw ones.
A hostile column or table name is refused or quoted, never executed.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import scipy.stats

from dap_kernel import stats
from dap_kernel.errors import DapError, UnknownTable
from dap_kernel.session import Workspace
from dap_kernel.stats import NotEnoughData, NotNumeric, UnknownColumn
from dap_kernel.transport import HttpSession
from tests.conftest import Service
from tests.stats.conftest import Data


def emea(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("region") == "EMEA")


def test_a_row_filtered_analyst_gets_the_statistics_of_their_rows(governed_data: Data) -> None:
    ann, raj = governed_data.session("ann"), governed_data.session("raj")
    mine = emea(governed_data.frame)

    summary = stats.describe("people", ["id", "score", "before"], session=ann)
    assert summary.rows == mine.height
    assert summary["before"].mean == pytest.approx(mine["before"].mean(), rel=1e-9)
    assert summary["score"].count == mine["score"].drop_nulls().len()
    hist = stats.histogram("people", "before", 10, session=ann)
    counts, _ = np.histogram(mine["before"].to_numpy(), 10)
    assert hist.counts == tuple(int(c) for c in counts)
    theirs = stats.describe("people", ["id"], session=raj)
    assert summary.rows + theirs.rows == governed_data.frame.height

    # a SELECT that tries to widen the view is rewritten like any other query
    sneaky = stats.describe("SELECT * FROM people WHERE region <> 'EMEA' OR true", session=ann)
    assert sneaky.rows == mine.height
    with pytest.raises(NotEnoughData, match="1 × "):  # ann sees one region: nothing to test
        stats.chi2_by("people", "region", "grp", session=ann)
    anova = stats.anova_by("people", "before", "grp", session=ann)
    assert sum(g.n for g in anova.groups) == mine.height


def test_a_forecast_is_of_the_analysts_rows_and_masked_values(governed_data: Data) -> None:
    ann = governed_data.session("ann")
    mine = emea(governed_data.frame)

    counted = stats.forecast("people", "joined", every="week", agg="count", session=ann)
    bonus = stats.backtest(
        "people", "joined", "bonus", every="month", horizon=3, folds=2, session=ann
    )

    assert sum(counted.history) == mine.height  # her rows only, one row per week came back
    assert counted.fetched_rows == len(counted.history) < mine.height
    months = mine.group_by(pl.col("joined").dt.truncate("1mo")).agg(
        ((pl.col("bonus") / 1000).round(0) * 1000).sum()
    )
    assert sum(bonus.history) == pytest.approx(months["bonus"].sum())  # the masked values
    assert sum(bonus.history) != pytest.approx(mine["bonus"].sum())


def test_masked_columns_summarise_the_masked_values(governed_data: Data) -> None:
    ann = governed_data.session("ann")
    mine = emea(governed_data.frame)
    raw = mine["bonus"].to_numpy()
    rounded = np.round(raw, -3)

    summary = stats.describe("people", ["salary", "bonus", "email"], session=ann)

    salary = summary["salary"]  # masked to null: nothing to summarise
    assert salary.count == 0 and salary.mean is None and salary.max is None
    bonus = summary["bonus"]  # masked to thousands: the summary is of the rounded values
    assert bonus.mean == pytest.approx(rounded.mean(), rel=1e-9)
    assert bonus.mean != pytest.approx(raw.mean(), rel=1e-9)
    assert bonus.min == rounded.min() != raw.min()
    assert bonus.max == rounded.max() != raw.max()
    assert bonus.quantile(0.5) == pytest.approx(np.quantile(rounded, 0.5))
    email = summary["email"]  # redacted text
    assert email.min == email.max == "***" and email.distinct == 1
    assert email.top == (("***", mine.height),)  # the most frequent values are masked too
    page = summary._repr_html_()
    assert "person" not in page and "@example.com" not in page

    with pytest.raises(NotNumeric, match="masked"):
        stats.ttest_by("people", "email", "grp", groups=("a", "b"), session=ann)
    assert stats.correlation("people", ["bonus", "before"], session=ann)["bonus", "before"] == (
        pytest.approx(np.corrcoef(rounded, mine["before"].to_numpy())[0, 1], rel=1e-9)
    )
    ranked = stats.correlation("people", ["bonus", "before"], method="spearman", session=ann)
    assert ranked.rows == mine.height and ranked["bonus", "before"] == pytest.approx(
        scipy.stats.spearmanr(rounded, mine["before"].to_numpy()).statistic, rel=1e-9
    )  # ranks of the masked (rounded, tied) bonus over ann's rows only
    fit = stats.ols("before ~ bonus", "people", session=ann)
    assert fit.nobs == mine.height  # fitted on the masked (rounded) bonus, ann's rows only
    with pytest.raises(NotEnoughData, match="0 non-null values"):  # all masked away
        stats.ttest_by("people", "salary", "grp", groups=("a", "b"), session=ann)


def test_a_reader_without_a_grant_gets_nothing(governed_data: Data) -> None:
    bob = governed_data.session("bob")
    for call in (
        lambda: stats.describe("people", session=bob),
        lambda: stats.ttest_by("people", "before", "grp", groups=("a", "b"), session=bob),
        lambda: stats.decompose("people", "joined", every="week", agg="count", session=bob),
        lambda: stats.forecast("people", "joined", every="week", agg="count", session=bob),
        lambda: stats.backtest("people", "joined", every="week", agg="count", session=bob),
    ):
        with pytest.raises(DapError) as caught:
            call()
        assert "EMEA" not in str(caught.value) and "person" not in str(caught.value)


def test_hostile_names_are_quoted_or_refused_never_run(workspace: Workspace) -> None:
    hostile = 'x"; DROP TABLE t; --'
    workspace.catalog.create_table(
        "main.t", pl.DataFrame({hostile: [1.0, 2.0, 3.0], "g": ["a", "b", "a"]}), owner="tester"
    )
    session = workspace.session()

    summary = stats.describe("t", [hostile], session=session)  # quoted: the real column

    assert summary[hostile].mean == pytest.approx(2.0)
    assert '"x""; DROP TABLE t; --"' in summary.sql
    with pytest.raises(UnknownColumn):
        stats.describe("t", ['g"; DROP TABLE t; --'], session=session)
    with pytest.raises(UnknownColumn):
        stats.ttest_by("t", hostile, 'g" FROM t; DROP TABLE t; --', session=session)
    with pytest.raises(UnknownTable):
        stats.describe(hostile, session=session)
    with pytest.raises(DapError):
        stats.describe("SELECT 1 AS x; DROP TABLE t", session=session)
    with pytest.raises(DapError):
        stats.describe("t; DROP TABLE t", session=session)
    assert session.sql("SELECT count(*) AS n FROM t")["n"][0] == 3  # still there


def test_the_same_statistics_through_the_dap_service(dap_service: Service) -> None:
    """One path: the stats functions call ``query`` on whatever client they are given; over
    HTTP the service applies ann's filter (her region's customers) and masks."""
    with HttpSession(dap_service.url, api_key=dap_service.keys["ann"]) as ann:
        count = int(ann.sql("SELECT count(*) AS n FROM customers")["n"][0])
        regions = ann.sql("SELECT DISTINCT region FROM customers")["region"].to_list()

        summary = stats.describe("customers", ["customer_id", "region", "email"], session=ann)

        assert summary.rows == count and regions == ["EMEA"]
        assert summary["region"].min == summary["region"].max == "EMEA"
        assert str(summary["email"].min).startswith("***")  # masked (mask_email / redact)
        test = stats.chi2_by("customers", "segment", "country", session=ann)
        assert sum(map(sum, test.observed)) == count
