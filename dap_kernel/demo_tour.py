"""What turns the demo tables into a tour: quality rules with a first check, a derived table
(so lineage has something to show), the published ``sales`` dashboard and a weekly scheduled
report.

Everything goes through the governed core as the user who builds the demo (rules through
:func:`~dap_kernel.quality.set_rules`, the derived table through a governed
``CREATE TABLE … AS SELECT`` that records its lineage, the dashboard through
:func:`~dap_kernel.dashboards.store.publish`), so the tour shows what a user's own work would.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .dashboards.store import publish
from .quality.table import check, set_rules
from .scheduler.api import Schedules
from .scheduler.model import ScheduleSpec

if TYPE_CHECKING:
    from .session import Session

RULES: dict[str, list[dict[str, Any]]] = {
    "main.customers": [
        {"not_null": ["customer_id", "email"]},
        {"unique": ["customer_id"]},
        {"regex": {"column": "email", "pattern": "^[^@ ]+@[^@ ]+\\.[a-z]+$"}},
        {"accepted_values": {"column": "region", "values": ["EMEA", "AMER", "APAC"]}},
    ],
    "main.orders": [
        {"not_null": ["order_id", "customer_id", "order_ts"]},
        {"unique": ["order_id"]},
        {"foreign_key": {"column": "customer_id", "references": "main.customers.customer_id"}},
        {
            "accepted_values": {
                "column": "status",
                "values": ["delivered", "shipped", "cancelled", "returned"],
            }
        },
    ],
    "main.order_lines": [
        {"range": {"column": "quantity", "min": 1}},
        {"range": {"column": "discount", "min": 0, "max": 1}},
    ],
}

DAILY_SALES = """
CREATE OR REPLACE TABLE main.daily_sales AS
SELECT CAST(o.order_ts AS DATE) AS day, c.region, o.channel,
       count(DISTINCT o.order_id) AS orders,
       round(sum(l.quantity * l.unit_price * (1 - l.discount)), 2) AS revenue
FROM main.orders AS o
JOIN main.order_lines AS l ON l.order_id = o.order_id
JOIN main.customers AS c ON c.customer_id = o.customer_id
WHERE o.status <> 'cancelled'
GROUP BY ALL
"""

# The checkout's dashboards (an installed package has none: the tour then says so).
DASHBOARDS = Path(__file__).resolve().parents[1] / "notebooks" / "dashboards"
REPORTS = DASHBOARDS.parent / "reports"


# The tour's scheduled report: notebooks/reports/weekly_sales.ipynb as HTML and PDF every
# Monday morning, run by the service the workbench starts (`dap up`, `dap serve`); no
# recipients, so no mail.
WEEKLY_SALES = REPORTS / "weekly_sales.ipynb"


def weekly_spec(notebook: Path) -> ScheduleSpec:
    return ScheduleSpec(
        name="sales-weekly",
        notebook=json.loads(notebook.read_text(encoding="utf-8")),
        notebook_name=notebook.name,
        cron="0 7 * * MON",
        formats=("html", "pdf"),
    )


def tour(session: Session, *, progress: Callable[[str], None] | None = None) -> list[str]:
    """Add the tour's rules, derived table, dashboard and scheduled report; one line per step
    done."""
    said: list[str] = []

    def say(line: str) -> None:
        said.append(line)
        if progress:
            progress(line)

    for table, rules in RULES.items():
        set_rules(table, rules, session=session)
        report = check(table, session=session)
        failed = report.failed_rules
        said_rules = f"{table}: quality rules set, checked: {report.status}"
        say(said_rules + (f" ({', '.join(failed)})" if failed else ""))
    session.sql(DAILY_SALES)
    say("main.daily_sales: derived from orders, order_lines and customers (see dap lineage)")
    sales = DASHBOARDS / "sales.ipynb"
    if sales.is_file():
        publish(sales, name="sales", description="Revenue of the demo shop", session=session)
        say("dashboard sales published (dap dashboard serve sales)")
    else:
        say(f"no dashboard notebooks at {DASHBOARDS}: dap dashboard publish NOTEBOOK")
    if WEEKLY_SALES.is_file():
        schedules = Schedules(session)
        mine = {s.name: s for s in schedules.list()}
        weekly = mine.get("sales-weekly") or schedules.add(weekly_spec(WEEKLY_SALES))  # once
        say(
            f"scheduled report {weekly.name}: weekly sales as HTML and PDF, Mondays 07:00 UTC "
            f"(dap schedule run {weekly.id})"
        )
    return said
