"""A seeded churn-like data set in a multi-user workspace, for the ``dap.ml`` tests.

``main.accounts`` has a strong signal (``tenure``, ``spend``, ``segment``), a date, an e-mail
per row and a low-cardinality ``codename`` whose values are secret: analysts see ``codename``
and ``email`` redacted. ann (EMEA) and raj (APAC) read it through a row filter on region; bob
holds no grant on anything. The raw frame is returned so tests can count what each may see.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest

from dap_kernel.governance.identity import Principal
from dap_kernel.session import Session, Workspace
from tests.server.conftest import api, keys  # noqa: F401  (the REST client over this workspace)

N = 600
SECRETS = ("ZEBRA-OSPREY-7731", "ZEBRA-HERON-4402", "ZEBRA-IBIS-9056")


def accounts(n: int = N, seed: int = 11) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    segment = rng.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2])
    tenure = rng.gamma(2.0, 12.0, n)
    spend = rng.normal(80, 25, n)
    logit = 1.5 - 0.08 * tenure + 0.01 * (spend - 80) + np.where(segment == "basic", 0.8, -0.4)
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pl.DataFrame(
        {
            "account_id": np.arange(1, n + 1),
            "region": rng.choice(["EMEA", "APAC"], n),
            "segment": segment,
            "tenure": np.round(tenure, 2),
            "spend": np.round(spend, 2),
            "signup": [date(2023, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 900, n)],
            "codename": rng.choice(SECRETS, n),
            "email": [f"acct{i}.secret@example.com" for i in range(n)],
            "churned": churned,
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

    def rows_of(self, region: str) -> pl.DataFrame:
        return self.frame.filter(pl.col("region") == region)


@pytest.fixture
def data(workspace: Workspace) -> Iterator[Data]:
    frame = accounts()
    workspace.catalog.create_table("main.accounts", frame, owner="tester")
    admin = workspace.admin("tester")
    admin.set_multi_user(True)
    for user, region in (("ann", "EMEA"), ("raj", "APAC"), ("bob", "EMEA")):
        admin.add_user(user, {"region": region})
    for user in ("ann", "raj"):
        admin.grant("SELECT", "main.accounts", "user", user)
        admin.grant("CREATE", "main", "user", user)
    admin.add_row_filter("main.accounts", "region = current_user_attr('region')")
    admin.set_mask("main.accounts.codename", "redact")
    admin.set_mask("main.accounts.email", "redact")
    yield Data(workspace, frame)


@pytest.fixture
def governed(data: Data) -> Workspace:
    """What the REST fixtures of tests/server serve: this workspace."""
    return data.ws


@pytest.fixture
def jp_server_config(data: Data) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"dap_server": True}},
        "DapExtension": {"dap_home": str(data.ws.settings.home), "identity": "owner"},
    }
