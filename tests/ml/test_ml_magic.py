"""``%dap predict`` / ``%dap train``: the same ``dap.ml`` calls, one line for a mistake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from dap_kernel import ml
from dap_kernel.magics import DapMagics
from tests.ml.conftest import Data


@pytest.fixture
def ip(data: Data) -> Iterator[InteractiveShell]:
    shell = InteractiveShell.instance()
    shell.register_magics(DapMagics(shell=shell, session_factory=lambda: data.session("ann")))
    shell.user_ns.clear()
    yield shell
    InteractiveShell.clear_instance()


def test_train_and_predict_from_a_notebook_line(ip: InteractiveShell, data: Data) -> None:
    model = ip.run_line_magic("dap", "train accounts churned --model logistic --register churn")
    assert isinstance(model, ml.TrainedModel) and model.version == 1 and model.user == "ann"

    # quotes inside the SELECT stay as written
    scored = ip.run_line_magic(
        "dap", "predict churn@champion SELECT * FROM accounts WHERE segment = 'pro'"
    )
    assert set(scored["segment"]) == {"pro"} and set(scored["region"]) == {"EMEA"}
    ann = data.session("ann")
    assert scored.equals(
        ml.predict("churn", "SELECT * FROM accounts WHERE segment = 'pro'", session=ann)
    )
    ip.user_ns["seg"] = "plus"
    cell = "SELECT * FROM accounts WHERE segment = :seg"
    assert ip.run_cell_magic("dap", "predict churn --name out", cell) is None
    assert set(ip.user_ns["out"]["segment"]) == {"plus"}
    assert (
        ip.run_line_magic("dap", "ml predict churn/1 accounts").height
        == data.rows_of("EMEA").height
    )
    assert "%dap predict MODEL" in _help(ip)

    for line, message in (
        ("predict", "name one model"),
        ("predict churn", "give a SELECT"),
        ("predict nothing accounts", "ann may not use model nothing"),  # no grant: refused
        ("train accounts", "give a table and the target"),
        ("train accounts nope --model logistic", "no column 'nope'"),
        ("ml forecast x", "use one of predict, train"),
    ):
        with pytest.raises(UsageError, match=message):
            ip.run_line_magic("dap", line)


def _help(ip: InteractiveShell) -> str:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        ip.run_line_magic("dap", "help")
    return out.getvalue()
