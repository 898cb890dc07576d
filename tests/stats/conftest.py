"""A seeded data set for the statistics tests, as a catalog table in a fresh workspace.

``main.people`` holds numbers with known distributions, groups, a 0/1 flag, nulls, text and
dates; the raw frame is returned beside the workspace so each test can compute the reference
figure with numpy or scipy from exactly the rows the engine holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from dap_kernel.governance.identity import Principal
from dap_kernel.session import Session, Workspace

N = 2000


def people(n: int = N, seed: int = 7) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    shift = np.select([group == "a", group == "b"], [0.0, 1500.0], 3000.0)
    salary = np.round(rng.normal(50_000, 8_000, n) + shift, 2)
    bonus = np.round(salary * 0.05 + rng.normal(0, 500, n), 2)
    score = rng.integers(0, 100, n).astype(float)
    score_list: list[float | None] = [
        None if i % 17 == 0 else float(v) for i, v in enumerate(score)
    ]
    before = rng.normal(10, 2, n)
    after = before + rng.normal(0.3, 1, n)
    return pl.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "region": rng.choice(["EMEA", "APAC"], n),
            "grp": group,
            "salary": salary,
            "bonus": bonus,
            "score": pl.Series(score_list, dtype=pl.Float64),
            "before": before,
            "after": after,
            "churned": rng.random(n) < np.where(group == "a", 0.2, 0.3),
            "email": [f"person{i}@example.com" for i in range(n)],
            "joined": [date(2024, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 700, n)],
        }
    )


@dataclass(frozen=True)
class Data:
    ws: Workspace
    frame: pl.DataFrame

    def session(self, user: str = "tester") -> Session:
        if user == "tester":
            return self.ws.session()
        return self.ws.session(Principal(name=user, source="test"))


@pytest.fixture
def data(workspace: Workspace) -> Iterator[Data]:
    frame = people()
    workspace.catalog.create_table("main.people", frame, owner="tester")
    yield Data(workspace, frame)


@pytest.fixture
def governed_data(data: Data) -> Data:
    """Multi-user: ann (EMEA) and raj (APAC) read ``main.people`` through a row filter on
    region; ``salary`` is masked to null, ``bonus`` rounded to thousands, ``email`` redacted.
    bob has no grant."""
    admin = data.ws.admin("tester")
    admin.set_multi_user(True)
    admin.add_user("ann", {"region": "EMEA"})
    admin.add_user("raj", {"region": "APAC"})
    admin.add_user("bob", {"region": "EMEA"})
    for user in ("ann", "raj"):
        admin.grant("SELECT", "main.people", "user", user)
    admin.add_row_filter("main.people", "region = current_user_attr('region')")
    admin.set_mask("main.people.salary", "null")
    admin.set_mask("main.people.bonus", "sql:round({col}, -3)")
    admin.set_mask("main.people.email", "redact")
    return data
