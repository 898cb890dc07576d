"""``%dap experiment``: the same analysis as ``dap.experiments``, one line for a mistake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from dap_kernel.experiments import ExperimentResult, Metric, analyze, sample_size
from dap_kernel.magics import DapMagics
from tests.experiments.conftest import EXPERIMENT, Lab

POST = Metric("post", sql="SELECT customer_id AS unit, post AS value FROM activity")


@pytest.fixture
def ip(governed_lab: Lab) -> Iterator[InteractiveShell]:
    shell = InteractiveShell.instance()
    shell.register_magics(
        DapMagics(shell=shell, session_factory=lambda: governed_lab.session("ann"))
    )
    shell.user_ns.clear()
    shell.user_ns.update({"exp": EXPERIMENT, "post": POST, "metrics": [POST]})
    yield shell
    InteractiveShell.clear_instance()


def test_analyze_is_the_core_analysis_as_the_caller(
    ip: InteractiveShell, governed_lab: Lab
) -> None:
    result = ip.run_line_magic(
        "dap", "experiment analyze exp --exposures exposures --metrics metrics"
    )
    assert isinstance(result, ExperimentResult)
    want = analyze(EXPERIMENT, [POST], exposures="exposures", session=governed_lab.session("ann"))
    assert result.units == want.units and result.metrics == want.metrics  # one code path
    ip.run_line_magic(
        "dap", "experiment analyze exp --exposures exposures --metrics post --sequential --name res"
    )
    assert ip.user_ns["res"].metrics[0].sequential


def test_size_and_log(
    ip: InteractiveShell, governed_lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    ip.run_line_magic("dap", "experiment size --mde 0.05 --baseline 0.1")
    assert (
        f"{sample_size(0.05, baseline=0.1, kind='proportion').total:,} units"
        in capsys.readouterr().out
    )
    with pytest.raises(UsageError):  # ann may not create tables: one line, no data
        ip.run_line_magic("dap", "experiment log exp exposures --into main.mine")


@pytest.mark.parametrize(
    "line,message",
    [
        ("experiment", "name a command"),
        (
            "experiment analyze nope --exposures exposures --metrics post",
            "no Python variable 'nope'",
        ),
        ("experiment analyze post --exposures exposures --metrics post", "not an Experiment"),
        ("experiment analyze exp --exposures exposures --metrics exp", "Metric"),
        ("experiment analyze exp --metrics post", "required"),
        ("experiment size --mde 0.1 --baseline 3 --kind mean", "standard deviation"),
    ],
)
def test_mistakes_are_one_line(ip: InteractiveShell, line: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        ip.run_line_magic("dap", line)
