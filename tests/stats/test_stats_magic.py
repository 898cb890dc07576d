"""``%dap stats``: the same statistics as ``dap.stats``, one red line for a mistake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from dap_kernel import stats
from dap_kernel.magics import DapMagics
from tests.stats.conftest import Data


@pytest.fixture
def ip(governed_data: Data) -> Iterator[InteractiveShell]:
    shell = InteractiveShell.instance()
    shell.register_magics(
        DapMagics(shell=shell, session_factory=lambda: governed_data.session("ann"))
    )
    shell.user_ns.clear()
    yield shell
    InteractiveShell.clear_instance()


def test_stats_of_a_table_and_its_columns(ip: InteractiveShell, governed_data: Data) -> None:
    summary = ip.run_line_magic("dap", "stats people before score")

    assert isinstance(summary, stats.Summary)
    assert [c.name for c in summary.columns] == ["before", "score"]
    ann = governed_data.session("ann")
    assert summary == stats.describe("people", ["before", "score"], session=ann)  # one path


def test_hist_corr_and_tests(ip: InteractiveShell, governed_data: Data) -> None:
    ann = governed_data.session("ann")

    hist = ip.run_line_magic("dap", "stats hist people before --bins 5")
    assert hist.counts == stats.histogram("people", "before", 5, session=ann).counts
    assert ip.run_line_magic("dap", "stats corr people before after --name c") is None
    assert ip.user_ns["c"].columns == ("before", "after")
    ranked = ip.run_line_magic("dap", "stats corr people before after --spearman")
    same = stats.correlation("people", ["before", "after"], method="spearman", session=ann)
    assert ranked.method == "spearman" and ranked.sql == same.sql  # one path
    assert ranked["before", "after"] == pytest.approx(same["before", "after"], rel=1e-12)
    welch = ip.run_line_magic("dap", "stats test ttest people before --by grp --groups a,b")
    assert welch == stats.ttest_by("people", "before", "grp", groups=("a", "b"), session=ann)
    student = ip.run_line_magic(
        "dap", "stats test ttest people before --groups a,c --by grp --equal-var"
    )
    assert student.test == "Student t-test"
    assert ip.run_line_magic("dap", "stats test anova people before --by grp").statistic_name == "F"
    assert ip.run_line_magic("dap", "stats test paired people after before").test == "paired t-test"
    assert ip.run_line_magic("dap", "stats test mean people before --popmean 10").df is not None
    chi2 = ip.run_line_magic("dap", "stats test chi2 people grp churned")
    assert chi2.statistic_name == "χ²"


def test_series_decompose_forecast_and_backtest(ip: InteractiveShell, governed_data: Data) -> None:
    ann = governed_data.session("ann")

    weekly = ip.run_line_magic("dap", "stats forecast people joined --every week --horizon 4")
    backtest = ip.run_line_magic(
        "dap", "stats backtest people joined bonus --every month --horizon 2 --folds 2 --level 0.8"
    )
    split = ip.run_line_magic("dap", "stats decompose people joined --every week --period 4")

    assert weekly == stats.forecast(  # one path: rows counted per week, her rows only
        "people", "joined", every="week", agg="count", horizon=4, session=ann
    )
    assert len(backtest.folds) == 2 and backtest.level == 0.8 and backtest.agg == "sum"
    assert split.period == 4 and split.agg == "count of rows"


def test_the_cell_form_reads_the_cells_select(ip: InteractiveShell, governed_data: Data) -> None:
    ip.user_ns["g"] = "b"

    summary = ip.run_cell_magic("dap", "stats before", "SELECT before FROM people WHERE grp = :g")

    ann = governed_data.session("ann")
    expected = stats.describe(
        "SELECT before FROM people WHERE grp = :g", session=ann, params={"g": "b"}
    )
    assert summary.rows == expected.rows and summary["before"].mean == expected["before"].mean
    test = ip.run_cell_magic(
        "dap", "stats test ttest before --by grp --groups a,b", "SELECT * FROM people"
    )
    assert test.groups[0].label == "a"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("stats", "name a table"),
        ("stats people befor", "did you mean .before."),
        ("stats hist people", "name one COLUMN"),
        ("stats hist people grp", "not numbers"),
        ("stats test", "name a test"),
        ("stats test median people before", "name a test"),
        ("stats test ttest people before", "--by COL"),
        ("stats test ttest people grp --by region", "not numbers"),
        ("stats test ttest people salary --by grp --groups a,b", "0 non-null values"),  # masked
        ("stats test paired people before", "name two columns"),
        ("stats people --bins 3", "unrecognized arguments"),
        ("stats nosuch_table", "nosuch_table"),
        ("stats people before --name 1x", "Python name"),
        ("stats forecast people", "name the TIME column"),
        ("stats forecast people joined --method prophet", "method must be"),
        ("stats backtest people joined --folds x", "invalid int value"),
    ],
)
def test_mistakes_are_one_line(ip: InteractiveShell, line: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        ip.run_line_magic("dap", line)
    assert "\n" not in str(caught.value)


def test_help_lists_stats(ip: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    ip.run_line_magic("dap", "help")
    assert "%dap stats TABLE [COLUMNS…]" in capsys.readouterr().out
