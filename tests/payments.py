"""A small multi-user workspace for the tests of governed copies and metadata.

``main.payments`` (owned by olga) has a row filter on ``region`` and a masked ``email``; every
value a filtered EMEA reader must never see anywhere (rows of other regions, raw e-mails, the
amounts of hidden rows) is listed in :data:`HIDDEN`, so a test can search any serialized output
for them.

* sam: EMEA, SELECT on the whole ``main`` schema (the common grant);
* raj: APAC, SELECT on ``main``;
* ann: EMEA, the built-in analyst role (SELECT everywhere);
* ada: SELECT on the ``archive`` schema only;
* bob: no grant at all;
* olga: owns ``main.payments``, no grant;
* stew: the steward role.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from dap_kernel.archive import Retention, run_archive, set_retention
from dap_kernel.governance.identity import Principal
from dap_kernel.quarantine import quarantine_frame, write_quarantine
from dap_kernel.session import Session, Workspace
from dap_kernel.settings import Settings

PAYMENTS = pl.DataFrame(
    {
        "payment_id": [1, 2, 3, 4, 5],
        "region": ["EMEA", "EMEA", "APAC", "APAC", "AMER"],
        "email": [
            "emma.stone@emea.example",
            "erik.berg@emea.example",
            "hidden.tanaka@apac.example",
            "hidden.lee@apac.example",
            "hidden.smith@amer.example",
        ],
        "amount": [10.5, 20.25, 987654.25, 876543.75, 765432.5],
        "paid_on": [
            date(2020, 1, 5),
            date(2026, 1, 5),
            date(2020, 2, 1),
            date(2026, 2, 1),
            date(2020, 3, 1),
        ],
    }
)
# What sam (EMEA, email masked) must never read anywhere: other regions, raw e-mail local parts
# (his own region's too: they are masked) and the amounts of the rows the filter hides.
HIDDEN = (
    "APAC",
    "AMER",
    "emma.stone",
    "erik.berg",
    "hidden.",
    "987654",
    "876543",
    "765432",
)
NOW = datetime(2026, 6, 1, tzinfo=UTC)  # archive_after_days=365 moves the 2020 rows


def build(home: Path) -> None:
    """Write the workspace into ``home``: table, rules, users, quarantine and archive."""
    ws = Workspace(Settings(home=home, user="tester"))
    try:
        ws.catalog.create_table(
            "main.payments", PAYMENTS, owner="olga", description="Card payments by customers."
        )
        admin = ws.admin("tester")
        admin.set_multi_user(True)
        for name, region in [
            ("sam", "EMEA"),
            ("raj", "APAC"),
            ("ann", "EMEA"),
            ("ada", "EMEA"),
            ("bob", "EMEA"),
            ("olga", "EMEA"),
            ("stew", "EMEA"),
        ]:
            admin.add_user(name, {"region": region})
        admin.grant("SELECT", "main", "user", "sam")
        admin.grant("SELECT", "main", "user", "raj")
        admin.grant("SELECT", "archive", "user", "ada")
        admin.add_member("role", "analyst", "user", "ann")
        admin.add_member("role", "steward", "user", "stew")
        admin.add_row_filter("main.payments", "region = current_user_attr('region')")
        admin.set_mask("main.payments.email", "mask_email")
        # Two rows a load could not take: their raw text, every column, all regions.
        bad = PAYMENTS.filter(pl.col("payment_id").is_in([1, 3]))
        write_quarantine(
            ws.catalog, "main.payments", quarantine_frame(bad, rule="amount", reason="too big")
        )
        tester = ws.session(Principal(name="tester", source="test"))
        set_retention(tester, "main.payments", Retention(archive_after_days=365, column="paid_on"))
        run_archive(tester, "main.payments", now=NOW)
    finally:
        ws.close()


def as_user(ws: Workspace, name: str, channel: str = "python") -> Session:
    return ws.session(Principal(name=name, source="test"), channel=channel)


def leaked(text: str) -> list[str]:
    """The hidden values that appear in ``text`` (a test wants none)."""
    return [value for value in HIDDEN if value in text]
