"""A governed experiment: units in two regions, their exposures logged through the governed
write path, and an activity table with pre- and post-period values and a real effect.

ann (EMEA) and raj (APAC) read the exposures and the activity through row filters on region;
bob has no grant. The raw frames are returned so each test can compute reference figures with
numpy, scipy or statsmodels from exactly the rows a caller may see.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from dap_kernel.experiments import Experiment, assign_many, log_exposures
from dap_kernel.governance.identity import Principal
from dap_kernel.session import Session, Workspace

N = 4000
START = datetime(2026, 3, 1)
EXPERIMENT = Experiment("new_checkout", unit="customer_id", salt="ck-1", start=START)


@dataclass(frozen=True)
class Lab:
    ws: Workspace
    users: pl.DataFrame
    activity: pl.DataFrame  # one row per unit: pre, post, orders, revenue, exposed variant

    def session(self, user: str = "tester") -> Session:
        if user == "tester":
            return self.ws.session()
        return self.ws.session(Principal(name=user, source="test"))


def make_frames(n: int = N, seed: int = 3) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = np.arange(1, n + 1)
    region = rng.choice(["EMEA", "APAC"], n)
    treated = np.array(assign_many(EXPERIMENT, ids)) == "treatment"
    pre = rng.gamma(2.0, 5.0, n)
    post = 0.7 * pre + rng.gamma(2.0, 2.0, n) + 0.8 * treated
    orders = rng.poisson(2 + 0.3 * treated, n).astype(float)
    revenue = orders * rng.gamma(5, 4, n)
    users = pl.DataFrame(
        {
            "customer_id": ids,
            "region": region,
            "seen_at": [START + timedelta(hours=int(h)) for h in rng.integers(0, 240, n)],
        }
    ).with_columns(pl.col("seen_at").dt.cast_time_unit("us"))
    activity = pl.DataFrame(
        {
            "customer_id": ids,
            "region": region,
            "pre": pre,
            "post": post,
            "orders": orders,
            "revenue": revenue,
            "converted": post > 12,
        }
    )
    return users, activity


@pytest.fixture
def lab(workspace: Workspace) -> Lab:
    users, activity = make_frames()
    workspace.catalog.create_table("main.users", users, owner="tester")
    workspace.catalog.create_table("main.activity", activity, owner="tester")
    session = workspace.session()
    log_exposures(
        EXPERIMENT,
        "users",
        into="main.exposures",
        exposed_at="seen_at",
        keep=("region",),
        session=session,
    )
    return Lab(workspace, users, activity)


@pytest.fixture
def governed_lab(lab: Lab) -> Lab:
    admin = lab.ws.admin("tester")
    admin.set_multi_user(True)
    admin.add_user("ann", {"region": "EMEA"})
    admin.add_user("raj", {"region": "APAC"})
    admin.add_user("bob", {"region": "EMEA"})
    for user in ("ann", "raj"):
        for table in ("main.exposures", "main.activity"):
            admin.grant("SELECT", table, "user", user)
    for table in ("main.exposures", "main.activity"):
        admin.add_row_filter(table, "region = current_user_attr('region')")
    return lab
