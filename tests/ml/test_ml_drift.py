"""Population stability index per feature, on a constructed shift with known bands."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from dap_kernel import ml
from dap_kernel.ml.drift import psi
from dap_kernel.session import Workspace


def test_psi_of_a_worked_example() -> None:
    # ref (0.5, 0.5) → new (0.7, 0.3): 0.2·ln(1.4) + 0.2·ln(5/3)
    assert psi([0.5, 0.5], [0.7, 0.3]) == pytest.approx(0.2 * math.log(1.4) + 0.2 * math.log(5 / 3))
    assert psi([0.25] * 4, [0.25] * 4) == 0.0


def test_drift_bands_on_a_constructed_shift(workspace: Workspace) -> None:
    rng = np.random.default_rng(3)
    n = 4000

    def frame(shift: float, heads: float) -> pl.DataFrame:
        k = int(n * heads)
        return pl.DataFrame(
            {
                "same": rng.normal(0, 1, n),
                "moved": rng.normal(shift, 1, n),
                "coin": ["heads"] * k + ["tails"] * (n - k),
            }
        )

    workspace.catalog.create_table("main.ref", frame(0.0, 0.5), owner="tester")
    workspace.catalog.create_table("main.new", frame(1.0, 0.7), owner="tester")
    session = workspace.session()

    report = ml.drift("ref", "new", session=session)

    assert (report.reference_rows, report.new_rows) == (n, n)
    assert report["same"].band == "stable" and report["same"].psi < 0.05
    assert report["moved"].band == "significant" and report["moved"].psi > 0.5
    coin = report["coin"]  # exact: the worked example above
    assert coin.band == "moderate" and coin.psi == pytest.approx(psi([0.5, 0.5], [0.7, 0.3]))
    assert len(report["same"].bins) == 11 and sum(report["same"].reference) == pytest.approx(1)
    assert report.drifted == ("moved",)
    assert "PSI" in report._repr_html_() and len(report.plot().data[0].x) == 3
    only = ml.drift("ref", "SELECT * FROM new", features=["coin"], session=session)
    assert [f.name for f in only.features] == ["coin"]
